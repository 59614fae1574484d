"""What a schedule write must leave: a window whose end is after its start, a time zone that may
still be written, a cron and zone that can be scheduled and fire. Each check raises InvalidInput
naming the field, and says when the value at fault is the stored one, not the request's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scheduler import cron
from scheduler.api.schedule_views import unschedulable
from scheduler.errors import InvalidInput
from scheduler.models.schedule_fields import check_window


def ensure_window(row: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """InvalidInput unless the changed row's window ends after it starts (a stored end or start
    the change leaves is named as such)."""
    if not changes.keys() & {"start_at", "end_at"}:
        return
    try:
        check_window(row["start_at"], row["end_at"])
    except ValueError as exc:
        stored = "endAt" if "end_at" not in changes else "startAt"
        which = "" if changes.keys() >= {"start_at", "end_at"} else f" (the stored {stored})"
        raise InvalidInput(f"{exc}{which}") from exc


def ensure_new_timezone_may_be_written(old: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """InvalidInput for a change to a legacy zone (EST, CET: cron.zone_names); the zone the row
    has already, resent with a change of other fields, is kept as it is."""
    zone = changes.get("timezone")
    if zone is None or zone == old["timezone"]:
        return
    try:
        cron.validate_timezone_to_write(zone)
    except ValueError as exc:  # InvalidTimezone
        raise InvalidInput(f"timezone: {exc}") from exc


def ensure_schedulable(row: Mapping[str, Any], changes: Mapping[str, Any], now: datetime) -> None:
    """InvalidInput unless the changed row can be scheduled: its cron converts, its timezone is
    known, and together they fire (not a DST-gap-only cron)."""
    problem = unschedulable(row)
    if problem is not None:
        field, exc = problem
        stored = "" if field in changes else "stored "  # only a stored value can be stale
        raise InvalidInput(
            f"{field}: the {stored}{field} {row[field]!r} can no longer be scheduled ({exc});"
            f" send a new {field} with this change"
        )
    if row.get("run_at") is not None:
        if row.get("start_at") is not None or row.get("end_at") is not None:
            field = "startAt" if row.get("start_at") is not None else "endAt"
            stored = "" if {"start_at", "end_at"} & changes.keys() else " (the stored one)"
            raise InvalidInput(
                f"{field}: a one-time schedule (at) has no window{stored}; send {field}: null"
            )
        return
    try:
        policy = cron.DstPolicy.of(row.get("dst_policy"))
        cron.policy_ensure_fires(row["cron"], row["timezone"], now, policy)
    except ValueError as exc:  # CronError
        raise InvalidInput(f"cron: {exc}") from exc


def one_time_changes(
    old: Mapping[str, Any], changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A PATCH's changes as columns: `at` becomes `run_at` (its instant, read in the new or the
    stored timezone, later than `now`) and clears `cron`; a `cron` clears `run_at`. A new `at`
    re-arms a one-time schedule that fired: a new fire time, checked and caught up from now."""
    if "at" in changes:
        text = changes.pop("at")
        try:
            run_at = cron.parse_at(text, changes.get("timezone") or old["timezone"])
            cron.ensure_future(run_at, now)
        except ValueError as exc:  # AtError, InvalidTimezone
            raise InvalidInput(str(exc)) from exc
        changes.update(run_at=run_at, cron=None)
    elif changes.get("cron") is not None and old.get("run_at") is not None:
        changes["run_at"] = None
    return changes
