"""The run path under faults, against real Postgres and moto DynamoDB, with fake time.

Every network call of the runner is made to fail before its effect, to apply its effect and lose
the answer, to time out, or to have the process die right after it; Lambda's retries of the
invocation are replayed (same request id, as Lambda sends them). Whatever happens: the workflow
runs at most once per slot (exactly once wherever a retry can still run it), the final record
says what happened, no workflow is left `running`, and no lease outlives its run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

import psycopg
import pytest
from scheduler.errors import (
    DatabaseUnavailable,
    DependencyUnavailable,
    LockUnavailable,
    WorkflowBusy,
)
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import Lease, LeaseLock
from scheduler.run.runner import RunReport
from scheduler.steps.definitions import load_definition, with_loaded_definition
from scheduler.steps.engine import RunContext
from scheduler.store.db import Database
from scheduler.store.queue import QueueQueries
from scheduler.store.run_outcome import RecordedOutcome
from scheduler.store.runs import ABANDONED_RUN_ERROR, SUPERSEDED_RUN_ERROR, RunQueries
from scheduler.store.sql import Row

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LEASE_OVER_S,
    LOCKS_TABLE,
    OWNER,
    REMAINING_S,
    SEVEN,
    WAIT_S,
    Crash,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    hooks_fixture,
    http_server_fixture,
    http_steps,
    join,
    make_schedule,
    runner_fixture,
    short_retry_budget_fixture,
)
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401

T = TypeVar("T")
Kind = Literal["error", "lost_ack", "timeout", "died"]
# An invocation has REMAINING_S (60 s: lease 90 s, steps by 50 s, record retries until 59 s),
# so that whatever a busy machine does, the claim, the lease and the start leave the steps their
# time, and a fault that clears is retried within it. A fault in the record that never clears
# waits out the record's retries to the end of the invocation: that first invocation is short.
SHORT_REMAINING_S = 3.0  # lease 33 s, steps by 2.25 s, record retries until ~2.6 s
# Lambda retries after 1 and 2 minutes; scaled to the test's shortest lease (33 s), so a retry
# finds what its earlier attempt left still live (a real retry comes well inside a real 330 s
# lease).
RETRY_DELAY_S = 15
INVOCATION = "c0ffee00-0000-4000-8000-00000000000a"
# The table whose lock a step's statement waits on (what a statement timeout looks like).
_BLOCKING_TABLE = {"claim": "schedule_runs", "start": "workflows", "record": "schedule_runs"}


@dataclass
class Fault:
    """One fault at one runner step, during the first attempt only (once, or every call)."""

    step: str
    kind: Kind
    persistent: bool = False
    database_url: str = ""
    active: bool = True
    hits: int = 0
    _blocker: psycopg.Connection[Any] | None = field(default=None, repr=False)

    def around(self, step: str, call: Callable[[], T], db: Database | None = None) -> T:
        if step != self.step or not self.active or (self.hits and not self.persistent):
            return call()
        self.hits += 1
        error = DatabaseUnavailable if db is not None else LockUnavailable
        if self.kind == "error":
            raise error(f"injected: {step} failed before its effect")
        if self.kind == "timeout" and db is not None:
            # Postgres cancels the statement at its lock timeout: nothing of it is applied
            with self._blocked(self.step):
                call()
            raise AssertionError(f"{step} did not time out")
        result = call()  # applied ...
        if self.kind == "died":
            raise Crash
        time.sleep(0.01 if self.kind == "lost_ack" else 0.2)
        raise error(f"injected: {step} applied, then its answer was lost ({self.kind})")
        return result  # type: ignore[unreachable]

    @contextmanager
    def _blocked(self, step: str) -> Iterator[None]:
        if self._blocker is None:
            self._blocker = psycopg.connect(self.database_url)
            self._blocker.execute(f"lock table {_BLOCKING_TABLE[step]} in share mode")
        try:
            yield
        finally:
            if not self.persistent:
                self.end_attempt()

    def end_attempt(self) -> None:
        self.active = False
        if self._blocker is not None:
            self._blocker.rollback()
            self._blocker.close()
            self._blocker = None


class FaultyRuns(RunQueries):
    def __init__(self, db: Database, fault: Fault) -> None:
        super().__init__(db)
        self.fault = fault

    def claim_run_slot(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        claim = super().claim_run_slot
        return self.fault.around("claim", lambda: claim(*args, **kwargs), self.db)

    def start_run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        start = super().start_run
        return self.fault.around("start", lambda: start(*args, **kwargs), self.db)

    def record_run_outcome(self, *args: Any, **kwargs: Any) -> RecordedOutcome:
        record = super().record_run_outcome
        return self.fault.around("record", lambda: record(*args, **kwargs), self.db)


def _runner_queries(runs: RunQueries) -> RunnerQueries:
    """The runner's queries with `runs` (faulty) for its own statements."""
    return RunnerQueries(runs, QueueQueries(runs.db))


class FaultyLock(LeaseLock):
    def __init__(self, fault: Fault, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fault = fault

    def acquire(self, workflow_id: Any, lease_s: float, owner: str | None = None) -> Lease:
        acquire = super().acquire
        return self.fault.around("acquire", lambda: acquire(workflow_id, lease_s, owner))

    def release(self, lease: Lease) -> bool:
        release = super().release
        return self.fault.around("release", lambda: release(lease))


@dataclass
class Delivery:
    attempts: list[str]  # each attempt's outcome, or the exception that made Lambda retry
    duplicate: str  # a later duplicate delivery by EventBridge (another invocation)


def _deliver(
    runner: Runner,
    schedule: dict[str, Any],
    queries: RunnerQueries,
    lock: LeaseLock,
    fault: Fault,
    first_remaining_s: float,
) -> Delivery:
    """The invocation (with `first_remaining_s` left) and Lambda's two retries of it (each after
    a function error)."""
    attempts: list[str] = []
    for attempt in range(3):
        fault.active = attempt == 0
        remaining_s = first_remaining_s if attempt == 0 else REMAINING_S
        try:
            report = runner.fire(
                schedule, queries=queries, lock=lock, invocation=INVOCATION, remaining_s=remaining_s
            )
            attempts.append(report.outcome)
            break
        except (DependencyUnavailable, Crash) as exc:
            attempts.append(type(exc).__name__)
        finally:
            fault.end_attempt()
        runner.clock.advance(RETRY_DELAY_S)
    duplicate = runner.fire(schedule, queries=queries, lock=lock, remaining_s=REMAINING_S).outcome
    return Delivery(attempts, duplicate)


def _lease_is_free(runner: Runner, workflow_id: Any) -> bool:
    try:
        lease = runner.lock.acquire(workflow_id, 10, owner="probe")
    except WorkflowBusy:
        return False
    runner.lock.release(lease)
    return True


# --- the matrix

STEPS = ("claim", "acquire", "start", "steps", "record", "release")


@dataclass(frozen=True)
class Cell:
    step: str
    kind: Kind
    persistent: bool = False
    # what must hold: executions of the workflow, the run's final status, the lease free at once
    executions: int = 1
    status: str = "succeeded"
    lease_freed_by_run: bool = True

    @property
    def name(self) -> str:
        return f"{self.step}-{self.kind}" + ("-persistent" if self.persistent else "")

    @property
    def remaining_s(self) -> float:
        """The first invocation's time: short where the fault waits out the record's retries."""
        return SHORT_REMAINING_S if self.step == "record" and self.persistent else REMAINING_S


def _cells() -> list[Cell]:
    cells = []
    for step in STEPS:
        if step == "steps":
            cells += [
                Cell("steps", "error", status="failed"),
                Cell("steps", "lost_ack", status="failed"),
                Cell("steps", "timeout", status="failed"),
                # died mid-step: never run again; failed once its lease expires
                Cell("steps", "died", status="failed", lease_freed_by_run=False),
            ]
            continue
        for kind in ("error", "lost_ack", "timeout"):
            cells += [Cell(step, kind), Cell(step, kind, persistent=True)]
        cells.append(Cell(step, "died"))
    overrides = {
        # The start was applied but never confirmed, or the process died right after it: the
        # steps may have begun, so nothing runs them again; failed once the lease expires.
        "start-died": Cell("start", "died", False, 0, "failed", lease_freed_by_run=False),
        "start-lost_ack-persistent": Cell("start", "lost_ack", True, executions=0, status="failed"),
        # The database refused the result for the whole invocation: failed once the lease
        # expires (abandoned), and the workflow ran once.
        "record-error-persistent": Cell("record", "error", True, status="failed"),
        "record-timeout-persistent": Cell("record", "timeout", True, status="failed"),
        # DynamoDB refused the release for the whole invocation: the lease expires on its own.
        "release-error-persistent": Cell("release", "error", True, lease_freed_by_run=False),
    }
    return [overrides.get(cell.name, cell) for cell in cells]


CELLS = _cells()
HELD: dict[str, str] = {}


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.name)
def test_fault_matrix(
    cell: Cell,
    runner: Runner,
    http_server: LoopbackServer,
    hooks: dict[str, Any],
    dynamodb: Any,
    clean_db: str,
    request: pytest.FixtureRequest,
) -> None:
    # Given a schedule whose workflow calls the loopback server once, and a fault at one step
    # (one that never clears runs the in-process retries out: they may as well be short)
    if cell.persistent:
        request.getfixturevalue("short_retry_budget")
    fault = Fault(cell.step, cell.kind, cell.persistent, database_url=clean_db)
    steps = http_steps(http_server)
    if cell.step == "steps":
        _arm_step_fault(cell.kind, http_server, hooks, steps)
    schedule = make_schedule(runner.queries, steps)
    database = Database(clean_db, lock_timeout_ms=300)  # a "timeout" fault waits on a lock
    queries = _runner_queries(FaultyRuns(database, fault))
    lock = FaultyLock(fault, dynamodb, table=LOCKS_TABLE, clock=runner.clock)

    # When it fires, Lambda retries as it does, and EventBridge delivers it once more
    delivery = _deliver(runner, schedule, queries, lock, fault, cell.remaining_s)
    freed_by_run = _lease_is_free(runner, schedule["workflow_id"])
    runner.clock.advance(LEASE_OVER_S)  # then reconcile fails runs whose lease expired
    runner.queries.runs.fail_abandoned_runs(runner.clock())

    # Then the workflow ran as often as it could without running twice, and the record is true
    [run] = runner.runs(schedule)
    workflow = runner.workflow(schedule)
    observed = (
        f"executions={len(http_server.requests)} status={run['status']}"
        f" attempts={'/'.join(delivery.attempts)} duplicate={delivery.duplicate}"
        f" lease_freed_by_run={freed_by_run}"
    )
    HELD[cell.name] = observed
    assert len(http_server.requests) == cell.executions, observed
    assert run["status"] == cell.status, observed
    if cell.status == "succeeded":
        assert run["error"] is None
        assert runner.schedule(schedule)["last_run_at"] is not None
    elif cell.step != "steps" or cell.kind == "died":
        assert run["error"] == ABANDONED_RUN_ERROR
    assert delivery.duplicate == "duplicate", observed
    assert workflow["status"] == "idle", observed
    assert workflow["run_count"] == (1 if run["error"] != ABANDONED_RUN_ERROR else 0), observed
    assert freed_by_run == cell.lease_freed_by_run, observed
    assert _lease_is_free(runner, schedule["workflow_id"])
    database.close()
    HELD[cell.name] = "holds: " + observed


def _arm_step_fault(
    kind: Kind, server: LoopbackServer, hooks: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    if kind == "error":
        server.status = 500
    elif kind == "lost_ack":
        server.drop = True  # the request arrives, the answer never does
    elif kind == "timeout":
        server.hold = threading.Event()  # answered only at the teardown: long after 0.5 s
        steps[0]["timeoutSeconds"] = 0.5
    else:
        dying = iter([True])

        def die(_: RunContext) -> None:
            if next(dying, False):
                raise Crash

        hooks["die"] = die
        steps.append({"type": "hook", "name": "die"})


def test_fault_matrix_summary(capsys: pytest.CaptureFixture[str]) -> None:
    # Printed for docs/reliability.md's fault matrix; the cells themselves assert.
    held = sum(result.startswith("holds") for result in HELD.values())
    with capsys.disabled():
        print(f"\nfault matrix: {len(CELLS)} scenarios, {held} hold")
        for cell in CELLS:
            print(f"  {cell.name:28} {HELD.get(cell.name, 'not run')}")
    assert held == len(CELLS) == len(HELD)


# --- the defects found in review, each as it was seen


def test_the_steps_deadline_counts_the_time_spent_before_them(
    runner: Runner, hooks: dict[str, Any], clean_db: str
) -> None:
    # Given a claim that takes 0.5 s (a slow database), with 10 s left for the invocation
    class SlowClaim(RunQueries):
        def claim_run_slot(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            time.sleep(0.5)
            return super().claim_run_slot(*args, **kwargs)

    seen: list[float] = []
    hooks["clock"] = lambda run: seen.append(run.remaining_s())
    schedule = make_schedule(runner.queries, [{"type": "hook", "name": "clock"}])
    database = Database(clean_db)

    assert (
        runner.fire(schedule, queries=_runner_queries(SlowClaim(database)), remaining_s=10).outcome
        == "succeeded"
    )

    # Then the steps were given 10 s - 2.5 s reserve - the 0.5 s already spent, not 7.5 s
    assert seen[0] < 7.05
    database.close()


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_lost_acquire_answer_leaves_no_ghost_lease(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, clean_db: str
) -> None:
    # Given DynamoDB applies every acquire of the first attempt but the answers are lost
    fault = Fault("acquire", "lost_ack", persistent=True)
    lock = FaultyLock(fault, dynamodb, table=LOCKS_TABLE, clock=runner.clock)
    schedule = make_schedule(runner.queries, http_steps(http_server))

    # (as in AWS: a 300 s invocation's lease is 330 s, Lambda retries a minute later)
    with pytest.raises(LockUnavailable):
        runner.fire(schedule, lock=lock, invocation=INVOCATION, remaining_s=300)
    fault.end_attempt()
    runner.clock.advance(60)
    retry = runner.fire(schedule, lock=lock, invocation=INVOCATION, remaining_s=300)
    runner.clock.advance(240)
    next_fire = runner.fire(schedule, SEVEN + timedelta(minutes=5), lock=lock, remaining_s=300)

    # Then the retry took back the lease its attempt held, and the next fire ran too
    assert (retry.outcome, next_fire.outcome) == ("succeeded", "succeeded")
    assert len(http_server.requests) == 2


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_lost_claim_answer_is_resumed_by_the_retry(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    fault = Fault("claim", "lost_ack", persistent=True)
    database = Database(clean_db, lock_timeout_ms=300)  # a "timeout" fault waits on a lock
    queries = _runner_queries(FaultyRuns(database, fault))
    schedule = make_schedule(runner.queries, http_steps(http_server))

    with pytest.raises(DatabaseUnavailable):
        runner.fire(schedule, queries=queries, invocation=INVOCATION)
    fault.end_attempt()
    runner.clock.advance(60)
    retry = runner.fire(schedule, queries=queries, invocation=INVOCATION, attempt=1)

    assert retry.outcome == "succeeded"
    assert len(http_server.requests) == 1
    [run] = runner.runs(schedule)
    assert run["status"] == "succeeded"
    database.close()


def test_a_lost_start_answer_is_confirmed_and_the_run_goes_on(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    database = Database(clean_db)
    queries = _runner_queries(FaultyRuns(database, Fault("start", "lost_ack")))
    schedule = make_schedule(runner.queries, http_steps(http_server))

    report = runner.fire(schedule, queries=queries, invocation=INVOCATION)

    assert report.outcome == "succeeded"
    assert len(http_server.requests) == 1
    assert runner.workflow(schedule)["run_count"] == 1
    database.close()


def test_an_api_write_holding_the_schedule_row_only_delays_the_record(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    # Given the runner's statements time out after 300 ms, and an API transaction holds the
    # schedule's row for a second while the run records its result
    database = Database(clean_db, statement_timeout_ms=300)
    schedule = make_schedule(runner.queries, http_steps(http_server))
    holding = threading.Event()

    def api_write() -> None:
        with psycopg.connect(clean_db) as conn:
            conn.execute("select 1 from schedules where id = %s for update", (schedule["id"],))
            holding.set()
            time.sleep(1)

    http_server.hold, http_server.hold_first = threading.Event(), 1
    fire_result: list[RunReport] = []
    firing = threading.Thread(
        target=lambda: fire_result.append(
            runner.fire(schedule, queries=RunnerQueries.over(database))
        )
    )
    firing.start()
    assert http_server.received.wait(WAIT_S)
    writer = threading.Thread(target=api_write)
    writer.start()
    assert holding.wait(WAIT_S)
    http_server.hold.set()
    join(firing, writer)

    # Then the record waited out the lock within its reserve instead of giving up
    assert fire_result[0].outcome == "succeeded"
    [run] = runner.runs(schedule)
    assert run["status"] == "succeeded"
    assert runner.schedule(schedule)["last_run_at"] is not None
    database.close()


def test_a_definition_python_cannot_load_fails_the_run_and_disables_the_schedule(
    runner: Runner,
) -> None:
    # Given a definition written around the API: a number no float holds (within the bounds)
    workflow = runner.queries.workflows.create_workflow(OWNER, "huge number", {"steps": []})
    runner.queries.db.execute(
        """update workflows set definition = '{"steps": [], "n": 1e5000}'::jsonb where id = %s""",
        (workflow["id"],),
    )
    schedule = make_schedule(runner.queries, [], workflow_id=workflow["id"])

    report = runner.fire(schedule)

    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["status"] == "failed"
    assert "invalid definition" in run["error"]
    after = runner.schedule(schedule)
    assert after["enabled"] is False
    assert "invalid definition" in after["disabled_reason"]
    assert runner.workflow(schedule)["status"] == "idle"
    loaded = with_loaded_definition(runner.queries.workflows.get_workflow(workflow["id"]))
    assert loaded["definition"] is None
    assert "invalid definition" in loaded["definition_error"]


def test_the_database_refuses_a_definition_nested_too_deep(runner: Runner) -> None:
    workflow = runner.queries.workflows.create_workflow(OWNER, "deep", {"steps": []})
    deep = "[" * 3000 + "]" * 3000

    with pytest.raises(psycopg.errors.CheckViolation):
        runner.queries.db.execute(
            "update workflows set definition = jsonb_build_object('steps', %s::jsonb)"
            " where id = %s",
            (deep, workflow["id"]),
        )

    assert load_definition(runner.queries.workflows.get_workflow(workflow["id"])["definition"]) == {
        "steps": []
    }


def test_deleting_the_schedule_mid_run_leaves_the_workflow_idle(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    http_server.hold, http_server.hold_first = threading.Event(), 1
    results: list[RunReport] = []
    firing = threading.Thread(target=lambda: results.append(runner.fire(schedule)))
    firing.start()
    assert http_server.received.wait(WAIT_S)

    runner.queries.schedules.delete_schedule(schedule["id"])
    http_server.hold.set()
    join(firing)

    workflow = runner.queries.workflows.get_workflow(schedule["workflow_id"])
    assert (workflow["status"], workflow["run_count"]) == ("idle", 1)
    assert workflow["last_run_status"] == "succeeded"
    assert _lease_is_free(runner, schedule["workflow_id"])


def test_a_run_whose_live_lease_is_overtaken_is_failed_as_superseded_not_expired(
    runner: Runner,
) -> None:
    # Given two runs of one workflow started under two leases at once (a broken lock: the
    # local stack's moto did this before its DynamoDB requests were serialised)
    first = make_schedule(runner.queries, [])
    second = make_schedule(runner.queries, [], workflow_id=first["workflow_id"])
    now = runner.clock()
    live_until = now + timedelta(seconds=40)
    runs = []
    for fence, schedule in ((244, first), (245, second)):
        claim = runner.queries.runs.claim_run_slot(
            schedule["id"], schedule["workflow_id"], SEVEN, trigger="schedule", attempt=1,
            claim_token=f"runner-{fence}", started_at=now, lease_expires_at=live_until,
        )  # fmt: skip
        runner.queries.runs.start_run(
            claim["run_id"], schedule["workflow_id"], claim_token=f"runner-{fence}", fence=fence,
            lease_expires_at=live_until, now=now, fenced_error="not started",
        )  # fmt: skip
        runs.append(claim["run_id"])

    # Then the overtaken run says what happened: its lease had not expired
    [overtaken] = runner.runs(first)
    assert (overtaken["status"], overtaken["error"]) == ("failed", SUPERSEDED_RUN_ERROR)
    assert runner.runs(second)[0]["status"] == "running"


class _UnreadableAbandonedRun(RunQueries):
    """A start whose answer names an abandoned run this runner cannot read into an alert."""

    def start_run(self, run_id: Any, workflow_id: Any, **fields: Any) -> Row:
        start = super().start_run(run_id, workflow_id, **fields)
        unreadable = {"id": "not-a-uuid", "schedule_id": None, "scheduled_time": "yesterday"}
        return {**start, "abandoned_runs": [*start["abandoned_runs"], unreadable]}


def test_an_abandoned_run_that_cannot_be_alerted_does_not_fail_the_finished_run(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    # Given a start whose answer holds an abandoned run that cannot be read into an alert
    schedule = make_schedule(runner.queries, http_steps(http_server))

    # When the run goes on and finishes
    report = runner.fire(
        schedule, queries=_runner_queries(_UnreadableAbandonedRun(runner.queries.db))
    )

    # Then the invocation succeeds (no raise for Lambda to retry into a duplicate), its result
    # is recorded, and only the unreadable alert is left out
    assert report.outcome == "succeeded"
    assert len(http_server.requests) == 1
    [run] = runner.runs(schedule)
    assert run["status"] == "succeeded"
    assert alert_queue.received() == []
