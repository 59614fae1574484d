"""A schedule's fire times as its exclusion calendars leave them (issue #26): `nextRunAt` and
`nextRunTimes` without the excluded fires, and `excludedRunTimes`, the ones removed, each with
the calendar's name. Looked at within a year from now (cron.exclusions.MAX_WALK fires at most).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.cron.exclusions import Exclusion, split_fires
from scheduler.models.calendars import PREVIEW_FIRES
from scheduler.store.calendars import CalendarQueries
from scheduler.store.sql import Row

HORIZON = timedelta(days=366)
_TICK = timedelta(microseconds=1)


def exclusions_for(
    calendars: CalendarQueries, rows: Sequence[Mapping[str, Any]]
) -> dict[UUID, Exclusion]:
    """The calendars these schedule rows exclude, by id: one query for a page of them, each
    calendar's dates read once however many of the rows use it."""
    ids = [cid for row in rows for cid in row.get("exclude_calendars") or ()]
    return {cid: Exclusion.of(row) for cid, row in calendars.exclusions_of(ids).items()}


def _walk(
    row: Mapping[str, Any], now: datetime, exclusions: list[Exclusion], kept: int, removed: int
) -> tuple[list[datetime], list[tuple[datetime, str]]]:
    """split_fires over the schedule's fire times after `now`, inside its window and HORIZON."""
    start_at, end_at = row.get("start_at"), row.get("end_at")
    end = now + HORIZON if end_at is None else min(end_at, now + HORIZON)
    if row.get("run_at") is not None:
        run_at = row["run_at"]
        return split_fires(
            lambda after: run_at if after < run_at <= end else None,
            now,
            exclusions,
            kept,
            removed,
        )
    after = now if start_at is None else max(now, start_at - _TICK)
    policy = cron.DstPolicy.of(row.get("dst_policy"))  # the fire times it runs, as the runner

    def next_fire(moment: datetime) -> datetime | None:
        if moment >= end:
            return None
        fires = cron.policy_fire_times(
            row["cron"], row["timezone"], moment, 1, until=end, policy=policy
        )
        return fires[0] if fires else None

    return split_fires(next_fire, after, exclusions, kept, removed)


def excluding_calendars(
    fields: dict[str, Any],
    calendars: Mapping[UUID, Exclusion],
    now: datetime,
    fire_count: int,
    *,
    removed_count: int = 0,
) -> dict[str, Any]:
    """view_fields' `fields` with the excluded fires left out of next_run_at / next_run_times,
    and `excluded_run_times` (at most `removed_count`). Nothing to do for a schedule that
    fires no more (disabled, ended, unschedulable) or excludes no calendar."""
    ids = fields.get("exclude_calendars") or []
    exclusions = [calendars[cid] for cid in ids if cid in calendars]
    if not exclusions or not fields.get("next_run_times"):
        return {**fields, "excluded_run_times": []}
    try:
        kept, removed = _walk(fields, now, exclusions, fire_count, removed_count)
    except ValueError:  # a cron or zone no longer valid: view_fields has said so already
        return {**fields, "excluded_run_times": []}
    return {
        **fields,
        "next_run_at": kept[0] if kept else None,
        "next_run_times": kept,
        "excluded_run_times": [{"time": t, "calendar": name} for t, name in removed],
    }


def removed_by(calendar: Row, schedule: Mapping[str, Any], now: datetime) -> list[datetime]:
    """The next PREVIEW_FIRES fire times of `schedule` that `calendar` removes, within a year
    (a fire another of its calendars removes too counts: this one alone would remove it)."""
    if not schedule["enabled"]:
        return []
    try:
        _, removed = _walk(schedule, now, [Exclusion.of(calendar)], 0, PREVIEW_FIRES)
    except ValueError:
        return []
    return [t for t, _ in removed]
