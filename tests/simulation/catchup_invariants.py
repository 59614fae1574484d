"""The catch-up invariants: for the fire times that did not run when they fired, `all` ran each
one owed within its window, and `latest` the newest (and never a stale one)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.policies.catchup import slot_due

from tests.simulation.check_timing import (
    CATCHUP_SETTLE,
    Slot,
    beyond_look_back,
    first_check,
    found_missed,
    grace,
)
from tests.simulation.model import Period, SimSchedule, iso
from tests.simulation.target import Visit

if TYPE_CHECKING:
    from tests.simulation.world import World


def catchup_violations(
    world: World,
    schedule: SimSchedule,
    slots: list[tuple[Period, datetime]],
    rows: dict[Slot, dict[str, Any]],
    visits: dict[Slot, list[Visit]],
) -> list[str]:
    """catch-up did what the policy says, for the slots that did not run when they fired
    (neither ran live nor were skipped by the overlap policy)."""
    window = timedelta(seconds=schedule.window_s)
    missed: list[tuple[datetime, datetime | None, bool]] = []  # (slot, first check, owed)
    for period, slot in slots:
        key = (schedule.id, slot)
        row = rows.get(key)
        live = any(v.trigger == "schedule" for v in visits.get(key, []))
        if live or (row is not None and row["status"] == "skipped"):
            continue
        checked = first_check(world, slot)
        found = found_missed(world, schedule.id, slot)
        if found is not None and _check_down_between(world, slot + grace(), found):
            # a claim that never started, settled after an outage of the check: its window
            # counts up to that sweep, as after any outage of the check (docs/run-policies.md)
            checked = found
        owed = (
            checked is not None
            and _inside_window(slot, checked, window)
            and period.is_open_at(checked + CATCHUP_SETTLE)
            and not beyond_look_back(world, slot, checked)
        )
        missed.append((slot, checked, owed))
    # a catch-up still waiting at the end is not decided yet: its workflow is busy (the
    # "nothing waits forever" invariant judges a queue that does not move)
    queued = {
        slot
        for (schedule_id, slot), row in rows.items()
        if schedule_id == schedule.id and row["status"] == "buffered"
    }
    # catch-ups of later slots too (past the horizon): a newer one supersedes a waiting one
    queued |= {
        slot
        for (schedule_id, slot), slot_visits in visits.items()
        if schedule_id == schedule.id and any(v.trigger == "catchup" for v in slot_visits)
    }
    # a slot the product never recorded was never found (its period restarted with a new cron,
    # zone or `at` before a pass could find it: the check counts from the new fires_from)
    recorded = {(r["schedule_id"], r["scheduled_time"]) for r in world.run_log.values()}
    found = {
        slot: found_missed(world, schedule.id, slot) if (schedule.id, slot) in recorded else None
        for slot, _, _ in missed
    }
    # a catch-up queued, claimed, never started and settled past its window: queued as the
    # policy says, then only recorded missed by design (docs/how-a-fire-runs.md, step 3)
    queued |= {
        slot for slot, _, _ in missed if _catchup_claim_outlived_window(world, schedule, slot)
    }
    return _caught_up(schedule, missed, visits, queued, found)


def _catchup_claim_outlived_window(world: World, schedule: SimSchedule, slot: datetime) -> bool:
    """The slot's catch-up was claimed but never started, and the first sweep after its claim's
    lease expired came when the window, counted from the slot's due, was over: by design it is
    then only recorded missed, not run again (docs/how-a-fire-runs.md, step 3)."""
    if (schedule.id, slot) not in world.catchup_claims:
        return False
    settled = found_missed(world, schedule.id, slot)
    due = slot_due(slot, schedule.timezone, grace(), schedule.dst_policy)
    return settled is not None and settled - due > timedelta(seconds=schedule.window_s)


def _check_down_between(world: World, start: datetime, end: datetime) -> bool:
    """Whether the check had an outage (passes more than two intervals apart, as the product
    tells one) ending after `start` and by `end`."""
    passes = world.check_passes
    longest = 2 * world.check_every
    return any(
        start < later <= end and later - earlier > longest
        for earlier, later in itertools.pairwise(passes)
    )


def _inside_window(slot: datetime, checked: datetime, window: timedelta) -> bool:
    """Whether a missed slot, first findable by the check's pass at `checked`, is owed its
    catch-up: it is within the window of that pass; or, for a window shorter than the grace
    (which no slot could ever be within when found), within the window of the moment it was
    due. The tolerant minimum of both readings of "missed within the window"."""
    if slot >= checked - window:
        return True
    return window < grace() and checked - slot <= window + grace()


def _caught_up(
    schedule: SimSchedule,
    missed: list[tuple[datetime, datetime | None, bool]],
    visits: dict[Slot, list[Visit]],
    queued: set[datetime],
    found_at: dict[datetime, datetime | None],
) -> list[str]:
    found = []

    def caught(slot: datetime) -> list[Visit]:
        return [
            v for v in visits.get((schedule.id, slot), []) if v.trigger in ("catchup", "backfill")
        ]

    def caught_or_queued(slot: datetime) -> bool:
        return slot in queued or bool(caught(slot))

    if schedule.catchup == "all":
        for slot, checked, owed in missed:
            if owed and not caught_or_queued(slot):
                found.append(
                    f"[catch-up all runs every missed slot in its window] {schedule.describe()} "
                    f"slot {iso(slot)}: missed, found at {iso(checked or slot)} within the "
                    f"{schedule.window_s}s window, never run"
                )
        return found
    # latest: of the slots one pass could find, the newest owed one runs (or a newer one
    # found later does instead), and no slot runs once a newer missed one was found
    by_pass: dict[datetime | None, list[tuple[datetime, bool]]] = defaultdict(list)
    for slot, checked, owed in missed:
        by_pass[checked].append((slot, owed))
    for checked, members in by_pass.items():
        owed = [slot for slot, is_owed in members if is_owed]
        if owed and not any(slot >= owed[-1] for slot in queued) and not caught(owed[-1]):
            found.append(
                f"[catch-up latest runs the newest missed slot] {schedule.describe()} slot "
                f"{iso(owed[-1])}: missed, found at {iso(checked or owed[-1])} within the "
                f"{schedule.window_s}s window, no catch-up ran"
            )
    for slot, _, _ in missed:
        for visit in caught(slot):
            stale = [
                newer
                for newer, _, _ in missed
                if newer > slot
                and (known := found_at[newer]) is not None
                and known <= visit.started
            ]
            if stale and visit.trigger == "catchup":
                found.append(
                    f"[catch-up latest runs one slot, the newest] {schedule.describe()} slot "
                    f"{iso(slot)}: caught up at {iso(visit.started)} though the newer missed "
                    f"slot {iso(stale[-1])} was found by then"
                )
    return found
