"""`make bench`: run every measurement, print a table against the targets, write the results.

Results go to .bench/results.json, or to the file `BENCH_RESULTS` names (the smoke's).
`python -m bench runner load` runs only those suites; `BENCH_SMOKE=1` runs them tiny.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# key -> (comparison, target); "<=" means the measured value must not exceed the target.
TARGETS: dict[str, tuple[str, float]] = {
    # each built handler's cold import against what it cannot avoid importing (bench/coldstart.py)
    "coldstart_ratio.api": ("<=", 1.3),
    "coldstart_ratio.runner": ("<=", 1.3),
    "coldstart_ratio.reconcile": ("<=", 1.3),
    "coldstart_ratio.authorizer": ("<=", 1.3),
    # unzipped, every function plus the layer; Lambda allows 250 MB (size is no goal in itself)
    "package_mb": ("<=", 60),
    "runner.dynamodb_requests": ("<=", 2),
    # claim, start, record, and the hand-on's look for a waiting run of the workflow
    "runner.sql_round_trips": ("<=", 4),
    # alerts: none for a success, one PutEvents for a failure (scheduler.run.alerts)
    "runner.put_events_per_success": ("<=", 0),
    "runner.put_events_per_failure": ("<=", 1),
    "runner.overhead_ratio": ("<=", 1.3),
    "api.create_ratio": ("<=", 1.3),
    "api.get_ratio": ("<=", 1.3),
    "api.list_ratio": ("<=", 1.3),
    "reconcile.scaling": ("<=", 11),
    "reconcile.noop_calls_per_schedule": ("<=", 0.02),
    "reconcile.noop_writes": ("<=", 0),
    # API reads of recent history while 1M expired runs are deleted, over the same reads before
    "retention.read_ratio": ("<=", 1.3),
    "engine.idle_cpu_s": ("<=", 0.2),
    "cron.convert_us": ("<=", 200),
    # every fire of a 1,050-fire burst through a bounded runner accounted for exactly once
    "load.lost": ("<=", 0),
    "load.failed": ("<=", 0),
    "load.dead_lettered": ("<=", 0),
    "load.shared_overlaps": ("<=", 0),
    "load.step_mismatches": ("<=", 0),
    # 1,000,000 hourly fire times over what one coordinator's missed-fire check accounts for in
    # an hour (projected from a measured pass): above 1 the check falls behind
    "missed_fires.load_ratio": ("<=", 1),
    # one owner's first page of 20 among 1,000,000 schedules, filtered, over the unfiltered one
    "search.label.ratio": ("<=", 3),
    "search.last_run_failed.ratio": ("<=", 3),
    "search.combined.ratio": ("<=", 3),
}

# Each module has measure() -> dict[key, value]; one failing does not stop the others.
SUITES = [
    "bench.bench_cron",
    "bench.coldstart",
    "bench.runner",
    "bench.api",
    "bench.auth",
    "bench.reconcile",
    "bench.retention",
    "bench.engine",
    "bench.load",
    "bench.missed_fires",
    "bench.search",
    "bench.bulk",
    "bench.accounting",
]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    selected = [s for s in SUITES if not argv[1:] or s.rsplit(".", 1)[-1] in argv[1:]]
    results: dict[str, float] = {}
    errors: dict[str, str] = {}
    for suite in selected:
        print(f"… {suite}", file=sys.stderr, flush=True)
        try:
            results.update(importlib.import_module(suite).measure())
        except Exception as exc:  # a broken suite is reported, the others still run
            errors[suite] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    print(f"\nmachine: {machine()}\n")
    print(f"{'key':32} {'value':>12} {'target':>10}  ok")
    for key, value in sorted(results.items()):
        comparison, target = TARGETS.get(key, ("", float("nan")))
        verdict = "" if not comparison else ("yes" if value <= target else "NO")
        shown_target = f"{comparison} {target:g}" if comparison else ""
        print(f"{key:32} {value:12.4g} {shown_target:>10}  {verdict}")
    for suite, error in errors.items():
        print(f"{suite}: FAILED ({error})")
    out = Path(os.environ.get("BENCH_RESULTS") or ROOT / ".bench" / "results.json").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": machine(), "results": results, "errors": errors}, indent=2, sort_keys=True
        )
    )
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    missed = [k for k, v in results.items() if k in TARGETS and v > TARGETS[k][1]]
    return 1 if errors or missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
