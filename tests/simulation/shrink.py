"""Shrink a failing sequence: drop operations while the same invariants still break.

Greedy delta debugging over the operation list (halves, then quarters, ... then single
operations), replaying each candidate from scratch with the same seed; bounded by a number of
replays, since each replay runs the whole world again. What it keeps is a shorter sequence that
still shows every invariant the original broke (the schedules it picks may differ: an operation
names a schedule by a number taken modulo the live ones).
"""

from __future__ import annotations

from tests.simulation.driver import SeedResult, run_sequence
from tests.simulation.sequences import Op, sequence

MAX_REPLAYS = 60


def invariants_broken(result: SeedResult) -> set[str]:
    return {line.split("]", 1)[0] + "]" for line in result.violations}


def shrink(database_url: str, seed: int, max_replays: int = MAX_REPLAYS) -> SeedResult:
    """The shortest sequence found that breaks the invariants seed `seed` breaks."""
    best = run_sequence(database_url, seed, sequence(seed))
    wanted = invariants_broken(best)
    if not wanted:
        return best
    replays, chunk = 0, max(len(best.ops) // 2, 1)
    while chunk >= 1 and replays < max_replays:
        start, removed = 0, False
        while start < len(best.ops) and replays < max_replays:
            candidate: list[Op] = best.ops[:start] + best.ops[start + chunk :]
            replays += 1
            result = run_sequence(database_url, seed, candidate)
            if candidate and wanted <= invariants_broken(result):
                best, removed = result, True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return best
