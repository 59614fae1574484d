"""A burst through a bounded runner on the local stack: 1,050 fires in one minute.

1,000 enabled every-minute schedules on distinct workflows and 50 on one shared workflow, all of
them firing in the same slot, through RunnerFunction limited to RUNNER_CONCURRENCY runs at once
(what RunnerConcurrency does in AWS). Each workflow's one http step calls a loopback server that
answers after STEP_S, so a run takes about as long as a short real workflow and concurrency
matters. The stack is `make run`'s (embedded Postgres, moto, the real handlers in local Lambda
containers, the local EventBridge engine) on a manual clock: the rows are written through the
store and registered with EventBridge by reconcile (what the stack does at start), then the
clock moves past the next minute boundary and the engine fires every schedule at once.

Every fire must be accounted for exactly once: a run row per (schedule, slot), `succeeded` for
each of the 1,000, and for the 50 of the shared workflow `succeeded` or `skipped` (the lease is
held: the overlap policy) with no two of its steps running at once (the step server's own clock:
a run row's `started_at` is its invocation's start, before the lease is taken, so rows of runs
that followed each other can seem to overlap); each workflow's step
called once per succeeded run; none failed, none left running, nothing dead-lettered.

Reported: `load.drain_s` (from the slot until every invocation has ended), the most runner
invocations at once, and `load.max_db_connections`: the most client backends in
`pg_stat_activity` at once, polled every 20 ms from a connection of its own (not counted, nor
is the one the bench writes and reads rows with), with `load.baseline_db_connections` (the
stack's own, before the slot) beside it.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import backends

DISTINCT = backends.sized(1_000, 20)
SHARED = backends.sized(50, 5)
RUNNER_CONCURRENCY = backends.sized(8, 2)
STEP_S = 0.2
OWNER = uuid.UUID("00000000-0000-4000-8000-00000000b0ad")
_POLL_S = 0.02
_DRAIN_TIMEOUT_S = 600.0
_CONNECTIONS = (
    "select count(*) from pg_stat_activity"
    " where backend_type = 'client backend' and pid <> pg_backend_pid()"
    " and pid <> all(%s::int[])"
)


class _StepServer:
    """The workflows' http step target: answers after STEP_S; counts calls per workflow, and
    keeps when each call of the shared one ran."""

    def __init__(self) -> None:
        calls: Counter[str] = Counter()
        shared_spans: list[tuple[float, float]] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                began = time.monotonic()
                time.sleep(STEP_S)  # the workflow's work
                with lock:
                    calls[body["workflow"]] += 1
                    if body["workflow"] == "shared":
                        shared_spans.append((began, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.calls = calls
        self.shared_spans = shared_spans
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/step"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _ConnectionPoller:
    """The most client connections Postgres holds at once, seen from a connection of its own."""

    def __init__(self, database_url: str, not_counted: list[int]) -> None:
        import psycopg

        self._conn = psycopg.connect(database_url, autocommit=True)
        self._not_counted = not_counted
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-pg-poller", daemon=True)

    def count(self) -> int:
        row = self._conn.execute(_CONNECTIONS, (self._not_counted,)).fetchone()
        return int(row[0]) if row else 0

    def start(self) -> None:
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_S):
            self.peak = max(self.peak, self.count())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


def measure() -> dict[str, float]:
    backends.configure_environment()
    logging.getLogger("devstack").setLevel(logging.WARNING)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    steps = _StepServer()
    try:
        return _measure(data_dir, steps)
    finally:
        steps.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _measure(data_dir: Path, steps: _StepServer) -> dict[str, float]:
    from devstack.clock import ManualClock
    from devstack.local_functions import RUNNER_FUNCTION
    from devstack.stack import Stack

    # Near real time (run records use the real clock), half a minute before a boundary.
    clock = ManualClock(datetime.now(UTC).replace(second=30, microsecond=0))
    stack = Stack(
        data_dir, port=0, clock=clock, say=lambda _: None, runner_concurrency=RUNNER_CONCURRENCY
    )
    stack.start()
    try:
        assert stack.engine is not None
        assert stack.lambdas is not None
        # The bench's own connection: the stack's threads (its missed-fire check) use the
        # process's one (scheduler.store.db.database()), and a psycopg connection is not for
        # two threads.
        db = _own_database(stack.database_url)
        expected, markers = _create_schedules(db, steps.url)
        stack.engine.refresh(timeout_s=120)
        # the bench's own connection is no more the stack's than the poller's is
        poller = _ConnectionPoller(
            stack.database_url, not_counted=[db.connection().info.backend_pid]
        )
        baseline = poller.count()
        fired_before = stack.engine.fired
        poller.start()
        try:
            slot = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            started = time.perf_counter()
            now = clock.advance((slot - clock.now()).total_seconds() + 1)
            stack.engine.wait_until_processed(now, timeout_s=120)
            stack.lambdas.wait_in_flight(0, timeout_s=_DRAIN_TIMEOUT_S)
            drain_s = time.perf_counter() - started
        finally:
            poller.stop()
        fires = stack.engine.fired - fired_before
        peak_runners = stack.lambdas.stats(RUNNER_FUNCTION).peak_running
        dead_lettered = _queue_depth(stack.run_failure_queue_url)
        outcome = _account(db, expected, markers, slot, steps)
        db.close()
    finally:
        stack.stop()
    results = {
        "load.fires": float(fires),
        "load.drain_s": drain_s,
        "load.runner_concurrency": float(RUNNER_CONCURRENCY),
        "load.peak_runners": float(peak_runners),
        "load.max_db_connections": float(poller.peak),
        "load.baseline_db_connections": float(baseline),
        "load.dead_lettered": float(dead_lettered),
        **outcome,
    }
    _say_what_failed(results)
    return results


def _own_database(database_url: str) -> Any:
    from scheduler.store.db import Database

    return Database(database_url)


def _create_schedules(db: Any, step_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The rows (through the query objects) and their EventBridge schedules (by reconcile, as the
    stack does at start): schedule id -> "distinct" or "shared", and workflow id -> its step's
    marker."""
    from scheduler.policies.periodic_pass import PeriodicPassQueries, reconcile
    from scheduler.store.schedules import ScheduleQueries
    from scheduler.store.workflows import WorkflowQueries
    from scheduler.sync.eventbridge import EventBridgeSchedules

    workflows, schedules = WorkflowQueries(db), ScheduleQueries(db)
    markers: dict[str, str] = {}

    def workflow(marker: str) -> uuid.UUID:
        step = {
            "type": "http",
            "method": "POST",
            "url": step_url,
            "body": {"workflow": marker},
            "timeoutSeconds": 30,
        }
        row = workflows.create_workflow(OWNER, f"load {marker}", {"steps": [step]})
        markers[str(row["id"])] = marker
        return uuid.UUID(str(row["id"]))

    kinds: dict[str, str] = {}
    shared = workflow("shared")
    for index in range(DISTINCT + SHARED):
        kind = "shared" if index < SHARED else "distinct"
        workflow_id = shared if kind == "shared" else workflow(f"distinct-{index}")
        row = schedules.create_schedule(
            OWNER, workflow_id=workflow_id, cron="* * * * *", timezone="UTC", enabled=True
        )
        kinds[str(row["id"])] = kind
    counts = reconcile(PeriodicPassQueries.over(db), EventBridgeSchedules())
    if counts.get("created", 0) < len(kinds):
        raise RuntimeError(f"reconcile created {counts} EventBridge schedules for {len(kinds)}")
    return kinds, markers


def _queue_depth(queue_url: str) -> int:
    from scheduler import clients

    attributes = clients.aws_client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _account(
    db: Any,
    expected: dict[str, str],
    markers: dict[str, str],
    slot: datetime,
    steps: _StepServer,
) -> dict[str, float]:
    """Every fire of the slot, as the runner recorded it, and the steps the workflows ran."""
    rows = db.execute(
        "select schedule_id, workflow_id, status, started_at, finished_at from schedule_runs"
        " where scheduled_time = %s",
        (slot,),
    ).fetchall()
    by_schedule = {str(row["schedule_id"]): row for row in rows}
    statuses = Counter(
        (expected.get(schedule_id, "unknown"), row["status"])
        for schedule_id, row in by_schedule.items()
    )
    lost = len(set(expected) - set(by_schedule))
    # The 1,000 must succeed; the shared 50 succeed or are skipped (lease held); nothing else.
    allowed = {("distinct", "succeeded"), ("shared", "succeeded"), ("shared", "skipped")}
    failed = sum(n for (kind, status), n in statuses.items() if (kind, status) not in allowed)
    shared_runs = sorted(
        (row["started_at"], row["finished_at"])
        for schedule_id, row in by_schedule.items()
        if expected.get(schedule_id) == "shared" and row["status"] == "succeeded"
    )
    # rows whose [started_at, finished_at] overlap: not two runs at once (started_at is taken
    # before the lease), so only shown; the steps' own times below are the test
    row_overlaps = sum(1 for a, b in itertools.pairwise(shared_runs) if b[0] < a[1])
    overlaps = _overlapping(steps.shared_spans)
    calls = steps.calls
    # each workflow's step ran once per succeeded run of it, never more, never less
    succeeded = Counter(
        markers.get(str(row["workflow_id"]), "unknown")
        for row in rows
        if row["status"] == "succeeded"
    )
    step_mismatches = sum(abs(calls[m] - succeeded[m]) for m in set(calls) | set(succeeded))
    return {
        "load.lost": float(lost),
        "load.failed": float(failed),
        "load.succeeded": float(statuses[("distinct", "succeeded")]),
        "load.shared_succeeded": float(statuses[("shared", "succeeded")]),
        "load.shared_skipped": float(statuses[("shared", "skipped")]),
        "load.shared_overlaps": float(overlaps),
        "load.shared_row_overlaps": float(row_overlaps),
        "load.step_mismatches": float(step_mismatches),
    }


def _overlapping(spans: list[tuple[float, float]]) -> int:
    """How many spans begin before an earlier-begun one has ended."""
    overlapping, ended = 0, float("-inf")
    for began, end in sorted(spans):
        overlapping += began < ended
        ended = max(ended, end)
    return overlapping


def _say_what_failed(results: dict[str, float]) -> None:
    must_be_zero = (
        "load.lost",
        "load.failed",
        "load.dead_lettered",
        "load.shared_overlaps",
        "load.step_mismatches",
    )
    broken = {key: int(results[key]) for key in must_be_zero if results[key]}
    if results["load.fires"] != DISTINCT + SHARED:
        broken["load.fires"] = int(results["load.fires"])
    if broken:
        print(f"load: FAILED, fires not accounted for exactly once: {broken}", file=sys.stderr)


if __name__ == "__main__":
    outcome = measure()
    print(json.dumps(outcome, indent=2))
    sys.exit(1 if any(outcome[k] for k in ("load.lost", "load.failed")) else 0)
