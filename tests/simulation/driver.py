"""Seeded random sequences of operations against a World, with the invariants after each step.

A sequence is a list of plain dicts (`{"op": "pause", "schedule": 1}`), so a failing seed prints
a repro that reads as what happened, and `run_sequence` replays it. The same seed always builds
the same sequence; the product's own randomness (retry jitter, tokens, row ids) is seeded or
does not decide what happens, so a seed replays the same way as far as the invariants see.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from tests.simulation.invariants import final_violations, step_violations
from tests.simulation.model import SimSchedule
from tests.simulation.operations import apply
from tests.simulation.sequences import CHECK_MINUTES, Op, sequence, theme_of
from tests.simulation.world import World

# Where a seed's clock starts: today, just before the US spring change, the EU autumn one.
STARTS = [
    None,
    datetime(2027, 3, 13, 20, 0, 17, tzinfo=UTC),
    datetime(2027, 10, 30, 20, 0, 17, tzinfo=UTC),
]
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


# A seed's clock starts here when STARTS says None (fixed, so a seed replays the same way).
DEFAULT_START = datetime(2026, 12, 1, 8, 0, 17, tzinfo=UTC)
# every table a seed writes (schedule_exceptions with its schedules; calendars, whose names a
# next seed would reuse; the check's heartbeat too: a pass left by another seed, at another
# virtual time, would make the next seed's check take an outage for none, or none for one)
_TABLES = (
    "workflows, schedules, schedule_runs, owner_rate_buckets, api_keys, missed_fire_check_passes,"
    " calendars"
)


def run_seed(database_url: str, seed: int, length: int = 16) -> SeedResult:
    return run_sequence(database_url, seed, sequence(seed, length))


def run_sequence(
    database_url: str,
    seed: int,
    ops: list[Op],
    inspect: Callable[[World], None] | None = None,
) -> SeedResult:
    """Apply `ops` one by one (each followed by a few virtual minutes), checking the step
    invariants after each; then end every fault, recover, and check the final ones. `inspect`
    looks at the world at the end, before its tables are emptied."""
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
                apply(world, op)
                gap = world.rng.choice([0, 1, 3, 10])
                world.loop.run_until(
                    _on_the_17th_second(world.clock.now() + timedelta(minutes=gap))
                )
                world.sync_runner_pauses()
                for found in step_violations(world):
                    violations.setdefault(f"{found} (seen after step {index})")
            world.faults.clear()
            world.loop.run_until(world.clock.now() + RECOVERY)
            horizon = world.clock.now() - SETTLED
            world.sync_runner_pauses()
            for found in step_violations(world) + final_violations(world, horizon):
                violations.setdefault(f"{found} (seen at the end)")
            result = SeedResult(seed, ops, _first_seen(violations))
            result.schedule_days = _schedule_days(world.model.schedules, world.clock.now())
            result.faults = world.faults.injected + world.eventbridge.stats["dropped"]
            result.faults += world.eventbridge.stats["late"] + world.eventbridge.stats["duplicate"]
            result.counts = dict(world.counts())
            if inspect is not None:
                inspect(world)
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
