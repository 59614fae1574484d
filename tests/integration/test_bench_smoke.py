"""`make bench` still runs: every suite once at a tiny size (`BENCH_SMOKE=1`), as `python -m bench`
runs it, in a process of its own. Only that each suite completed and wrote its keys is asserted:
tiny sizes make no figure worth a target (the figures are `make bench`'s). A change that breaks a
suite (a statement more for the runner's replay, a shared connection) fails here, not months later.

The cold-start suite measures what `sam build` produced (`make test` builds it first, as for the
packaging test); the others need only the backends every bench starts itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

BUILD = ROOT / ".aws-sam" / "test-build"
SHELL = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "XDG_RUNTIME_DIR")

# Per suite, keys it must write: its targets' and the figures docs/performance.md quotes.
KEYS = {
    "bench_cron": ("cron.convert_us", "cron.preview_us", "cron.dst_notes_us"),
    "runner": (
        "runner.dynamodb_requests",
        "runner.sql_round_trips",
        "runner.put_events_per_success",
        "runner.put_events_per_failure",
        "runner.overhead_ratio",
    ),
    "api": ("api.create_ratio", "api.get_ratio", "api.list_ratio"),
    "auth": ("auth.authorizer_jwt_us", "auth.authorizer_key_us", "auth.api_key_extra_ms"),
    "reconcile": (
        "reconcile.scaling",
        "reconcile.noop_calls_per_schedule",
        "reconcile.noop_writes",
        "reconcile.projection_1m.noop_calls",
    ),
    "retention": ("retention.batch_ms", "retention.read_ratio"),
    "engine": ("engine.idle_cpu_s",),
    "load": (
        "load.fires",
        "load.lost",
        "load.failed",
        "load.dead_lettered",
        "load.shared_overlaps",
        "load.step_mismatches",
        "load.max_db_connections",
    ),
    "missed_fires": (
        "missed_fires.us_per_due_schedule",
        "missed_fires.statements_per_batch",
        "missed_fires.backlog_shrinks",
        "missed_fires.projected_hourly_capacity",
        "missed_fires.load_ratio",
        "missed_fires.decide_cpu_us_own",
        "missed_fires.decide_cpu_us_shared",
        "missed_fires.load_ratio_distinct",
    ),
    "search": (
        "search.unfiltered_ms.p50",
        "search.label_ms.p50",
        "search.q_ms.p50",
        "search.last_run_failed_ms.p50",
        "search.combined_ms.p50",
        "search.combined.ratio",
    ),
    "bulk": (
        "bulk.pause_10k_ms",
        "bulk.resume_10k_ms",
        "bulk.drain_sql_per_schedule",
        "bulk.drain_scheduler_calls_per_schedule",
        "bulk.drain_own_ms_per_schedule",
    ),
    "accounting": (
        "accounting.max_fires_ms",
        "accounting.refused_31_days_ms",
        "accounting.use_case_ms",
    ),
    "coldstart": (
        "coldstart_ratio.api",
        "coldstart_ratio.runner",
        "coldstart_ratio.reconcile",
        "coldstart_ratio.authorizer",
        "package_mb",
    ),
}


def run_bench(suites: list[str], results: Path) -> dict[str, Any]:
    """`python -m bench <suites>` at the smoke size; what it wrote to `results`."""
    # A shell's environment, not this test process's (its DATABASE_URL, its AWS settings):
    # the bench sets up its own backends, as `make bench` does.
    environment = {name: os.environ[name] for name in SHELL if name in os.environ}
    environment.update(
        BENCH_SMOKE="1",
        BENCH_RESULTS=str(results),
        PYTHONPATH=os.pathsep.join((str(ROOT / "layers" / "common"), str(ROOT))),
        PYTHONDONTWRITEBYTECODE="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench", *suites],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # 1: a target missed, which tiny sizes may do; anything else is a crash
    assert done.returncode in (0, 1), done.stderr[-4000:]
    assert results.is_file(), done.stderr[-4000:]
    written: dict[str, Any] = json.loads(results.read_text())
    assert written["errors"] == {}, done.stderr[-4000:]
    return written


def missing_keys(written: dict[str, Any], suites: list[str]) -> dict[str, list[str]]:
    return {
        suite: missing
        for suite in suites
        if (missing := [key for key in KEYS[suite] if key not in written["results"]])
    }


def test_every_suite_but_cold_start_runs_and_writes_its_keys(tmp_path: Path) -> None:
    suites = [suite for suite in KEYS if suite != "coldstart"]
    written = run_bench(suites, tmp_path / "results.json")
    assert missing_keys(written, suites) == {}


def test_every_bench_suite_is_smoked() -> None:
    from bench.__main__ import SUITES

    assert sorted(suite.removeprefix("bench.") for suite in SUITES) == sorted(KEYS)


@pytest.fixture(scope="module")
def built() -> Path:
    missing = "no SAM build for the cold-start suite: run `make sam-test-build` (make test does)"
    assert (BUILD / "template.yaml").exists(), missing
    assert (BUILD / "CommonLayer" / "python").is_dir(), missing
    return BUILD


def test_the_cold_start_suite_runs_and_writes_its_keys(built: Path, tmp_path: Path) -> None:
    written = run_bench(["coldstart"], tmp_path / "results.json")
    assert missing_keys(written, ["coldstart"]) == {}
