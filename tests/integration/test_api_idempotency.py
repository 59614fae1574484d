"""Idempotency-Key on POST /api/schedules, run now and backfill, through the API's handler:
a retry (after a timeout, a lost answer) gets the first answer back and does nothing twice; a
failure before the commit leaves neither the effect nor the key's record. Real Postgres, moto
for EventBridge Scheduler, a loopback stand-in for Lambda's Invoke API; faults are injected
with botocore hooks and by dropping the API's database connection (test_api_consistency).
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
from scheduler.errors import Conflict
from scheduler.models.schedules import ScheduleCreate
from scheduler.policies.idempotency import IdempotentRequest
from scheduler.store.db import Database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB_CLAIMS,
    Api,
    api,
    database_state,
    eventbridge,
    lambda_endpoint,
    workflows,
)
from tests.integration.test_api_consistency import (  # noqa: F401  (fixture)
    Hook,
    _fail_with,
    _kill_api_connection,
    hooks,
)

WAIT_S = 10  # how long a test waits for the other request before giving up (a hang fails)
# The whole hour the module started in: the backfill's fire times are whole hours off it.
_THIS_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _key() -> dict[str, str]:
    # API Gateway's HTTP API hands the handler lower-case header names
    return {"idempotency-key": f"retry-{uuid.uuid4()}"}


def _create_body(workflow_id: uuid.UUID, cron: str = "0 7 * * *") -> dict[str, Any]:
    return {"workflowId": str(workflow_id), "cron": cron}


def _records(clean_db: str) -> list[dict[str, Any]]:
    with psycopg.connect(clean_db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select scope, key, operation, response_status from idempotency_keys order by key"
        ).fetchall()


def test_a_retried_create_answers_the_same_and_creates_one_schedule(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
) -> None:
    key, body = _key(), _create_body(workflows["alice"])

    # When the create is sent, its answer is lost, and the client sends it again
    first = api.call("POST", "/api/schedules", body=body, headers=key)
    again = api.call("POST", "/api/schedules", body=body, headers=key)

    # Then the retry answers exactly as the first did, and there is one schedule
    assert first[0] == 201, first
    assert again == first
    [row] = database_state(clean_db)
    assert str(row["id"]) == first[1]["id"]
    assert eventbridge.list_names() == [str(row["id"])]
    assert _records(clean_db) == [
        {
            "scope": f"user:{ALICE}",
            "key": key["idempotency-key"],
            "operation": "createSchedule",
            "response_status": 201,
        }
    ]


def test_a_create_without_the_header_is_not_deduplicated(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    body = _create_body(workflows["alice"])
    assert api.call("POST", "/api/schedules", body=body)[0] == 201
    assert api.call("POST", "/api/schedules", body=body)[0] == 201
    assert len(database_state(clean_db)) == 2
    assert _records(clean_db) == []


def test_the_same_key_with_another_body_or_operation_is_a_422_that_changes_nothing(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, lambda_endpoint: list[Any]
) -> None:
    key = _key()
    status, created = api.call(
        "POST", "/api/schedules", body=_create_body(workflows["alice"]), headers=key
    )
    assert status == 201, created

    other_body = api.call(
        "POST", "/api/schedules", body=_create_body(workflows["alice"], "0 8 * * *"), headers=key
    )
    other_operation = api.call("POST", f"/api/schedules/{created['id']}/run", headers=key)

    assert other_body[0] == 422, other_body
    assert "Idempotency-Key" in other_body[1]["error"]["message"]
    assert "different request body" in other_body[1]["error"]["message"]
    assert other_operation[0] == 422, other_operation
    assert "another operation (createSchedule)" in other_operation[1]["error"]["message"]
    assert len(database_state(clean_db)) == 1
    assert lambda_endpoint == []


def test_the_same_key_for_another_schedule_is_a_422(
    api: Api, workflows: dict[str, uuid.UUID], lambda_endpoint: list[Any]
) -> None:
    key = _key()
    first, second = (
        api.call("POST", "/api/schedules", body=_create_body(workflows[w]))[1]
        for w in ("alice", "alice2")
    )
    assert api.call("POST", f"/api/schedules/{first['id']}/run", headers=key)[0] == 202

    status, body = api.call("POST", f"/api/schedules/{second['id']}/run", headers=key)

    assert status == 422, body
    assert "different request body or path" in body["error"]["message"]
    assert len(lambda_endpoint) == 1


def test_keys_are_scoped_per_caller(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    key = _key()
    alice = api.call("POST", "/api/schedules", body=_create_body(workflows["alice"]), headers=key)
    bob = api.call(
        "POST",
        "/api/schedules",
        body=_create_body(workflows["bob"]),
        headers=key,
        claims=BOB_CLAIMS,
    )

    assert (alice[0], bob[0]) == (201, 201)
    assert alice[1]["id"] != bob[1]["id"]
    assert len(database_state(clean_db)) == 2


@pytest.mark.parametrize("bad_key", ["", "x" * 256, "clé", "tab\there"])
def test_a_malformed_key_is_a_422_naming_the_header(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, bad_key: str
) -> None:
    status, body = api.call(
        "POST",
        "/api/schedules",
        body=_create_body(workflows["alice"]),
        headers={"idempotency-key": bad_key},
    )

    assert status == 422, body
    assert "idempotency-key" in body["error"]["message"].lower()
    assert database_state(clean_db) == []
    assert _records(clean_db) == []


def _fail_once(code: str) -> Hook:
    """A before-call hook that fails the first call with `code` and lets the later ones by."""
    fail_after_none = _fail_with(code)
    failed: list[bool] = []

    def hook(**kwargs: Any) -> None:
        if not failed:
            failed.append(True)
            fail_after_none(**kwargs)

    return hook


@pytest.mark.parametrize(
    ("event_name", "fault"),
    [
        ("before-call.scheduler.CreateSchedule", lambda: _fail_once("InternalServerException")),
        ("after-call.scheduler.CreateSchedule", _kill_api_connection),
    ],
    ids=["eventbridge-fails", "commit-fails"],
)
def test_a_create_that_fails_records_no_key_and_its_retry_creates_once(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    event_name: str,
    fault: Callable[[], Hook],
) -> None:
    key, body = _key(), _create_body(workflows["alice"])
    hooks(event_name, fault())  # once: the retry goes through

    status, answer = api.call("POST", "/api/schedules", body=body, headers=key)

    # Then the create undid itself: no row, no EventBridge schedule, no record of the key
    assert status == 503, answer
    assert database_state(clean_db) == []
    assert eventbridge.list_names() == []
    assert _records(clean_db) == []

    # and the client's retry with the same key creates the schedule, once
    status, created = api.call("POST", "/api/schedules", body=body, headers=key)
    assert status == 201, created
    again = api.call("POST", "/api/schedules", body=body, headers=key)
    assert again == (201, created)
    [row] = database_state(clean_db)
    assert eventbridge.list_names() == [str(row["id"])]


def _stalled_create(hooks: Callable[[str, Hook], None]) -> tuple[threading.Event, threading.Event]:
    """Hold the first CreateSchedule call (the first request's, its key claimed) until released."""
    in_eventbridge, release = threading.Event(), threading.Event()

    def stall(**_: Any) -> None:
        if not in_eventbridge.is_set():
            in_eventbridge.set()
            release.wait(WAIT_S)

    hooks("before-call.scheduler.CreateSchedule", stall)
    return in_eventbridge, release


def _wait_until_a_backend_waits_on_a_lock(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for _ in range(WAIT_S * 20):
            waiting = conn.execute(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            threading.Event().wait(0.05)
    raise AssertionError("the second request never waited for the first one's key")


def _second_create(
    database: Database, body: dict[str, Any], key: dict[str, str]
) -> Callable[[], Any]:
    """The same request from another ApiFunction instance (its own database connection)."""
    request = ScheduleCreate.model_validate(body)
    idempotent = IdempotentRequest.of(
        f"user:{ALICE}", key["idempotency-key"], "createSchedule", "/api/schedules", request
    )
    service = ScheduleService(
        ScheduleServiceQueries.over(database), EventBridgeSchedules(), lambda _: None
    )
    return lambda: service.create_schedule(ALICE, request, idempotent)


def test_two_concurrent_creates_with_one_key_make_one_schedule(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    key, body = _key(), _create_body(workflows["alice"])
    in_eventbridge, release = _stalled_create(hooks)
    database = Database(clean_db)
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            # Given a create held inside its EventBridge call, its key claimed, uncommitted
            first = pool.submit(api.call, "POST", "/api/schedules", body=body, headers=key)
            assert in_eventbridge.wait(WAIT_S)
            # When the same request arrives at another instance, it waits for the first
            second = pool.submit(_second_create(database, body, key))
            _wait_until_a_backend_waits_on_a_lock(clean_db)
        finally:
            release.set()
        status, created = first.result(WAIT_S)
        replayed = second.result(WAIT_S)
    database.close()

    # Then both answer with the one schedule the first created
    assert status == 201, created
    assert replayed.model_dump(mode="json", by_alias=True) == created
    [row] = database_state(clean_db)
    assert eventbridge.list_names() == [str(row["id"])]


def test_a_retry_that_waits_too_long_for_the_first_request_is_a_409_to_retry(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    key, body = _key(), _create_body(workflows["alice"])
    in_eventbridge, release = _stalled_create(hooks)
    impatient = Database(clean_db, lock_timeout_ms=100)
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            first = pool.submit(api.call, "POST", "/api/schedules", body=body, headers=key)
            assert in_eventbridge.wait(WAIT_S)

            # When the retry's wait for the first request's key passes its lock timeout
            with pytest.raises(Conflict, match="still in progress; retry"):
                _second_create(impatient, body, key)()
        finally:
            release.set()
        status, created = first.result(WAIT_S)
    impatient.close()

    # Then it changed nothing, and the first request went through; a later retry replays it
    assert status == 201, created
    assert api.call("POST", "/api/schedules", body=body, headers=key) == (201, created)
    assert len(database_state(clean_db)) == 1
