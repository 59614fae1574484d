"""A/B of the runner's outcome statement (scheduler.store.run_outcome) against its text at an
earlier commit: what the audit log's CTE costs a record. Not a `make bench` suite (it compares
with history): `python -m bench.outcome_statement [COMMIT]` (default 7764153, before the audit
log) prints each side's median milliseconds for a success's and a failure's record, both sides
interleaved over one embedded PostgreSQL with the current migrations (a failure here pauses
nothing: no schedule has pauseAfterFailures, so no event is written, only planned).
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench import backends

ROUNDS = 400
BASE = "7764153"
_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _queries_at(commit: str, db: Any) -> Any:
    """RunOutcomeQueries as the module was at `commit`, over `db`."""
    source = subprocess.run(
        ["git", "show", f"{commit}:layers/common/scheduler/store/run_outcome.py"],
        cwd=backends.ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-outcome-")) / "base_run_outcome.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("base_run_outcome", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.RunOutcomeQueries(db)


def measure(commit: str = BASE) -> dict[str, float]:
    backends.database_url()
    from scheduler.store.db import Database
    from scheduler.store.run_outcome import RunOutcomeQueries

    backends.empty_tables()
    db = Database(backends.database_url())
    workflow = db.execute(
        "insert into workflows (owner_id, name) values (%s, 'bench') returning id", (uuid4(),)
    ).fetchone()["id"]
    schedule = db.execute(
        """insert into schedules (workflow_id, cron, timezone, enabled)
           values (%s, '0 * * * *', 'UTC', true) returning id""",
        (workflow,),
    ).fetchone()["id"]
    fences = iter(range(1, 10**9))

    def record(queries: Any, status: str) -> float:
        fence = next(fences)
        run = db.execute(
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, fence)
               values (%s, %s, %s, %s) returning id""",
            (schedule, workflow, _AT + timedelta(minutes=fence), fence),
        ).fetchone()["id"]
        db.execute(
            "update workflows set status = 'running', lease_fence = %s where id = %s",
            (fence, workflow),
        )
        start = time.perf_counter()
        queries.record_run_outcome(
            run,
            schedule_id=schedule,
            workflow_id=workflow,
            fence=fence,
            status=status,
            error=None if status == "succeeded" else "boom",
            output=None,
            started_at=_AT,
            finished_at=_AT,
        )
        return (time.perf_counter() - start) * 1000

    current, base = RunOutcomeQueries(db), _queries_at(commit, db)
    results: dict[str, float] = {}
    try:
        for status in ("succeeded", "failed"):
            now_ms, base_ms = backends.interleaved(
                lambda s=status: record(current, s),  # type: ignore[misc]
                lambda s=status: record(base, s),  # type: ignore[misc]
                backends.sized(ROUNDS, 3),
            )
            results[f"record_{status}_ms"] = statistics.median(now_ms)
            results[f"record_{status}_ms.{commit}"] = statistics.median(base_ms)
    finally:
        db.close()
        backends.empty_tables()
    return results


if __name__ == "__main__":
    for key, value in measure(*sys.argv[1:2]).items():
        print(f"{key:40} {value:.3f}")
