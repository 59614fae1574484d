"""A schedule's read with its exceptions: `nextRunTimes` without the skipped occurrences and with
the moved ones at their new time, and `exceptions`, the ones still to come.

The read of one schedule (GET /api/schedules/{id}) lists them; the list's `nextRunAt` applies
them too (one query for the page's exceptions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def with_exceptions(
    fields: Mapping[str, Any], exceptions: Sequence[Mapping[str, Any]], now: datetime, count: int
) -> dict[str, Any]:
    """`fields` (view_fields of a row, its calendars' exclusions applied, with at least
    `count + len(exceptions)` next fire times) with `exceptions` (those still to come) applied
    to its next `count` fire times, and listed under `exceptions`."""
    shown = {**fields, "exceptions": list(exceptions)}
    if not exceptions or not fields["next_run_times"] or fields.get("cron") is None:
        return shown  # nothing to change, or nothing fires (paused, unschedulable, ended)
    excepted = {e["occurrence"] for e in exceptions}
    # the caller listed enough fire times that `count` are left once the excepted ones are out
    fires = fields["next_run_times"]
    moved = [e["move_to"] for e in exceptions if e["action"] == "move" and e["move_to"] > now]
    times = sorted([t for t in fires if t not in excepted] + moved)[:count]
    return {**shown, "next_run_times": times, "next_run_at": times[0] if times else None}
