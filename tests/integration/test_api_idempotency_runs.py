"""Idempotency-Key on run now and backfill, and how long keys are kept: a retried run now starts
one run, a retried backfill queues once, a run now whose runner invocation fails records no key.
Real Postgres, moto, a loopback stand-in for Lambda's Invoke API (test_api.lambda_endpoint).
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from scheduler import clients
from scheduler.policies.idempotency import KEEP, delete_expired_keys
from scheduler.store.idempotency import IdempotencyQueries

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    eventbridge,
    lambda_endpoint,
    workflows,
)
from tests.queries import process_queries

# The whole hour the module started in: the backfill's fire times are whole hours off it.
_THIS_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _key() -> dict[str, str]:
    return {"idempotency-key": f"retry-{uuid.uuid4()}"}


def _count(clean_db: str, sql: str) -> int:
    with psycopg.connect(clean_db) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_a_retried_run_now_starts_one_run_and_answers_the_same(
    api: Api, workflows: dict[str, uuid.UUID], lambda_endpoint: list[dict[str, Any]]
) -> None:
    schedule = _create(api, workflows["alice"])
    key, path = _key(), f"/api/schedules/{schedule['id']}/run"

    first = api.call("POST", path, headers=key)
    again = api.call("POST", path, headers=key)

    assert first[0] == 202, first
    assert again == first
    [invoke] = lambda_endpoint  # one run handed to the runner
    handed_on = datetime.fromisoformat(invoke["payload"]["scheduledTime"])
    assert handed_on == datetime.fromisoformat(first[1]["scheduledTime"])
    # without a key, another click is another run (two clicks in one second are two runs)
    assert api.call("POST", path)[0] == 202
    assert len(lambda_endpoint) == 2


@pytest.fixture
def lambda_fails_once(lambda_endpoint: list[dict[str, Any]]) -> Iterator[list[bool]]:
    """Lambda's Invoke answers the first call with a throttle, then the stand-in takes calls."""
    failed: list[bool] = []

    def hook(**_: Any) -> None:
        if not failed:
            failed.append(True)
            raise ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")

    events = clients.aws_client("lambda").meta.events
    events.register("before-call.lambda.Invoke", hook)
    yield failed
    events.unregister("before-call.lambda.Invoke", hook)


def test_a_run_now_whose_invocation_fails_records_no_key_and_its_retry_runs_once(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    lambda_fails_once: list[bool],
    clean_db: str,
) -> None:
    schedule = _create(api, workflows["alice"])
    key, path = _key(), f"/api/schedules/{schedule['id']}/run"

    status, body = api.call("POST", path, headers=key)

    # Then the failure is retryable, nothing was handed on, nothing recorded, no token taken
    assert lambda_fails_once == [True]
    assert status == 503, body
    assert lambda_endpoint == []
    assert _count(clean_db, "select count(*) from idempotency_keys") == 0
    assert _count(clean_db, "select count(*) from owner_rate_buckets") == 0

    # and the retry with the same key runs it, once
    first = api.call("POST", path, headers=key)
    assert first[0] == 202, first
    assert api.call("POST", path, headers=key) == first
    assert len(lambda_endpoint) == 1


def test_a_retried_backfill_queues_once_and_answers_the_same(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    clean_db: str,
) -> None:
    schedule = _create(api, workflows["alice"], cron="0 * * * *")
    key, path = _key(), f"/api/schedules/{schedule['id']}/backfill"
    interval = {
        "from": (_THIS_HOUR - timedelta(hours=4)).isoformat(),
        "to": (_THIS_HOUR - timedelta(hours=1)).isoformat(),
    }

    first = api.call("POST", path, body=interval, headers=key)
    again = api.call("POST", path, body=interval, headers=key)

    assert first[0] == 202, first
    assert first[1]["queued"] == 4
    # the retry answers as the first did (a new request would answer `queued: 0`) and hands
    # nothing on again
    assert again == first
    assert len(lambda_endpoint) == 1
    assert _count(clean_db, "select count(*) from schedule_runs") == 4
    # and the same key with another interval is a 422
    other = {**interval, "from": (_THIS_HOUR - timedelta(hours=3)).isoformat()}
    status, body = api.call("POST", path, body=other, headers=key)
    assert status == 422, body
    assert "different request body" in body["error"]["message"]


def test_keys_are_kept_a_day_then_deleted_by_the_retention_pass(clean_db: str) -> None:
    queries = IdempotencyQueries(process_queries().db)
    now = datetime.now(UTC)
    with psycopg.connect(clean_db) as conn:
        conn.execute(
            """insert into idempotency_keys (scope, key, operation, request_fingerprint,
                                             response_status, response_body, created_at)
               select 'user:x', 'k' || n, 'createSchedule', 'f', 201, '{}'::jsonb, at
               from unnest(array[%s, %s, %s]::timestamptz[]) with ordinality as t(at, n)""",
            (now - KEEP - timedelta(minutes=1), now - KEEP + timedelta(minutes=1), now),
        )

    deleted = delete_expired_keys(queries, now=now, more=lambda: True)

    assert deleted == 1
    assert _count(clean_db, "select count(*) from idempotency_keys") == 2
    assert _count(clean_db, "select count(*) from idempotency_keys where key = 'k1'") == 0


def test_a_retention_pass_stops_deleting_keys_when_its_budget_is_spent(clean_db: str) -> None:
    queries = IdempotencyQueries(process_queries().db)
    with psycopg.connect(clean_db) as conn:
        conn.execute(
            """insert into idempotency_keys (scope, key, operation, request_fingerprint,
                                             response_status, response_body, created_at)
               values ('user:x', 'old', 'createSchedule', 'f', 201, '{}',
                       now() - interval '2 days')"""
        )

    assert delete_expired_keys(queries, now=datetime.now(UTC), more=lambda: False) == 0
    assert _count(clean_db, "select count(*) from idempotency_keys") == 1


def test_the_hourly_retention_function_deletes_expired_keys(clean_db: str) -> None:
    with psycopg.connect(clean_db) as conn:
        conn.execute(
            """insert into idempotency_keys (scope, key, operation, request_fingerprint,
                                             response_status, response_body, created_at)
               values ('user:x', 'old', 'createSchedule', 'f', 201, '{}',
                       now() - interval '25 hours'),
                      ('user:x', 'new', 'createSchedule', 'f', 201, '{}', now())"""
        )
    from devstack.apigw import LambdaContext
    from functions.retention.app import lambda_handler

    summary = lambda_handler({}, LambdaContext(function_name="RetentionFunction", timeout_s=300))

    assert summary["idempotency_keys_deleted"] == 1
    assert _count(clean_db, "select count(*) from idempotency_keys where key = 'new'") == 1
    assert _count(clean_db, "select count(*) from idempotency_keys") == 1
