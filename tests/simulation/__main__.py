"""`make soak`: many seeds of the simulation, one summary line at the end.

    python -m tests.simulation [SEEDS] [FIRST]     (or SIM_SEEDS / SIM_FIRST_SEED)
    python -m tests.simulation shrink SEED         (the shortest sequence that still fails)

Starts its own embedded PostgreSQL behind a PgBouncer (as the tests do), or uses DATABASE_URL
(a disposable database: every seed empties the tables). Prints each failing seed's repro, then
`simulation: N seeds, D schedule-days, F faults, V violations`; exits 1 on any violation.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter

from scheduler.store.migrate import apply_migrations

from tests.conftest import MIGRATIONS
from tests.pgbouncer import PgBouncer
from tests.simulation.driver import run_seed
from tests.simulation.shrink import shrink

# The states a soak reports having reached (the counts of World.counts, and how the excepted
# slots ended: "moved slots succeeded (schedule)"...), beside its summary.
REACHED = (
    "at_deleted",
    "bulk paused",
    "exceptions skip",
    "exceptions move",
    "exception adds failed",
    "exceptions removed",
    "moves repaired",
    "skipped by calendar",
    "calendars created",
    "calendars edited",
    "schedules excluding",
)


def _shrink(seed: int) -> int:
    url, owned = _database()
    apply_migrations(url, MIGRATIONS)
    try:
        started = time.monotonic()
        result = shrink(url, seed)
    finally:
        for thing in owned:
            thing.cleanup()  # type: ignore[attr-defined]
    print(result.repro(), flush=True)
    print(f"shrunk to {len(result.ops)} operations in {time.monotonic() - started:.0f} s")
    return 1 if result.violations else 0


def _database() -> tuple[str, list[object]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, []
    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix="simulation-pg-"), cleanup_mode="delete")
    bouncer = PgBouncer(server.get_uri()).start()
    return bouncer.url(), [bouncer, server]


def main(argv: list[str]) -> int:
    if argv[:1] == ["shrink"]:
        return _shrink(int(argv[1]))
    seeds = int(argv[0] if argv else os.environ.get("SIM_SEEDS", "100"))
    first = int(argv[1] if len(argv) > 1 else os.environ.get("SIM_FIRST_SEED", "0"))
    url, owned = _database()
    os.environ["DATABASE_URL"] = url
    apply_migrations(url, MIGRATIONS)
    started = time.monotonic()
    days = faults = violations = 0.0
    kinds: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    try:
        for seed in range(first, first + seeds):
            result = run_seed(url, seed)
            days += result.schedule_days
            faults += result.faults
            violations += len(result.violations)
            reached.update({k: result.counts.get(k, 0) for k in REACHED})
            reached.update({k: n for k, n in result.counts.items() if k.endswith(")")})
            for line in result.violations:
                kinds[line.split("]", 1)[0] + "]"] += 1
            status = f"{len(result.violations)} violation(s)" if result.violations else "ok"
            print(f"seed {seed}: {status} ({result.wall_s:.1f} s)", flush=True)
            if result.violations:
                print(result.repro(), flush=True)
    finally:
        for thing in owned:
            thing.cleanup()  # type: ignore[attr-defined]
    for kind, count in kinds.most_common():
        print(f"  {count:5} {kind}")
    print("reached: " + ", ".join(f"{n} {k}" for k, n in reached.items()))
    print(f"wall time {time.monotonic() - started:.0f} s")
    print(
        f"simulation: {seeds} seeds, {days:,.0f} schedule-days, {faults:,.0f} faults, "
        f"{violations:,.0f} violations"
    )
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
