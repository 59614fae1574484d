"""Schedule writers against concurrent work: the runner never waits on a write's EventBridge call
(an API write's or a reconcile repair's), and the undo of a failed API write never overwrites
what a newer write of the same schedule committed.

Real Postgres, moto's Scheduler API. A write is held or failed inside its EventBridge call with
botocore event hooks; the other party (the runner's SQL, a second API writer) uses its own
database connection, as another Lambda would.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from scheduler import cron
from scheduler.api.schedules import ScheduleService
from scheduler.models.schedules import ScheduleUpdate
from scheduler.policies.periodic_pass import PeriodicPassQueries, reconcile
from scheduler.store.db import Database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)
from tests.integration.test_api_consistency import Hook, hooks  # noqa: F401  (fixture)
from tests.queries import AllQueries

# The runner's statements must not wait on an API write for longer than this.
RUNNER_STATEMENT_TIMEOUT_MS = 500
WAIT_S = 10  # how long a test waits for the other party before giving up (a hang is a failure)
# Its runner statement timeout is half a second: run alone (`make test`), not beside another worker.
pytestmark = pytest.mark.serial


@pytest.fixture
def other_connection(clean_db: str) -> Iterator[Callable[..., AllQueries]]:
    """Queries on connections of their own (another Lambda's), closed after the test."""
    opened: list[Database] = []

    def open_queries(**options: Any) -> AllQueries:
        database = Database(clean_db, **options)
        opened.append(database)
        return AllQueries.over(database)

    yield open_queries
    for database in opened:
        database.close()


def _run_once(queries: AllQueries, schedule_id: uuid.UUID, workflow_id: uuid.UUID) -> bool:
    """What the runner does in SQL for one fire: claim the slot, start, record a success."""
    fire = datetime.now(UTC).replace(second=0, microsecond=0)
    lease_expires_at = fire + timedelta(minutes=5)
    claim = queries.runs.claim_run_slot(
        schedule_id,
        workflow_id,
        fire,
        trigger="schedule",
        attempt=1,
        claim_token="runner",
        started_at=fire,
        lease_expires_at=lease_expires_at,
    )
    run_id = claim["run_id"]
    assert run_id is not None
    fence = 1
    started = queries.runs.start_run(
        run_id,
        workflow_id,
        claim_token="runner",
        fence=fence,
        lease_expires_at=lease_expires_at,
        now=fire,
        fenced_error="fenced",
    )
    assert started["started"]
    written = queries.runs.record_run_outcome(
        run_id,
        schedule_id=schedule_id,
        workflow_id=workflow_id,
        fence=fence,
        status="succeeded",
        error=None,
        output={},
        started_at=fire,
        finished_at=fire,
    )
    return written.result == "recorded"


@pytest.mark.parametrize("write", ["PATCH", "DELETE", "POST"])
def test_the_runner_does_not_wait_on_an_api_write_stalled_in_eventbridge(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    other_connection: Callable[..., AllQueries],
    write: str,
) -> None:
    # Given a schedule, and an API write held inside its EventBridge call
    workflow_id = workflows["alice"]
    schedule_id = uuid.UUID(_create(api, workflow_id, cron="* * * * *")["id"])
    path, body, operation = {
        "PATCH": (f"/api/schedules/{schedule_id}", {"cron": "0 9 * * *"}, "UpdateSchedule"),
        "DELETE": (f"/api/schedules/{schedule_id}", None, "DeleteSchedule"),
        # another schedule of the same workflow
        "POST": (
            "/api/schedules",
            {"workflowId": str(workflow_id), "cron": "0 9 * * *"},
            "CreateSchedule",
        ),
    }[write]
    in_eventbridge, release = threading.Event(), threading.Event()

    def stall(**_: Any) -> None:
        if not in_eventbridge.is_set():
            in_eventbridge.set()
            release.wait(WAIT_S)

    hooks(f"before-call.scheduler.{operation}", stall)
    kwargs = {} if body is None else {"body": body}
    with ThreadPoolExecutor(max_workers=1) as pool:
        response = pool.submit(api.call, write, path, **kwargs)
        try:
            assert in_eventbridge.wait(WAIT_S)

            # When the runner records a fire of the schedule meanwhile, with a short timeout
            runner = other_connection(statement_timeout_ms=RUNNER_STATEMENT_TIMEOUT_MS)
            recorded = _run_once(runner, schedule_id, workflow_id)  # raises on a timeout
        finally:
            release.set()
        status, answer = response.result(WAIT_S)

    # Then the runner's claim and outcome went through, and so did the API write
    assert recorded
    assert status == {"PATCH": 200, "DELETE": 204, "POST": 201}[write], answer
    rows = {row["id"]: row for row in database_state(clean_db)}
    if write == "DELETE":
        assert schedule_id not in rows
    else:
        # the write did not clobber the runner's last_run_at
        assert rows[schedule_id]["last_run_at"] is not None
        if write == "PATCH":
            assert answer["lastRunAt"] is not None
            assert rows[schedule_id]["cron"] == "0 9 * * *"
    assert _drift(clean_db, eventbridge) == {}


def test_the_runner_does_not_wait_on_a_reconcile_repair_stalled_in_eventbridge(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    other_connection: Callable[..., AllQueries],
) -> None:
    # Given a schedule whose EventBridge schedule went missing, and a reconcile pass repairing
    # it, held inside its EventBridge call (reconcile takes the same writer lock as the API)
    workflow_id = workflows["alice"]
    schedule_id = uuid.UUID(_create(api, workflow_id, cron="* * * * *")["id"])
    eventbridge.remove(schedule_id)
    in_eventbridge, release = threading.Event(), threading.Event()

    def stall(**_: Any) -> None:
        if not in_eventbridge.is_set():
            in_eventbridge.set()
            release.wait(WAIT_S)

    hooks("before-call.scheduler.UpdateSchedule", stall)
    with ThreadPoolExecutor(max_workers=1) as pool:
        repaired = pool.submit(reconcile, other_connection().periodic_pass, eventbridge)
        try:
            assert in_eventbridge.wait(WAIT_S)

            # When the runner records a fire of the schedule meanwhile, with a short timeout
            runner = other_connection(statement_timeout_ms=RUNNER_STATEMENT_TIMEOUT_MS)
            recorded = _run_once(runner, schedule_id, workflow_id)  # raises on a timeout
        finally:
            release.set()
        summary = repaired.result(WAIT_S)

    # Then both went through
    assert recorded
    assert summary["created"] == 1
    assert _drift(clean_db, eventbridge) == {}


def _drift(database_url: str, eventbridge: EventBridgeSchedules) -> dict[str, int]:
    """What a reconcile pass finds to repair (nothing, when the database and EventBridge agree)."""
    database = Database(database_url)
    try:
        summary = reconcile(PeriodicPassQueries.over(database), eventbridge)
    finally:
        database.close()
    return {
        change: count
        for change, count in summary.items()
        if change in ("created", "updated", "deleted", "deferred", "failed") and count
    }


def _wait_until_blocked_or_done(database_url: str, done: Future[Any]) -> None:
    """Until a session of the database waits for a lock (or the work finished). Any session:
    through the transaction pooler, a client's server backend is not known in advance."""
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as admin:
        while time.monotonic() < deadline and not done.done():
            waiting = admin.execute(
                "select 1 from pg_stat_activity where wait_event_type = 'Lock'"
                " and datname = current_database()"
            ).fetchone()
            if waiting:
                return
            time.sleep(0.01)
    assert done.done(), "the second writer neither waited for a lock nor finished"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("PATCH", "PATCH", id="patch-undo-vs-newer-patch"),
        pytest.param("DELETE", "PATCH", id="delete-undo-vs-newer-patch"),
        pytest.param("PATCH", "DELETE", id="patch-undo-vs-delete"),
    ],
)
def test_the_undo_of_a_failed_write_keeps_a_newer_write(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    other_connection: Callable[..., AllQueries],
    first: str,
    second: str,
) -> None:
    # Given a schedule at 07:00
    schedule_id = uuid.UUID(_create(api, workflows["alice"], cron="0 7 * * *")["id"])
    # and a second API writer on a connection of its own (another ApiFunction instance)
    other_api = ScheduleService(
        other_connection().schedule_service, EventBridgeSchedules(), lambda _: None
    )

    def second_write() -> Any:
        if second == "PATCH":
            return other_api.update_schedule(None, schedule_id, ScheduleUpdate(cron="0 9 * * *"))
        return other_api.delete_schedule(None, schedule_id)

    first_thread = threading.get_ident()
    first_failed = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    done: list[Future[Any]] = []

    def applied_then_fail(**_: Any) -> None:
        """The first write's call reaches EventBridge, then fails (e.g. a timeout on the way
        back), after the second write started and queued behind the first."""
        if threading.get_ident() != first_thread or first_failed.is_set():
            return
        first_failed.set()
        done.append(pool.submit(second_write))
        _wait_until_blocked_or_done(clean_db, done[0])
        error = {"Error": {"Code": "InternalServerException", "Message": "injected"}}
        raise ClientError(error, operation)

    def undo_after_second_write(**_: Any) -> None:
        """The first write's undo reaches EventBridge only after the second write finished."""
        if threading.get_ident() == first_thread and first_failed.is_set():
            done[0].exception(WAIT_S)  # waits; the second write may fail only if it must

    operation = "UpdateSchedule" if first == "PATCH" else "DeleteSchedule"
    hooks(f"after-call.scheduler.{operation}", applied_then_fail)
    hooks("before-call.scheduler", undo_after_second_write)

    # When the first write (to 08:00, or a delete) fails after EventBridge applied it,
    # and the second (to 09:00, or a delete) completes before the first one's undo
    try:
        if first == "PATCH":
            status, body = api.call(
                "PATCH", f"/api/schedules/{schedule_id}", body={"cron": "0 8 * * *"}
            )
        else:
            status, body = api.call("DELETE", f"/api/schedules/{schedule_id}")
        second_result = done[0].result(WAIT_S)
    finally:
        pool.shutdown(wait=True)

    # Then the first write failed, the second succeeded, and EventBridge holds the second
    assert status == 503, body
    rows = database_state(clean_db)
    state = eventbridge_state(eventbridge)
    if second == "PATCH":
        assert second_result.cron == "0 9 * * *"
        assert [row["cron"] for row in rows] == ["0 9 * * *"]
        assert list(state) == [str(schedule_id)]
        assert state[str(schedule_id)]["ScheduleExpression"] == cron.to_eventbridge("0 9 * * *")[0]
    else:
        assert rows == []
        assert state == {}
    # and the database and EventBridge agree: a reconcile pass has nothing to repair
    assert _drift(clean_db, eventbridge) == {}
