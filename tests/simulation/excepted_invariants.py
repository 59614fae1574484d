"""The invariants of exceptions of one occurrence (tests.simulation.excepted says which)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler.run.exceptions import SKIPPED
from scheduler.store.runs import CALENDAR_SKIP_REASON
from scheduler.sync.moves import PREFIX, exception_id_of, move_name

from tests.simulation.check_timing import first_check
from tests.simulation.excepted import Excepted, SimException
from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.target import Visit
    from tests.simulation.world import World


def _reason_ok(row: dict[str, Any]) -> bool:
    error = row.get("error") or ""
    return row["status"] == "skipped" and (
        error.startswith(SKIPPED) or error.startswith(CALENDAR_SKIP_REASON)
    )


def exception_step_violations(world: World) -> list[str]:
    excepted: Excepted = world.excepted
    found: list[str] = []
    schedules = {s.id: s for s in world.model.schedules}
    by_slot = {
        (e.schedule_id, e.occurrence): e
        for e in excepted.exceptions.values()
        if e.removed_at is None or e.removed_at > e.occurrence
    }
    moved_onto = {(e.schedule_id, e.move_to): e for e in by_slot.values() if e.move_to}
    for visit in world.target.visits:
        onto = moved_onto.get((visit.schedule_id, visit.slot))
        if onto is not None and visit.trigger != "manual":
            found.append(
                f"[a moved occurrence runs under its original slot] "
                f"{schedules[visit.schedule_id].describe()}: ran under {iso(visit.slot)}, the "
                f"new time of occurrence {iso(onto.occurrence)} ({visit.trigger})"
            )
        exception = by_slot.get((visit.schedule_id, visit.slot))
        if exception is None or visit.trigger == "manual":
            continue
        where = f"{schedules[visit.schedule_id].describe()} slot {iso(visit.slot)}"
        found += _visit_violations(exception, visit, where)
    for row in world.rows():
        exception = by_slot.get((row["schedule_id"], row["scheduled_time"]))
        if exception is None or row["trigger"] == "manual":
            continue
        where = f"{schedules[row['schedule_id']].describe()} slot {iso(row['scheduled_time'])}"
        if exception.action == "skip" and row["status"] != "buffered" and not _reason_ok(row):
            found.append(
                f"[a skipped occurrence is recorded skipped with its reason] {where}: "
                f"{row['status']} ({row['error']}, trigger {row['trigger']})"
            )
        if row["trigger"] == "catchup":
            found.append(
                f"[an excepted occurrence is never caught up] {where}: a catch-up row "
                f"({row['status']}) for its {exception.action}"
            )
    for alert in world.alerts:
        exception = by_slot.get((alert.schedule_id, alert.slot))
        if alert.kind == "Run Missed" and exception is not None and exception.action == "skip":
            found.append(
                f"[a skipped occurrence is never reported missed] "
                f"{schedules[alert.schedule_id].describe()} slot {iso(alert.slot)}: alerted"
            )
    return (
        found
        + _orphan_violations(world)
        + _database_violations(world)
        + _eventbridge_violations(world)
    )


def _orphan_violations(world: World) -> list[str]:
    """An at() the API could not undo runs nothing: its slot runs at its own time, if at all."""
    excepted: Excepted = world.excepted
    found: list[str] = []
    for name, request in excepted.eventbridge.orphans.items():
        target = json.loads(request["Target"]["Input"])
        key = (UUID(target["scheduleId"]), datetime.fromisoformat(target["scheduledTime"]))
        if excepted.active(*key) is not None:
            continue
        for visit in world.target.visits:
            if (visit.schedule_id, visit.slot) == key and visit.started < key[1]:
                found.append(
                    f"[an at() left without its move runs nothing] {name}: slot {iso(key[1])} "
                    f"ran at {iso(visit.started)} ({visit.trigger})"
                )
    return found


def _visit_violations(exception: SimException, visit: Visit, where: str) -> list[str]:
    if exception.action == "skip":
        return [
            f"[a skipped occurrence never runs] {where}: the target ran it at "
            f"{iso(visit.started)} ({visit.trigger}), skipped since {iso(exception.added_at)}"
        ]
    assert exception.move_to is not None
    if visit.trigger == "catchup":
        return [
            f"[a moved occurrence is never caught up] {where}: caught up at "
            f"{iso(visit.started)} (moved to {iso(exception.move_to)})"
        ]
    if visit.trigger == "schedule" and visit.started < exception.move_to:
        return [
            f"[a moved occurrence never runs before its new time] {where}: ran at "
            f"{iso(visit.started)}, moved to {iso(exception.move_to)}"
        ]
    return []


def _database_violations(world: World) -> list[str]:
    """The database holds exactly the exceptions the model does (a failed add holds none)."""
    excepted: Excepted = world.excepted
    held = {r["id"] for r in world.api_db.execute("select id from schedule_exceptions")}
    expected = {e.id for e in excepted.exceptions.values() if e.removed_at is None}
    found = [
        f"[the database holds the exceptions the API answered] {exception_id}: held, never "
        "answered added (or removed)"
        for exception_id in held - expected
    ]
    found += [
        f"[the database holds the exceptions the API answered] {exception_id}: answered added, "
        "not held"
        for exception_id in expected - held
    ]
    return found


def _eventbridge_violations(world: World) -> list[str]:
    """An at() for every move still to fire; none of one that is gone, but a deleted
    schedule's (it fires into nothing and EventBridge deletes it)."""
    excepted: Excepted = world.excepted
    now = world.clock.now()
    held = {exception_id_of(s["Name"]) for s in world.eventbridge.api.iter_schedules(PREFIX)}
    deleted = {s.id for s in world.model.schedules if s.deleted_at is not None}
    found: list[str] = []
    for exception in excepted.exceptions.values():
        if exception.action != "move" or exception.schedule_id in deleted:
            continue
        assert exception.move_to is not None
        if exception.removed_at is None and exception.move_to > now and exception.id not in held:
            found.append(
                f"[EventBridge holds a move's at() until it fires] {move_name(exception.id)}: "
                f"missing at {iso(now)} (moved to {iso(exception.move_to)})"
            )
        if exception.removed_at is not None and exception.id in held:
            found.append(
                f"[a removed move's at() is gone] {move_name(exception.id)}: still held at "
                f"{iso(now)}, removed at {iso(exception.removed_at)}"
            )
    known = {e.id for e in excepted.exceptions.values()}
    # an at() the API could not undo: the pass deletes it after ORPHAN_GRACE (or it fires)
    left = {exception_id_of(name) for name in excepted.eventbridge.orphans}
    for exception_id in held - known - left:
        found.append(
            f"[no at() of a move that was never added] {move_name(exception_id or 'unknown')}: "
            f"held at {iso(now)}"
        )
    return found


def moved_final_violations(
    world: World, schedule: SimSchedule, slot: datetime, exception: SimException, horizon: datetime
) -> list[str]:
    """A move past its new time, the schedule enabled from then until a pass of the check saw
    it due: it ran (under its original slot) or was recorded missed."""
    assert exception.move_to is not None
    checked = first_check(world, exception.move_to)
    if exception.move_to > horizon or checked is None:
        return []
    if not all(
        any(p.is_open_at(t) for p in schedule.periods) for t in (exception.move_to, checked)
    ):
        return []
    row = next(
        (
            r
            for r in world.run_log.values()
            if (r["schedule_id"], r["scheduled_time"]) == (schedule.id, slot)
        ),
        None,
    )
    if row is not None:
        return []
    return [
        f"[a moved occurrence runs or is reported missed] {schedule.describe()} slot {iso(slot)}: "
        f"moved to {iso(exception.move_to)}, no run row though the check ran at {iso(checked)}"
    ]
