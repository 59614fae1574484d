"""A schedule's read with its exceptions: `nextRunTimes` without the skipped occurrences and with
the moved ones at their new time, and `exceptions`, the ones still to come.

The read of one schedule (GET /api/schedules/{id}) lists them; the list's `nextRunAt` applies
them too (one query for the page's exceptions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.cron.exclusions import Exclusion, excluded_by


def with_exceptions(
    fields: Mapping[str, Any],
    exceptions: Sequence[Mapping[str, Any]],
    now: datetime,
    count: int,
    calendars: Mapping[UUID, Exclusion],
) -> dict[str, Any]:
    """`fields` (view_fields of a row, its calendars' exclusions applied, with at least
    `count + len(exceptions)` next fire times) with `exceptions` (those still to come) applied
    to its next `count` fire times, and listed under `exceptions`. A move adds its new time
    only while the runner would run it then (_runs_moved)."""
    shown = {**fields, "exceptions": list(exceptions)}
    if not exceptions or not fields["next_run_times"] or fields.get("cron") is None:
        return shown  # nothing to change, or nothing fires (paused, unschedulable, ended)
    excepted = {e["occurrence"] for e in exceptions}
    # the caller listed enough fire times that `count` are left once the excepted ones are out
    fires = fields["next_run_times"]
    exclusions = [calendars[c] for c in fields.get("exclude_calendars") or () if c in calendars]
    moved = [
        e["move_to"]
        for e in exceptions
        if e["action"] == "move" and e["move_to"] > now and _runs_moved(fields, e, exclusions)
    ]
    times = sorted([t for t in fires if t not in excepted] + moved)[:count]
    return {**shown, "next_run_times": times, "next_run_at": times[0] if times else None}


def _runs_moved(
    row: Mapping[str, Any], move: Mapping[str, Any], exclusions: Sequence[Exclusion]
) -> bool:
    """Whether the runner runs a move's occurrence at its new time: the occurrence is still a
    fire time of the schedule (a change of its cron, zone, DST policy or window since can make
    it none: the at()'s delivery is then stale), and on no date its calendars exclude (the
    claim skips it by the calendar, moved or not)."""
    occurrence = move["occurrence"]
    start_at, end_at = row.get("start_at"), row.get("end_at")
    if (start_at is not None and occurrence < start_at) or (
        end_at is not None and end_at < occurrence
    ):
        return False
    try:
        policy = cron.DstPolicy.of(row.get("dst_policy"))
        slot = cron.policy_fire_slot(row["cron"], row["timezone"], occurrence, policy)
    except ValueError:
        return False
    return slot == occurrence and excluded_by(occurrence, exclusions) is None
