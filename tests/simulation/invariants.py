"""The invariants, judged from the target's visits, the alerts sent and the run rows.

Each violation is one line: `[invariant] schedule ... slot ...: what happened`. The cheap ones
hold at every step; the final ones after a recovery period in which every fault has ended.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler.store.runs import ABANDONED_RUN_ERROR

from tests.simulation.bulk import bulk_violations, claims_while_paused
from tests.simulation.calendars import calendar_step_violations
from tests.simulation.catchup_invariants import catchup_violations
from tests.simulation.check_timing import CATCHUP_SETTLE, Slot, beyond_look_back, first_check
from tests.simulation.excepted_invariants import (
    exception_step_violations,
    moved_final_violations,
)
from tests.simulation.failure_invariants import failure_violations
from tests.simulation.input_invariants import input_violations
from tests.simulation.model import Period, SimSchedule, iso
from tests.simulation.once import once_eventbridge_violations, once_step_violations
from tests.simulation.request_invariants import request_violations
from tests.simulation.target import Visit

if TYPE_CHECKING:
    from tests.simulation.world import World

# A workflow with runs waiting and none of its runs in this long is stuck (longer than a lease,
# the check's period and a waiting run's patience together).
STUCK_AFTER = timedelta(minutes=45)


def _who(world: World, schedule_id: UUID) -> str:
    for schedule in world.model.schedules:
        if schedule.id == schedule_id:
            return schedule.describe()
    return f"[{schedule_id}]"


def step_violations(world: World) -> list[str]:
    """What must hold after every step of the sequence."""
    found: list[str] = []
    visits = world.target.visits
    ran = Counter((v.schedule_id, v.slot) for v in visits)
    for (schedule_id, slot), times in ran.items():
        if times > 1:
            found.append(
                f"[no slot runs twice] {_who(world, schedule_id)} slot {iso(slot)}: the target "
                f"ran it {times} times (triggers {_triggers(visits, schedule_id, slot)})"
            )
    found += _overlaps(world, visits)
    first_visit = {}
    for v in visits:
        first_visit.setdefault((v.schedule_id, v.slot), v.started)
    for row in world.rows():
        slot = (row["schedule_id"], row["scheduled_time"])
        if row["status"] == "buffered" and not row["enabled"]:
            found.append(
                f"[no waiting run of a disabled schedule] {_who(world, slot[0])} slot "
                f"{iso(slot[1])}: row buffered (trigger {row['trigger']}) while the schedule "
                "is disabled"
            )
        if row["status"] == "missed" and slot in first_visit:
            found.append(
                f"[a slot that ran is never missed] {_who(world, slot[0])} slot "
                f"{iso(slot[1])}: recorded missed ({row['error']}) though the target ran it "
                f"at {iso(first_visit[slot])}"
            )
    alerts = Counter((a.kind, a.schedule_id, a.slot) for a in world.alerts)
    for (kind, schedule_id, slot), times in alerts.items():
        if times > 1:
            found.append(
                f"[each alert once] {_who(world, schedule_id)} slot {iso(slot)}: "
                f"{times} '{kind}' alerts"
            )
    for alert in world.alerts:
        started = first_visit.get((alert.schedule_id, alert.slot))
        if alert.kind == "Run Missed" and started is not None and started < alert.at:
            found.append(
                f"[no false Run Missed alert] {_who(world, alert.schedule_id)} slot "
                f"{iso(alert.slot)}: alerted missed at {iso(alert.at)} though the target ran "
                f"it at {iso(started)}"
            )
    found += [f"[the runner raises only to be retried] {u}" for u in world.lam.unexpected]
    # issue #25's states: what runs received, pauses after failures, Idempotency-Keys
    found += input_violations(world) + failure_violations(world) + request_violations(world)
    pending = world.bulk.pending()
    found += once_step_violations(world) + once_eventbridge_violations(world, pending)
    found += bulk_violations(world, pending) + claims_while_paused(world)
    found += exception_step_violations(world) + calendar_step_violations(world)
    return found


def _triggers(visits: list[Visit], schedule_id: UUID, slot: datetime) -> str:
    return ", ".join(
        f"{v.trigger}@{iso(v.started)}"
        for v in visits
        if (v.schedule_id, v.slot) == (schedule_id, slot)
    )


def _overlaps(world: World, visits: list[Visit]) -> list[str]:
    found = []
    by_workflow: dict[UUID, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_workflow[visit.workflow_id].append(visit)
    for workflow_visits in by_workflow.values():
        ordered = sorted(workflow_visits, key=lambda v: v.started)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.ended is None or later.started < earlier.ended:
                found.append(
                    f"[no two runs of a workflow overlap] {_who(world, later.schedule_id)}: "
                    f"slot {iso(later.slot)} ({later.trigger}) started at "
                    f"{iso(later.started)} while slot {iso(earlier.slot)} ({earlier.trigger}) "
                    f"ran from {iso(earlier.started)}"
                )
    return found


def final_violations(world: World, horizon: datetime) -> list[str]:
    """After recovery: every fire time up to `horizon` ended right, and catch-up held."""
    rows = {(r["schedule_id"], r["scheduled_time"]): r for r in world.rows()}
    visits: dict[Slot, list[Visit]] = defaultdict(list)
    for visit in world.target.visits:
        visits[(visit.schedule_id, visit.slot)].append(visit)
    alerts = Counter((a.kind, a.schedule_id, a.slot) for a in world.alerts)
    found: list[str] = bulk_violations(world, world.bulk.pending(), final=True)
    # a queue that is being worked through is not stuck: its workflow ran lately
    working = {
        v.workflow_id
        for v in world.target.visits
        if v.ended is None or v.ended >= world.clock.now() - STUCK_AFTER
    }
    for row in rows.values():
        if row["status"] in ("running", "buffered") and row["workflow_id"] not in working:
            found.append(
                f"[nothing waits forever] {_who(world, row['schedule_id'])} slot "
                f"{iso(row['scheduled_time'])}: still {row['status']} (trigger "
                f"{row['trigger']}) after the recovery"
            )
    for schedule in world.model.live():
        slots = [
            (period, slot)
            for period, slot in schedule.slots(horizon)
            if world.retention_floor is None or slot >= world.retention_floor
        ]
        # exceptions and calendars on top of the fire times: excepted.py and calendars.py
        slots, found_there = _ordinary(world, schedule, slots, horizon)
        found += found_there
        for period, slot in slots:
            found += _terminal(world, schedule, period, slot, rows, visits, alerts)
        if schedule.catchup != "skip":
            found += catchup_violations(world, schedule, slots, rows, visits)
    return found


def _ordinary(
    world: World, schedule: SimSchedule, slots: list[tuple[Period, datetime]], horizon: datetime
) -> tuple[list[tuple[Period, datetime]], list[str]]:
    """The slots no exception and no calendar touches (judged here as any fire time), and the
    violations of the moved ones (the skipped and excluded ones: their step invariants)."""
    ordinary, found = [], []
    for period, slot in slots:
        exception = world.excepted.active(schedule.id, slot)
        if exception is not None and exception.move_to is not None:
            found += moved_final_violations(world, schedule, slot, exception, horizon)
        if exception is not None:
            continue
        if world.calendars.touched(schedule.id) and world.calendars.judged(
            schedule.id, slot, slot
        ) != {False}:
            continue
        ordinary.append((period, slot))
    return ordinary, found


def _terminal(
    world: World,
    schedule: SimSchedule,
    period: Period,
    slot: datetime,
    rows: dict[Slot, dict[str, Any]],
    visits: dict[Slot, list[Visit]],
    alerts: Counter[tuple[str, UUID, datetime]],
) -> list[str]:
    key = (schedule.id, slot)
    row, ran = rows.get(key), visits.get(key, [])
    where = f"{schedule.describe()} slot {iso(slot)}"
    if row is None:
        checked = first_check(world, slot)
        if ran:
            return [f"[every fire time ends in one state] {where}: ran, but has no run row"]
        # A backlog of more than one pass takes the check several passes: the schedule must
        # stay enabled meanwhile (one paused first is never checked again: see the report).
        if (
            checked is not None
            and period.is_open_at(checked + CATCHUP_SETTLE)
            and not beyond_look_back(world, slot, checked)
        ):
            return [
                f"[every fire time ends in one state] {where}: no run row, though the check "
                f"ran at {iso(checked)} and the schedule stayed enabled"
            ]
        return []
    status, error = row["status"], row["error"] or ""
    if status == "failed" and error.startswith(ABANDONED_RUN_ERROR) and row["fence"] is None:
        return [
            f"[a fire that never started is missed] {where}: failed '{error}' though its "
            "claim never started (the target never ran it); expected missed with its cause, "
            "a Run Missed alert and the catch-up policy"
        ]
    if status == "succeeded" and not ran:
        return [f"[every fire time ends in one state] {where}: succeeded, the target never ran it"]
    if status == "missed" and alerts[("Run Missed", schedule.id, slot)] != 1:
        return [
            f"[each miss alerted once] {where}: missed, "
            f"{alerts[('Run Missed', schedule.id, slot)]} Run Missed alerts"
        ]
    failures_alerted = alerts[("Run Failed", schedule.id, slot)]
    if (
        status == "failed"
        and not error.startswith(ABANDONED_RUN_ERROR)
        and failures_alerted != 1
        and not world.alerts_lost_by_death(row)
    ):
        return [
            f"[each failure alerted once] {where}: failed ({error}), "
            f"{failures_alerted} Run Failed alerts"
        ]
    return []
