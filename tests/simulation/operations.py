"""The operations of a sequence applied to a World: each one as a client or an operator does
it, or a fault as it strikes (see sequences.py for their shapes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from scheduler.errors import DomainError

from tests.simulation.faults import DEPENDENCIES
from tests.simulation.model import SimSchedule
from tests.simulation.once import at_in
from tests.simulation.sequences import Op
from tests.simulation.world import World

MAX_SCHEDULES = 5
# Crons too frequent for days of runs in a cheap step (check_down_for_days shortens then).
FREQUENT = ("* * * * *", "*/5 * * * *")


def _pick(world: World, op: Op) -> SimSchedule | None:
    live = world.model.live()
    return live[op["schedule"] % len(live)] if live else None


def apply(world: World, op: Op) -> None:
    """One operation; one the product refuses (a 4xx: disabled, rate-limited) changes nothing."""
    world.sync_runner_pauses()
    with contextlib.suppress(DomainError):
        _APPLY[op["op"]](world, op)


def _create(world: World, op: Op) -> None:
    if len(world.model.live()) < MAX_SCHEDULES:
        world.create(op)


def _set_enabled(enabled: bool) -> Callable[[World, Op], None]:
    def apply(world: World, op: Op) -> None:
        schedule = _pick(world, op)
        if schedule is not None and schedule.enabled != enabled:
            world.update(schedule, {"enabled": enabled})

    return apply


def _edit(field_name: str) -> Callable[[World, Op], None]:
    def apply(world: World, op: Op) -> None:
        schedule = _pick(world, op)
        if schedule is not None:
            world.update(schedule, {field_name: op[field_name]})

    return apply


def _delete(world: World, op: Op) -> None:
    schedule = _pick(world, op)
    if schedule is not None:
        world.delete(schedule)


def _run_now(world: World, op: Op) -> None:
    schedule = _pick(world, op)
    if schedule is not None and schedule.enabled:
        world.run_now(schedule, op.get("key"), op.get("lose_answer", False))


def _backfill(world: World, op: Op) -> None:
    schedule = _pick(world, op)
    if schedule is not None and schedule.enabled:
        end = world.clock.now() - timedelta(minutes=1)
        start = end - timedelta(hours=op["hours"])
        world.backfill(schedule, start, end, op.get("key"), op.get("lose_answer", False))


def _outage(world: World, op: Op) -> None:
    world.faults.outage(op["of"], world.clock.now() + timedelta(minutes=op["minutes"]))


def _everything_down(world: World, op: Op) -> None:
    """Every dependency down for hours, the clock jumping over them (a region outage)."""
    until = world.clock.now() + timedelta(hours=op["hours"])
    for dependency in DEPENDENCIES:
        world.faults.outage(dependency, until)
    world.loop.run_until(until)


def _check_down_for_days(world: World, op: Op) -> None:
    """The missed-fire check down for days while the runners work, and a retention pass
    before it comes back."""
    frequent = any(s.enabled and s.cron in FREQUENT for s in world.model.live())
    days = timedelta(hours=6) if frequent else timedelta(days=op["days"])
    world.faults.outage("check", world.clock.now() + days)
    world.loop.run_until(world.clock.now() + days - timedelta(hours=1))
    world.retention_pass()


def _one_shot(world: World, op: Op) -> None:
    world.faults.arm(op["of"], op["kind"])


def _pause_racing_a_fire(world: World, op: Op) -> None:
    """A pause that lands while a fire of the schedule is between its claim and its lease."""
    schedule = _pick(world, op)
    if schedule is None or not schedule.enabled:
        return
    key = f"workflow#{schedule.workflow_id}"

    def pause_now(pk: str) -> bool:
        if pk != key:
            return False
        try:
            if schedule.enabled and schedule.deleted_at is None:
                world.update(schedule, {"enabled": False})
        except DomainError:
            pass
        return True

    world.faults.on_lease_acquire = pause_now
    world.faults.injected += 1


def _edit_input(world: World, op: Op) -> None:
    """PATCH the input whole: the same nonce (whose input it is), the next version."""
    schedule = _pick(world, op)
    if schedule is not None:
        current = schedule.inputs[-1][1]
        new = {"nonce": current.get("nonce"), "v": current.get("v", 0) + 1, "x": op["x"]}
        world.update(schedule, {"input": new})


def _retry_keyed(world: World, op: Op) -> None:
    """A client sends an earlier keyed request again (the same key): answered as the first
    while its key lives, a new request once retention deleted it."""
    requests = world.client.requests
    if not requests:
        return
    request = requests[op["request"] % len(requests)]
    creates = request.operation == "createSchedule" and world.client.expired(request)
    if not creates or len(world.model.live()) < MAX_SCHEDULES:
        world.client.retry(request)


def _edit_at(world: World, op: Op) -> None:
    """PATCH a new future `at`: re-arms a one-time schedule, makes a recurring one one-time."""
    schedule = _pick(world, op)
    if schedule is not None:
        text, instant = at_in(world.clock.now(), op["minutes"], schedule.timezone, op["wall"])
        world.update(schedule, {"at_text": text, "at_instant": instant})


def _except(world: World, op: Op) -> None:
    """Skip or move an upcoming occurrence (tests.simulation.excepted)."""
    schedule = _pick(world, op)
    if schedule is not None:
        world.excepted.add(schedule, op)


def _exclude(world: World, op: Op) -> None:
    """PATCH a schedule's excludeCalendars (tests.simulation.calendars)."""
    schedule = _pick(world, op)
    if schedule is not None:
        world.calendars.exclude(schedule, op)


def _retention(world: World, op: Op) -> None:
    world.retention_pass()


def _advance(world: World, op: Op) -> None:
    world.loop.run_until(world.clock.now() + timedelta(minutes=op["minutes"]))


_APPLY: dict[str, Callable[[World, Op], None]] = {
    "create": _create,
    "pause": _set_enabled(False),
    "resume": _set_enabled(True),
    "delete": _delete,
    "run_now": _run_now,
    "edit_cron": _edit("cron"),
    "edit_timezone": _edit("timezone"),
    "backfill": _backfill,
    "outage": _outage,
    "everything_down": _everything_down,
    "check_down_for_days": _check_down_for_days,
    "one_shot": _one_shot,
    "pause_racing_a_fire": _pause_racing_a_fire,
    "edit_input": _edit_input,
    "retry_keyed": _retry_keyed,
    "retention": _retention,
    "edit_at": _edit_at,
    "bulk": lambda world, op: world.bulk.change(op),
    "skip": _except,
    "move": _except,
    "unexcept": lambda world, op: world.excepted.remove(op),
    "calendar": lambda world, op: world.calendars.create(op),
    "exclude": _exclude,
    "edit_calendar": lambda world, op: world.calendars.edit(op),
    "advance": _advance,
}
