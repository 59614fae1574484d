"""Seeded random sequences of operations against a World, with the invariants after each step.

A sequence is a list of plain dicts (`{"op": "pause", "schedule": 1}`), so a failing seed prints
a repro that reads as what happened, and `run_sequence` replays it. The same seed always builds
the same sequence; the product's own randomness (retry jitter, tokens, row ids) is seeded or
does not decide what happens, so a seed replays the same way as far as the invariants see.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws
from scheduler.errors import DomainError

from tests.simulation.faults import DEPENDENCIES, ONE_SHOTS
from tests.simulation.invariants import final_violations, step_violations
from tests.simulation.model import SimSchedule
from tests.simulation.world import World

Op = dict[str, Any]
CRONS = {"* * * * *": 1, "*/5 * * * *": 2, "*/15 * * * *": 3, "0 * * * *": 4, "30 1 * * *": 1}
TIMEZONES = ["UTC", "America/New_York", "Europe/London"]
WINDOWS_S = [60, 600, 3600, 86400]
DURATIONS_S = [0, 20, 90, 240]
# Where a seed's clock starts: today, just before the US spring change, the EU autumn one.
STARTS = [
    None,
    datetime(2027, 3, 13, 20, 0, 17, tzinfo=UTC),
    datetime(2027, 10, 30, 20, 0, 17, tzinfo=UTC),
]
MAX_SCHEDULES = 5
# How often the missed-fire check runs (ReconcileSchedule: rate(15 minutes) by default, a
# deploy parameter; the local stack runs it every minute).
CHECK_MINUTES = [5, 15]
# After the sequence every fault ends and the clock runs on this long; fire times up to
# SETTLED before its end must have ended in their final state by then.
RECOVERY = timedelta(hours=1, minutes=30)
SETTLED = timedelta(hours=1)


@dataclass
class SeedResult:
    seed: int
    ops: list[Op]
    violations: list[str]
    schedule_days: float = 0.0
    faults: int = 0
    wall_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def repro(self, per_kind: int = 3) -> str:
        steps = "\n".join(f"  {i:2}: {op}" for i, op in enumerate(self.ops))
        found = "\n".join(f"  - {v}" for v in _first_of_each(self.violations, per_kind))
        return (
            f"simulation seed {self.seed}: {len(self.violations)} violation(s)\n{found}\n"
            f"sequence (replay: SIM_SEED={self.seed}):\n{steps}"
        )


def _first_of_each(violations: list[str], per_kind: int) -> list[str]:
    """The first few violations of each invariant and schedule, and how many more there are."""
    shown: dict[str, list[str]] = {}
    for line in violations:
        invariant, _, rest = line.partition("] ")
        kind = f"{invariant}] {rest.split(' ', 1)[0]}"  # the invariant and the schedule
        shown.setdefault(kind, []).append(line)
    lines = []
    for kind, found in shown.items():
        lines += found[:per_kind]
        if len(found) > per_kind:
            lines.append(f"... and {len(found) - per_kind} more of {kind}")
    return lines


# Each seed leans towards one kind of trouble (seed % len(THEMES)): weights of its operations
# and crons over the defaults. Sequences of any theme can hold every operation.
THEMES: list[dict[str, Any]] = [
    {"name": "mixed"},
    {
        "name": "long outages",
        "ops": {"everything_down": 5, "advance": 2},
        "crons": {"* * * * *": 5},
        "windows": [3600, 86400],
        "catchups": ["latest", "all"],
        "outage_hours": [9, 12, 30],
    },
    {
        "name": "retention while the check is down",
        "ops": {"check_down_for_days": 5, "retention": 3},
        "crons": {"* * * * *": 0, "*/5 * * * *": 0},
    },
    {
        "name": "pauses racing fires",
        "ops": {"pause_racing_a_fire": 8, "resume": 6},
        "crons": {"* * * * *": 4},
        "overlap": "buffer_one",
    },
    {
        "name": "dependency faults",
        "ops": {"outage": 12, "one_shot": 12},
        "windows": [60],
        "check_minutes": [1],
    },
]


def theme_of(seed: int) -> dict[str, Any]:
    return THEMES[seed % len(THEMES)]


def sequence(seed: int, length: int = 16) -> list[Op]:
    """The operations of one seed: random, but the same for the same seed."""
    rng = random.Random(seed * 7919 + 1)
    theme = theme_of(seed)
    ops: list[Op] = [_create_op(rng, theme) for _ in range(rng.randint(1, 3))]
    for _ in range(length):
        ops.append(_random_op(rng, theme))
    return ops


def _create_op(rng: random.Random, theme: dict[str, Any]) -> Op:
    crons = {**CRONS, **theme.get("crons", {})}
    return {
        "op": "create",
        "cron": rng.choices(list(crons), weights=list(crons.values()))[0],
        "timezone": rng.choice(TIMEZONES),
        "catchup": rng.choice(theme.get("catchups", ["skip", "latest", "all"])),
        "window": rng.choice(theme.get("windows", WINDOWS_S)),
        "overlap": theme.get("overlap") or rng.choice(["skip", "buffer_one"]),
        "duration_s": rng.choice(DURATIONS_S),
        "fail_percent": rng.choice([0, 0, 10]),
    }


def _random_op(rng: random.Random, theme: dict[str, Any]) -> Op:
    weights = {**_WEIGHTS, **theme.get("ops", {})}
    which = rng.choices(list(weights), weights=list(weights.values()))[0]
    pick = rng.randrange(1000)  # which schedule: modulo the live ones when applied
    if which == "create":
        return _create_op(rng, theme)
    if which in ("pause", "resume", "delete", "run_now", "pause_racing_a_fire"):
        return {"op": which, "schedule": pick}
    if which == "edit_cron":
        return {"op": which, "schedule": pick, "cron": rng.choice(list(CRONS))}
    if which == "edit_timezone":
        return {"op": which, "schedule": pick, "timezone": rng.choice(TIMEZONES)}
    if which == "backfill":
        return {"op": which, "schedule": pick, "hours": rng.choice([1, 6, 24])}
    if which == "outage":
        return {
            "op": which,
            "of": rng.choice(DEPENDENCIES),
            "minutes": rng.choice([2, 4, 10, 30, 90]),
        }
    if which == "everything_down":
        return {"op": which, "hours": rng.choice(theme.get("outage_hours", [3, 9, 12, 30]))}
    if which == "check_down_for_days":
        return {"op": which, "days": rng.choice([2, 3, 5]), "keep_days": rng.randint(2, 6)}
    if which == "one_shot":
        return {
            "op": which,
            "of": rng.choice(["database", "dynamodb", "target"]),
            "kind": rng.choice(ONE_SHOTS),
        }
    if which == "retention":
        return {"op": which, "keep_days": rng.randint(2, 6)}
    return {"op": "advance", "minutes": rng.choice([1, 5, 20, 60, 120])}


_WEIGHTS = {
    "create": 2,
    "pause": 3,
    "resume": 3,
    "delete": 1,
    "run_now": 2,
    "edit_cron": 2,
    "edit_timezone": 1,
    "backfill": 2,
    "outage": 6,
    "everything_down": 1,
    "check_down_for_days": 1,
    "one_shot": 6,
    "pause_racing_a_fire": 2,
    "retention": 1,
    "advance": 6,
}


# A seed's clock starts here when STARTS says None (fixed, so a seed replays the same way).
DEFAULT_START = datetime(2026, 12, 1, 8, 0, 17, tzinfo=UTC)
# Crons too frequent for days of runs in a cheap step (check_down_for_days shortens then).
FREQUENT = ("* * * * *", "*/5 * * * *")
# every table a seed writes (the check's heartbeat too: a pass left by another seed, at another
# virtual time, would make the next seed's check take an outage for none, or none for one)
_TABLES = (
    "workflows, schedules, schedule_runs, owner_rate_buckets, api_keys, missed_fire_check_passes"
)


def run_seed(database_url: str, seed: int, length: int = 16) -> SeedResult:
    return run_sequence(database_url, seed, sequence(seed, length))


def run_sequence(database_url: str, seed: int, ops: list[Op]) -> SeedResult:
    """Apply `ops` one by one (each followed by a few virtual minutes), checking the step
    invariants after each; then end every fault, recover, and check the final ones."""
    wall = time.monotonic()
    start = STARTS[seed % len(STARTS)] or DEFAULT_START
    violations: dict[str, None] = {}
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        minutes = random.Random(seed).choice(theme_of(seed).get("check_minutes", CHECK_MINUTES))
        # RunHistoryDays of this deployment: the first retention operation's (else 90 days)
        history_days = next((op["keep_days"] for op in ops if "keep_days" in op), 90)
        world = World(
            database_url,
            seed,
            start,
            monkeypatch,
            check_every=timedelta(minutes=minutes),
            run_history_days=history_days,
        )
        try:
            for index, op in enumerate(ops):
                _apply(world, op)
                gap = world.rng.choice([0, 1, 3, 10])
                world.loop.run_until(
                    _on_the_17th_second(world.clock.now() + timedelta(minutes=gap))
                )
                for found in step_violations(world):
                    violations.setdefault(f"{found} (seen after step {index})")
            world.faults.clear()
            world.loop.run_until(world.clock.now() + RECOVERY)
            horizon = world.clock.now() - SETTLED
            for found in step_violations(world) + final_violations(world, horizon):
                violations.setdefault(f"{found} (seen at the end)")
            result = SeedResult(seed, ops, _first_seen(violations))
            result.schedule_days = _schedule_days(world.model.schedules, world.clock.now())
            result.faults = world.faults.injected + world.eventbridge.stats["dropped"]
            result.faults += world.eventbridge.stats["late"] + world.eventbridge.stats["duplicate"]
            result.counts = dict(world.counts())
        finally:
            world.close()
            world.api_db.execute(f"truncate {_TABLES} cascade")
    result.wall_s = time.monotonic() - wall
    return result


def _first_seen(violations: dict[str, None]) -> list[str]:
    """One line per violation: the same one seen after several steps is reported once."""
    seen: dict[str, str] = {}
    for line in violations:
        seen.setdefault(line.rsplit(" (seen ", 1)[0], line)
    return list(seen.values())


def _on_the_17th_second(moment: datetime) -> datetime:
    """Operations happen at hh:mm:17, never on a fire time (a boundary neither side owns)."""
    at = moment.replace(second=17, microsecond=0)
    return at if at >= moment else at + timedelta(minutes=1)


def _schedule_days(schedules: list[SimSchedule], end: datetime) -> float:
    seconds = sum(((p.end or end) - p.start).total_seconds() for s in schedules for p in s.periods)
    return seconds / 86400


def _pick(world: World, op: Op) -> SimSchedule | None:
    live = world.model.live()
    return live[op["schedule"] % len(live)] if live else None


def _apply(world: World, op: Op) -> None:
    """One operation; one the product refuses (a 4xx: disabled, rate-limited) changes nothing."""
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
        world.run_now(schedule)


def _backfill(world: World, op: Op) -> None:
    schedule = _pick(world, op)
    if schedule is not None and schedule.enabled:
        end = world.clock.now() - timedelta(minutes=1)
        world.backfill(schedule, end - timedelta(hours=op["hours"]), end)


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
    "retention": _retention,
    "advance": _advance,
}
