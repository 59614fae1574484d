"""A schedule's catchupPolicy applied to fire times that did not run (its missed slots).

Shared by the missed-fire check (slots nobody delivered: scheduler.missed_fires) and the sweep
of abandoned claims (slots a runner claimed and never started: scheduler.abandoned_runs), so a
slot is treated alike whichever way it was missed:
- skip: the slot is recorded `missed`;
- latest: the most recent slot within catchupWindowSeconds waits to run (`buffered`, trigger
  `catchup`), the others are `missed`;
- all: every slot within the window waits to run, oldest first, one at a time.
A slot older than the window is only recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from scheduler.fire_check_store import MissedRow

SUPERSEDED = "a later missed fire time was caught up instead (catchupPolicy latest)"


def policy_rows(
    schedule: Mapping[str, Any], missing: list[datetime], at: datetime, cause: str
) -> Iterable[MissedRow]:
    """The run rows of the schedule's missed slots (oldest first) under its catch-up policy;
    each row's error is `cause` and what the policy did. `schedule` holds schedule_id,
    workflow_id, catchup_policy and catchup_window_seconds."""
    policy = schedule["catchup_policy"]
    window_start = at - timedelta(seconds=schedule["catchup_window_seconds"])
    in_window = [t for t in missing if t >= window_start]
    caught_up = set(in_window[-1:] if policy == "latest" else in_window if policy == "all" else [])
    for slot in missing:
        if slot in caught_up:
            status, why = "buffered", f"{cause}; caught up (catchupPolicy {policy})"
        elif policy != "skip" and slot < window_start:
            status, why = "missed", f"{cause}; older than the catch-up window: not run"
        elif policy == "latest":
            status, why = "missed", f"{cause}; {SUPERSEDED}"
        else:
            status, why = "missed", cause
        yield MissedRow(schedule["schedule_id"], schedule["workflow_id"], slot, status, why)
