"""A schedule's catchupPolicy applied to fire times that did not run (its missed slots).

Shared by the missed-fire check (slots nobody delivered: scheduler.policies.missed_fires) and the
sweep of abandoned claims (slots a runner claimed and never started:
scheduler.policies.abandoned_runs), so a slot is treated alike whichever way it was missed:
- skip: the slot is recorded `missed`;
- latest: the most recent slot within catchupWindowSeconds waits to run (`buffered`, trigger
  `catchup`), the others are `missed`;
- all: every slot within the window waits to run, oldest first, one at a time.
A slot outside the window is only recorded, and so is every slot of a schedule paused since.
A slot's window counts from its due (slot_due); when it was found missed is the caller's to
say (the check: scheduler.policies.missed_fires; the sweep of claims:
scheduler.policies.abandoned_runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from scheduler import cron
from scheduler.policies.fire_times import last_occurrence
from scheduler.store.fire_checks import CheckPass, MissedRow

SUPERSEDED = "a later missed fire time was caught up instead (catchupPolicy latest)"
PAUSED = "not run: its schedule was disabled since"
# Passes of the check further apart than this many of its intervals: it was down between them
# (slack for a late start; the first pass after it is when the slots due meanwhile were found).
OUTAGE_INTERVALS = 2


def up_since(last: CheckPass | None, at: datetime, interval: timedelta) -> datetime:
    """The first pass after the check's latest outage: this one (at `at`), unless the previous
    pass (the heartbeat, `last`) came at most OUTAGE_INTERVALS intervals before it."""
    if (
        last is None
        or not last.last_pass_at <= at <= last.last_pass_at + OUTAGE_INTERVALS * interval
    ):
        return at  # the first pass ever, after an outage, or a clock gone back: found now
    return last.up_since


def slot_due(
    slot: datetime,
    timezone: str,
    wait: timedelta,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> datetime:
    """When a slot could first be found missed: its last occurrence under the schedule's DST
    policy (under fallBack first a repeated autumn wall time may be delivered at either
    instant) plus `wait` (the missed-fire grace and the schedule's flexible window). The one
    measure of a slot's catch-up window."""
    return last_occurrence(slot, timezone, policy) + wait


def in_window(due: datetime, up_since: datetime, found: datetime, window_s: int) -> bool:
    """Whether a slot that could be found missed from `due` on, and was found at `found`, is
    inside a catch-up window of `window_s` seconds. A slot due while the check was up (after
    `up_since`) was found as soon as the check could: inside any window. One due during the
    check's outage counts the window up to when it was found."""
    return due > up_since or found - due <= timedelta(seconds=window_s)


def policy_rows(
    schedule: Mapping[str, Any],
    missing: list[datetime],
    cause: str,
    *,
    in_window: Callable[[datetime], bool],
    complete: bool = True,
    paused: bool = False,
) -> Iterable[MissedRow]:
    """The run rows of the schedule's missed slots (oldest first) under its catch-up policy;
    each row's error is `cause` and what the policy did. `schedule` holds schedule_id,
    workflow_id and catchup_policy. `complete`: no missed slot is newer than these (under
    `latest`, an older one is no outage's latest, so none is queued before). `paused`: the
    schedule was disabled since, so the slots are only recorded."""
    policy = schedule["catchup_policy"]
    windowed = [t for t in missing if in_window(t)]
    caught_up: set[datetime] = set()
    if paused:
        pass
    elif policy == "all":
        caught_up = set(windowed)
    elif policy == "latest" and complete:
        caught_up = set(windowed[-1:])
    for slot in missing:
        if slot in caught_up:
            status, why = "buffered", f"{cause}; caught up (catchupPolicy {policy})"
        elif paused:
            status, why = "missed", f"{cause}; {PAUSED}"
        elif policy != "skip" and slot not in windowed:
            status, why = "missed", f"{cause}; older than the catch-up window: not run"
        elif policy == "latest":
            status, why = "missed", f"{cause}; {SUPERSEDED}"
        else:
            status, why = "missed", cause
        yield MissedRow(schedule["schedule_id"], schedule["workflow_id"], slot, status, why)
