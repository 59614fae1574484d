"""The audit log's other writers and its retention, against real Postgres (behind PgBouncer): the
runner's own disables (a pause after failures, a critical error) recorded by its outcome
statement with actor "scheduler"; the bulk writer (one statement for many schedules); retention
deleting only what is older than AUDIT_RETENTION_DAYS, in batches.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from pydantic import ValidationError
from scheduler.config import from_environment
from scheduler.policies.retention import delete_expired_audit_events
from scheduler.store.audit import AuditContext

from tests.conftest import EVENTS
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    make_schedule,
    runner_fixture,
)
from tests.integration.test_alerts import (  # noqa: F401  (fixtures)
    AlertQueue,
    alert_queue_fixture,
)
from tests.integration.test_runner_pause import _fire, _schedule
from tests.queries import AllQueries

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _events(queries: AllQueries) -> list[dict[str, Any]]:
    return queries.db.execute("select * from audit_events order by occurred_at, id").fetchall()


def test_a_pause_after_failures_is_recorded_by_the_runners_record_as_the_scheduler(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=2)

    # the first failure pauses nothing: no event
    assert _fire(runner, schedule, 0).outcome == "failed"
    assert _events(runner.queries) == []
    second = _fire(runner, schedule, 1)
    assert second.outcome == "failed"

    [event] = _events(runner.queries)
    assert (event["action"], event["actor"], event["request_id"]) == (
        "auto_paused",
        "scheduler",
        None,
    )
    assert (event["subject_type"], event["subject_id"], event["owner_id"]) == (
        "schedule",
        schedule["id"],
        OWNER,
    )
    assert event["changes"] == {
        "enabled": {"before": True, "after": False},
        "disabledReason": {"before": None, "after": "paused after 2 consecutive failed runs"},
    }
    assert event["detail"] == {"runId": str(second.run_id), "consecutiveFailures": 2}
    # paused: the next fire is ignored and records nothing more
    assert _fire(runner, schedule, 2).outcome == "ignored"
    assert len(_events(runner.queries)) == 1


def test_a_critical_errors_disable_is_recorded_as_disabled_by_the_scheduler(
    runner: Runner, alert_queue: AlertQueue
) -> None:
    schedule = make_schedule(runner.queries, [{"type": "teleport"}])

    assert _fire(runner, schedule, 0).outcome == "failed"

    [event] = _events(runner.queries)
    assert (event["action"], event["actor"]) == ("disabled", "scheduler")
    assert event["changes"]["enabled"] == {"before": True, "after": False}
    assert event["changes"]["disabledReason"]["after"].startswith("disabled by the runner: ")


def test_successes_and_plain_failures_record_nothing(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    schedule = _schedule(runner, http_server, pause_after=None)
    assert _fire(runner, schedule, 0).outcome == "succeeded"
    http_server.status = 500
    assert _fire(runner, schedule, 1).outcome == "failed"
    assert _events(runner.queries) == []


def test_record_many_writes_one_event_per_schedule_in_one_statement(
    queries: AllQueries,
) -> None:
    owner = uuid4()
    workflow = queries.workflows.create_workflow(owner, "bulk")["id"]
    ids = [
        queries.schedules.create_schedule(
            None, workflow_id=workflow, cron="0 * * * *", timezone="UTC", enabled=True
        )["id"]
        for _ in range(3)
    ]
    context = AuditContext("api_key:5b9e3c1e-0000-4000-8000-000000000001", "req-bulk")

    with queries.db.transaction():
        written = queries.audit.record_many(
            context,
            ids,
            "bulk_paused",
            changes={"enabled": {"before": True, "after": False}},
            detail={"note": "freeze"},
        )

    assert written == 3
    events = _events(queries)
    assert sorted(e["subject_id"] for e in events) == sorted(ids)
    assert {
        (e["action"], e["actor"], e["request_id"], e["owner_id"], json.dumps(e["detail"]))
        for e in events
    } == {("bulk_paused", context.actor, "req-bulk", owner, '{"note": "freeze"}')}
    assert queries.audit.record_many(context, [], "bulk_resumed") == 0


def test_an_event_rolls_back_with_its_transaction(queries: AllQueries) -> None:
    workflow = queries.workflows.create_workflow(uuid4(), "rolled back")["id"]
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 * * * *", timezone="UTC", enabled=True
    )["id"]
    with pytest.raises(RuntimeError), queries.db.transaction():
        queries.audit.record(AuditContext("service_role"), "schedule", [schedule], "updated")
        raise RuntimeError("the change failed after its event was written")
    assert _events(queries) == []


def _event_at(queries: AllQueries, at: datetime) -> UUID:
    row = queries.db.execute(
        """insert into audit_events (occurred_at, actor, subject_type, subject_id, action)
           values (%s, 'service_role', 'schedule', %s, 'updated') returning id""",
        (at, uuid4()),
    ).fetchone()
    assert row is not None
    event_id: UUID = row["id"]
    return event_id


def test_retention_deletes_only_events_older_than_its_period_in_batches(
    queries: AllQueries,
) -> None:
    old = [_event_at(queries, NOW - timedelta(days=366, hours=h)) for h in range(5)]
    kept = [_event_at(queries, NOW - timedelta(days=364)), _event_at(queries, NOW)]
    assert old  # five of them
    budget = iter([True, True, True, False])

    deleted = delete_expired_audit_events(
        queries.audit, keep_days=365, now=NOW, more=lambda: next(budget), batch_size=2
    )

    # three batches (2, 2, 1): the last, short of a batch, ends the pass
    assert deleted == 5
    assert {e["id"] for e in _events(queries)} == set(kept)


def test_retention_stops_when_its_budget_is_spent_and_the_next_pass_goes_on(
    queries: AllQueries,
) -> None:
    for h in range(3):
        _event_at(queries, NOW - timedelta(days=400, hours=h))
    budget = iter([True, False])
    first = delete_expired_audit_events(
        queries.audit, keep_days=365, now=NOW, more=lambda: next(budget), batch_size=2
    )
    assert (first, len(_events(queries))) == (2, 1)
    second = delete_expired_audit_events(
        queries.audit, keep_days=365, now=NOW, more=lambda: True, batch_size=2
    )
    assert (second, _events(queries)) == (1, [])


def test_the_retention_handler_keeps_365_days_by_default(
    queries: AllQueries, clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIT_RETENTION_DAYS", raising=False)
    now = datetime.now(UTC)
    _event_at(queries, now - timedelta(days=366))
    kept = _event_at(queries, now - timedelta(days=364))
    from devstack.apigw import LambdaContext
    from functions.retention.app import lambda_handler

    event = json.loads((EVENTS / "retention.json").read_text())
    summary = lambda_handler(event, LambdaContext(function_name="RetentionFunction", timeout_s=300))

    assert summary["audit_events_deleted"] == 1
    assert [e["id"] for e in _events(queries)] == [kept]


@pytest.mark.parametrize("days", ["0", "3651", "a year"])
def test_the_audit_retention_setting_refuses_what_is_not_1_to_3650_days(
    days: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", days)
    with pytest.raises(ValidationError, match="audit_retention_days"):
        from_environment()


def test_supabase_clients_read_only_their_own_events(
    queries: AllQueries, database_url: str
) -> None:
    mine, theirs = uuid4(), uuid4()
    for owner in (mine, theirs):
        queries.db.execute(
            """insert into audit_events (owner_id, actor, subject_type, subject_id, action)
               values (%s, 'service_role', 'schedule', %s, 'created')""",
            (owner, uuid4()),
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("begin")
        conn.execute("set local role authenticated")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": str(mine)}),)
        )
        rows = conn.execute("select owner_id from audit_events").fetchall()
        assert rows == [(mine,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                """insert into audit_events (owner_id, actor, subject_type, subject_id, action)
                   values (%s, 'me', 'schedule', %s, 'created')""",
                (mine, uuid4()),
            )
        conn.execute("rollback")
