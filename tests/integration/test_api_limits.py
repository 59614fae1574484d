"""Per-owner limits (scheduler.policies.owner_limits): schedules per owner, run-now requests per
minute.

Real Postgres, moto's Scheduler API, the loopback Lambda endpoint for run now. Limits are set
small through the environment, as the template sets them; the rate limits run on a clock the
test moves, so no assertion depends on how fast this machine is.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
import pytest
from scheduler import clients
from scheduler.api.routes import routing
from scheduler.api.schedules import ScheduleService
from scheduler.errors import LimitExceeded
from scheduler.models.schedules import ScheduleCreate
from scheduler.policies.owner_limits import take_request
from scheduler.store.db import Database
from scheduler.store.limits import LimitQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from devstack.apigw import LambdaContext
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    lambda_endpoint,
    workflows,
)
from tests.integration.test_api_concurrency import (  # noqa: F401  (fixture)
    WAIT_S,
    _wait_until_blocked_or_done,
    other_connection,
)
from tests.integration.test_api_consistency import Hook, hooks  # noqa: F401  (fixture)
from tests.queries import AllQueries

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the limits as the template's parameters do: ApiFunction's environment."""

    def set_limits(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), str(value))
        clients.get_settings.cache_clear()

    yield set_limits
    clients.get_settings.cache_clear()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """ApiFunction's use cases on a clock the test moves."""
    moved = Clock(T0)
    # Every route's service is made by scheduler.api.routes.routing.schedule_service, of this class.
    monkeypatch.setattr(routing, "ScheduleService", partial(ScheduleService, clock=moved))
    return moved


def _call(api: Api, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    """Status, body and headers of one request."""
    response = api.handler(api.event(method, path, **kwargs), LambdaContext())
    body = json.loads(response["body"]) if response.get("body") else None
    return response["statusCode"], body, response.get("headers") or {}


# --- schedules per owner


def test_the_schedule_limit_is_a_429_that_names_it_and_creates_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    limits: Callable[..., None],
) -> None:
    # Given Alice at a limit of 3 schedules (over two workflows)
    limits(max_schedules_per_owner=3)
    created = [_create(api, workflows[name])["id"] for name in ("alice", "alice", "alice2")]
    before = database_state(clean_db), eventbridge_state(eventbridge)

    # When she creates a fourth
    status, body, headers = _call(
        api,
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice2"]), "cron": "0 7 * * *"},
    )

    # Then it is refused, saying which limit, with no Retry-After (waiting would not help)
    assert status == 429, body
    assert body["error"]["code"] == "limit_exceeded"
    assert "at most 3 schedules" in body["error"]["message"]
    assert "retry-after" not in {name.lower() for name in headers}
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before

    # and another owner is not held back by her
    assert (
        _call(
            Api(claims={"sub": str(BOB), "role": "authenticated", "aud": "authenticated"}),
            "POST",
            "/api/schedules",
            body={"workflowId": str(workflows["bob"]), "cron": "0 7 * * *"},
        )[0]
        == 201
    )

    # and deleting one makes room for one
    assert api.call("DELETE", f"/api/schedules/{created[0]}")[0] == 204
    _create(api, workflows["alice"])


def test_the_service_role_is_limited_per_owner_acted_on(
    api: Api, workflows: dict[str, uuid.UUID], limits: Callable[..., None]
) -> None:
    # Given Alice at her limit of 2, and Bob with none
    limits(max_schedules_per_owner=2)
    _create(api, workflows["alice"])
    _create(api, workflows["alice2"])
    service = Api(SERVICE_CLAIMS)

    # When the service role creates one for each
    for_alice = service.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "* * * * *"}
    )
    for_bob = service.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["bob"]), "cron": "* * * * *"}
    )

    # Then Alice's limit holds for it too, and Bob's count is his own
    assert for_alice[0] == 429, for_alice
    assert "at most 2 schedules" in for_alice[1]["error"]["message"]
    assert for_bob[0] == 201, for_bob
    # and an unknown workflow is still the 422 it was, not a limit
    unknown = service.call(
        "POST", "/api/schedules", body={"workflowId": str(uuid.UUID(int=7)), "cron": "* * * * *"}
    )
    assert unknown[0] == 422, unknown


def test_two_concurrent_creates_at_the_limit_do_not_both_pass(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    other_connection: Callable[..., AllQueries],
    limits: Callable[..., None],
) -> None:
    # Given Alice one schedule short of her limit, and a second API instance (own connection)
    limits(max_schedules_per_owner=2)
    _create(api, workflows["alice"])
    # its lock wait outlasts the first create's, however slow this machine is
    other_queries = other_connection(lock_timeout_ms=WAIT_S * 1000)
    other_api = ScheduleService(
        other_queries.schedule_service, EventBridgeSchedules(), lambda _: None
    )
    request = ScheduleCreate(workflowId=workflows["alice2"], cron="0 9 * * *")

    def second_create() -> Any:
        return other_api.create_schedule(ALICE, request)

    first_thread = threading.get_ident()
    pool = ThreadPoolExecutor(max_workers=1)
    second: list[Future[Any]] = []

    def hold_first_in_eventbridge(**_: Any) -> None:
        """The first create, its row inserted but not committed, calls EventBridge; the second
        starts now and gets as far as it can (waiting for a lock, or finishing)."""
        if threading.get_ident() != first_thread or second:
            return
        second.append(pool.submit(second_create))
        _wait_until_blocked_or_done(clean_db, second[0])

    hooks("before-call.scheduler.CreateSchedule", hold_first_in_eventbridge)

    # When both create Alice's second schedule at once
    try:
        first_status, first_body = api.call(
            "POST",
            "/api/schedules",
            body={"workflowId": str(workflows["alice2"]), "cron": "0 8 * * *"},
        )
        second_error = second[0].exception(WAIT_S)
    finally:
        pool.shutdown(wait=True)

    # Then exactly one got it: the first, and the second was refused after it committed
    assert first_status == 201, first_body
    assert isinstance(second_error, LimitExceeded), second_error
    assert "at most 2 schedules" in str(second_error)
    rows = database_state(clean_db)
    assert sorted(row["cron"] for row in rows) == ["0 7 * * *", "0 8 * * *"]
    assert sorted(eventbridge_state(eventbridge)) == sorted(str(row["id"]) for row in rows)


# --- run now per owner per minute


def test_run_now_is_limited_per_owner_with_a_retry_after(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    limits: Callable[..., None],
    clock: Clock,
) -> None:
    # Given Alice allowed 3 run-now requests a minute, and a schedule of hers
    limits(run_now_per_minute=3)
    schedule_id = _create(api, workflows["alice"])["id"]
    run = f"/api/schedules/{schedule_id}/run"

    # When she asks 3 times at once, then a fourth time
    answers = [_call(api, "POST", run)[0] for _ in range(3)]
    status, body, headers = _call(api, "POST", run)

    # Then 3 runs were handed to the runner, and the fourth is a 429 saying when to retry:
    # one token every 20 s at 3 a minute
    assert answers == [202, 202, 202]
    assert len(lambda_endpoint) == 3
    assert status == 429, body
    assert body["error"]["code"] == "limit_exceeded"
    assert "at most 3 run-now requests a minute" in body["error"]["message"]
    assert headers["Retry-After"] == "20"

    # and a client that waits less than that is still refused, with the rest of the wait
    clock.now = T0 + timedelta(seconds=19)
    status, _, headers = _call(api, "POST", run)
    assert (status, headers["Retry-After"]) == (429, "1")
    # while one that waits as told gets one run, and only one
    clock.now = T0 + timedelta(seconds=20)
    assert _call(api, "POST", run)[0] == 202
    assert _call(api, "POST", run)[0] == 429
    assert len(lambda_endpoint) == 4
    # and after a quiet minute the whole burst is back
    clock.now = T0 + timedelta(minutes=5)
    assert [_call(api, "POST", run)[0] for _ in range(4)] == [202, 202, 202, 429]


def test_refused_run_now_requests_cost_nothing_and_owners_do_not_share(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    limits: Callable[..., None],
    clock: Clock,
) -> None:
    # Given a limit of 2 a minute, a disabled schedule of Alice's and an enabled one of Bob's
    limits(run_now_per_minute=2)
    disabled = _create(api, workflows["alice"], enabled=False)["id"]
    enabled = _create(api, workflows["alice"])["id"]
    bob = Api(claims={"sub": str(BOB), "role": "authenticated", "aud": "authenticated"})
    bobs = _create(bob, workflows["bob"])["id"]

    # When Alice asks for runs of a disabled schedule and of one that is not there
    assert _call(api, "POST", f"/api/schedules/{disabled}/run")[0] == 409
    assert _call(api, "POST", f"/api/schedules/{uuid.UUID(int=9)}/run")[0] == 404
    # and Bob uses up his own allowance
    assert [_call(bob, "POST", f"/api/schedules/{bobs}/run")[0] for _ in range(3)] == [
        202,
        202,
        429,
    ]

    # Then none of that used hers
    assert [_call(api, "POST", f"/api/schedules/{enabled}/run")[0] for _ in range(3)] == [
        202,
        202,
        429,
    ]
    assert len(lambda_endpoint) == 4


def test_the_service_role_runs_count_against_the_owner_acted_on(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    limits: Callable[..., None],
    clock: Clock,
) -> None:
    limits(run_now_per_minute=2)
    alices = _create(api, workflows["alice"])["id"]
    bob = Api(claims={"sub": str(BOB), "role": "authenticated", "aud": "authenticated"})
    bobs = _create(bob, workflows["bob"])["id"]
    service = Api(SERVICE_CLAIMS)

    # When the service role runs Alice's schedule twice
    assert [_call(service, "POST", f"/api/schedules/{alices}/run")[0] for _ in range(2)] == [
        202,
        202,
    ]

    # Then Alice's allowance is spent, for the service role and for her, and Bob's is not
    assert _call(service, "POST", f"/api/schedules/{alices}/run")[0] == 429
    assert _call(api, "POST", f"/api/schedules/{alices}/run")[0] == 429
    assert _call(service, "POST", f"/api/schedules/{bobs}/run")[0] == 202
    assert len(lambda_endpoint) == 3


def test_concurrent_requests_from_many_instances_take_exactly_the_allowance(
    clean_db: str,
) -> None:
    # Given 12 API instances (each its own connection) and an allowance of 5 at one moment
    databases = [Database(clean_db) for _ in range(12)]
    barrier = threading.Barrier(len(databases))

    def request(database: Database) -> bool:
        barrier.wait(WAIT_S)
        try:
            take_request(LimitQueries(database), ALICE, "run_now", 5, T0)
        except LimitExceeded:
            return False
        return True

    # When all ask at once
    try:
        with ThreadPoolExecutor(max_workers=len(databases)) as pool:
            granted = list(pool.map(request, databases, timeout=WAIT_S))
    finally:
        for database in databases:
            database.close()

    # Then exactly 5 got through, whatever the interleaving
    assert sorted(granted) == [False] * 7 + [True] * 5


def test_each_kind_of_request_has_its_own_allowance(queries: AllQueries) -> None:
    # Given Alice's run-now allowance used up
    take_request(queries.limits, ALICE, "run_now", 1, T0)
    with pytest.raises(LimitExceeded):
        take_request(queries.limits, ALICE, "run_now", 1, T0)

    # Then her backfill allowance (the next kind) is untouched, and so is a workflow without
    # an owner's (the host app's own, counted together)
    take_request(queries.limits, ALICE, "backfill", 1, T0)
    take_request(queries.limits, None, "run_now", 1, T0)
    with pytest.raises(LimitExceeded, match="backfill requests"):
        take_request(queries.limits, ALICE, "backfill", 1, T0)


def test_a_clock_behind_the_newest_request_refills_nothing(queries: AllQueries) -> None:
    # Given an allowance of 2 spent at T0 + 1 min by one instance
    later = T0 + timedelta(minutes=1)
    take_request(queries.limits, ALICE, "run_now", 2, later)
    take_request(queries.limits, ALICE, "run_now", 2, later)

    # When an instance whose clock is a minute behind asks
    with pytest.raises(LimitExceeded) as refused:
        take_request(queries.limits, ALICE, "run_now", 2, T0)

    # Then it is refused: elapsed time never counts backwards
    assert refused.value.retry_after_s == 30


# --- the table


def test_clients_can_neither_read_nor_write_the_buckets(
    queries: AllQueries, database_url: str
) -> None:
    take_request(queries.limits, ALICE, "run_now", 5, T0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        secured = conn.execute(
            """select c.relrowsecurity,
                      (select count(*) from pg_policies p where p.tablename = c.relname)
               from pg_class c where c.relname = 'owner_rate_buckets'"""
        ).fetchone()
        assert secured == (True, 0)  # RLS on, and no policy for any client
        for role in ("anon", "authenticated"):
            for statement in (
                "select * from owner_rate_buckets",
                "update owner_rate_buckets set tokens = 1000",
                "delete from owner_rate_buckets",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(f"set local role {role}")
                    conn.execute(statement)
        [(tokens,)] = conn.execute("select tokens from owner_rate_buckets").fetchall()
        assert tokens == 4
