"""The audit log through the API's handler: every change of a schedule or an API key records one
event (who, when, which request, what changed) in the change's transaction; a change that fails
records nothing; a replayed Idempotency-Key records nothing again; owners read their schedules'
events, service credentials read every event. Real Postgres, moto for EventBridge Scheduler, a
loopback stand-in for Lambda's Invoke API; faults injected with botocore hooks.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from devstack.apigw import LambdaContext
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB_CLAIMS,
    SERVICE_CLAIMS,
    Api,
    api,
    eventbridge,
    lambda_endpoint,
    workflows,
)
from tests.integration.test_api_consistency import (  # noqa: F401  (fixture)
    Hook,
    _fail_with,
    hooks,
)

_THIS_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _call(api: Api, method: str, path: str, request_id: str, **kwargs: Any) -> tuple[int, Any]:
    """A request with its own API Gateway request id."""
    event = api.event(method, path, **kwargs)
    event["requestContext"]["requestId"] = request_id
    response = api.handler(event, LambdaContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None


def _events(clean_db: str) -> list[dict[str, Any]]:
    """Every stored event, oldest first."""
    with psycopg.connect(clean_db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("select * from audit_events order by occurred_at, id").fetchall()


def _schedule_events(api: Api, schedule_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    status, page = api.call("GET", f"/api/schedules/{schedule_id}/events", **kwargs)
    assert status == 200, page
    return page["items"]  # type: ignore[no-any-return]


def test_each_change_of_a_schedule_records_one_event_with_its_actor_request_and_fields(
    api: Api,
    workflows: dict[str, uuid.UUID],
    clean_db: str,
    lambda_endpoint: list[Any],
) -> None:
    actor = f"user:{ALICE}"
    body = {"workflowId": str(workflows["alice"]), "cron": "0 * * * *", "name": "hourly"}
    status, created = _call(api, "POST", "/api/schedules", "req-create", body=body)
    assert status == 201, created
    path = f"/api/schedules/{created['id']}"

    assert _call(api, "PATCH", path, "req-cron", body={"cron": "30 * * * *"})[0] == 200
    # the same value again changes nothing anyone sees: no event
    assert _call(api, "PATCH", path, "req-same", body={"cron": "30 * * * *"})[0] == 200
    pause = {"enabled": False, "note": "maintenance"}
    assert _call(api, "PATCH", path, "req-pause", body=pause)[0] == 200
    assert _call(api, "PATCH", path, "req-resume", body={"enabled": True})[0] == 200
    assert _call(api, "POST", f"{path}/run", "req-run")[0] == 202
    interval = {
        "from": (_THIS_HOUR - timedelta(hours=3)).isoformat(),
        "to": (_THIS_HOUR - timedelta(hours=2)).isoformat(),
    }
    status, accepted = _call(api, "POST", f"{path}/backfill", "req-backfill", body=interval)
    assert status == 202, accepted
    assert _call(api, "DELETE", path, "req-delete")[0] == 204

    stored = _events(clean_db)
    assert [(e["action"], e["request_id"]) for e in stored] == [
        ("created", "req-create"),
        ("updated", "req-cron"),
        ("paused", "req-pause"),
        ("resumed", "req-resume"),
        ("run_now", "req-run"),
        ("backfill", "req-backfill"),
        ("deleted", "req-delete"),
    ]
    assert {(e["actor"], e["owner_id"], e["subject_type"]) for e in stored} == {
        (actor, ALICE, "schedule")
    }
    assert {str(e["subject_id"]) for e in stored} == {created["id"]}
    by_action = {e["action"]: e for e in stored}
    assert by_action["created"]["changes"]["cron"] == {"before": None, "after": "0 * * * *"}
    assert by_action["created"]["changes"]["name"] == {"before": None, "after": "hourly"}
    assert by_action["updated"]["changes"] == {
        "cron": {"before": "0 * * * *", "after": "30 * * * *"}
    }
    assert by_action["paused"]["changes"] == {
        "enabled": {"before": True, "after": False},
        "note": {"before": None, "after": "maintenance"},
    }
    assert by_action["paused"]["detail"] == {"note": "maintenance"}
    assert by_action["resumed"]["changes"]["enabled"] == {"before": False, "after": True}
    assert by_action["backfill"]["detail"]["fires"] == accepted["fires"] == 1  # :30 of H-3
    assert by_action["deleted"]["changes"]["cron"] == {"before": "30 * * * *", "after": None}

    # The owner still reads the events of her deleted schedule, newest first, page by page
    status, first = api.call("GET", f"{path}/events", query="limit=4")
    assert status == 200, first
    assert [e["action"] for e in first["items"]] == ["deleted", "backfill", "run_now", "resumed"]
    assert first["items"][0]["requestId"] == "req-delete"
    assert first["items"][0]["actor"] == actor
    status, rest = api.call("GET", f"{path}/events", query=f"limit=4&cursor={first['nextCursor']}")
    assert [e["action"] for e in rest["items"]] == ["paused", "updated", "created"]
    assert rest["nextCursor"] is None


def test_a_schedules_input_is_recorded_by_its_size_never_its_values(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "input": {"pin": "4711"}}
    status, created = api.call("POST", "/api/schedules", body=body)
    assert status == 201, created
    changed = {"input": {"pin": "0815", "extra": "hunter2"}}
    assert api.call("PATCH", f"/api/schedules/{created['id']}", body=changed)[0] == 200

    created_event, updated_event = _events(clean_db)
    assert created_event["changes"]["input"] == {"before": None, "after": {"bytes": 14}}
    assert updated_event["changes"] == {"input": {"before": {"bytes": 14}, "after": {"bytes": 32}}}
    everything = json.dumps(
        [*_events(clean_db), *_schedule_events(api, created["id"])], default=str
    )
    assert "4711" not in everything
    assert "0815" not in everything
    assert "hunter2" not in everything


def test_a_one_time_schedules_at_is_recorded_as_created_and_as_each_re_arm(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    first, second = _THIS_HOUR + timedelta(days=2), _THIS_HOUR + timedelta(days=3)
    body = {"workflowId": str(workflows["alice"]), "at": first.isoformat()}
    status, created = api.call("POST", "/api/schedules", body=body)
    assert status == 201, created
    re_arm = {"at": second.isoformat()}
    assert api.call("PATCH", f"/api/schedules/{created['id']}", body=re_arm)[0] == 200

    created_event, re_armed_event = _events(clean_db)
    utc = "%Y-%m-%dT%H:%M:%SZ"
    assert created_event["changes"]["at"] == {"before": None, "after": first.strftime(utc)}
    assert "cron" not in created_event["changes"]  # null before and after
    assert re_armed_event["action"] == "updated"
    assert re_armed_event["changes"] == {
        "at": {"before": first.strftime(utc), "after": second.strftime(utc)}
    }


@pytest.mark.parametrize(
    ("method", "operation", "body"),
    [
        ("POST", "CreateSchedule", {"cron": "0 8 * * *"}),
        ("PATCH", "UpdateSchedule", {"cron": "0 8 * * *"}),
        ("PATCH", "UpdateSchedule", {"enabled": False}),
        ("DELETE", "DeleteSchedule", None),
    ],
)
def test_a_change_whose_eventbridge_call_fails_records_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    clean_db: str,
    hooks: Any,
    method: str,
    operation: str,
    body: dict[str, Any] | None,
) -> None:
    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201
    before = _events(clean_db)
    hooks(f"before-call.scheduler.{operation}", _fail_with("InternalServerException"))

    if method == "POST":
        status, answer = api.call(
            "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), **(body or {})}
        )
    else:
        status, answer = api.call(method, f"/api/schedules/{created['id']}", body=body)

    assert status == 503, answer
    assert _events(clean_db) == before  # the event rolled back with the change


def test_a_replayed_idempotency_key_records_no_second_event(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, lambda_endpoint: list[Any]
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    create_key = {"idempotency-key": f"create-{uuid.uuid4()}"}
    first = api.call("POST", "/api/schedules", body=body, headers=create_key)
    again = api.call("POST", "/api/schedules", body=body, headers=create_key)
    assert first[0] == 201
    assert again == first
    run_key = {"idempotency-key": f"run-{uuid.uuid4()}"}
    path = f"/api/schedules/{first[1]['id']}/run"
    assert api.call("POST", path, headers=run_key)[0] == 202
    assert api.call("POST", path, headers=run_key)[0] == 202

    assert [e["action"] for e in _events(clean_db)] == ["created", "run_now"]
    assert len(lambda_endpoint) == 1


def test_a_run_now_the_runner_does_not_accept_records_nothing(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler import clients

    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201
    # nothing listens there: the invocation fails
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    clients.aws_client.cache_clear()
    try:
        status, answer = api.call("POST", f"/api/schedules/{created['id']}/run")
    finally:
        clients.aws_client.cache_clear()
    assert status >= 500, answer
    assert [e["action"] for e in _events(clean_db)] == ["created"]


def test_another_owners_schedule_events_are_a_404_and_a_service_credential_reads_them(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201
    path = f"/api/schedules/{created['id']}/events"

    status, body = api.call("GET", path, claims=BOB_CLAIMS)
    assert status == 404, body
    assert api.call("GET", f"/api/schedules/{uuid.uuid4()}/events")[0] == 404
    # a schedule written before the audit log existed: its owner gets an empty page, not a 404
    with psycopg.connect(api_database_url(), autocommit=True) as conn:
        conn.execute("delete from audit_events")
    assert api.call("GET", path) == (200, {"items": [], "nextCursor": None})
    assert api.call("GET", path, claims=BOB_CLAIMS)[0] == 404

    api.call("PATCH", f"/api/schedules/{created['id']}", body={"cron": "0 9 * * *"})
    [event] = _schedule_events(api, created["id"], claims=SERVICE_CLAIMS)
    assert (event["action"], event["ownerId"]) == ("updated", str(ALICE))


def api_database_url() -> str:
    import os

    return os.environ["DATABASE_URL"]


def test_the_service_listing_refuses_user_tokens_and_filters_and_pages_every_event(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201
    status, key = api.call("POST", "/api/keys", body={"name": "worker"}, claims=SERVICE_CLAIMS)
    assert status == 201, key

    status, refused = api.call("GET", "/api/audit-events")
    assert status == 403, refused
    assert refused["error"]["code"] == "forbidden"

    status, everything = api.call("GET", "/api/audit-events", claims=SERVICE_CLAIMS)
    assert status == 200, everything
    assert [(e["subjectType"], e["action"]) for e in everything["items"]] == [
        ("api_key", "key_issued"),
        ("schedule", "created"),
    ]
    status, keys = api.call(
        "GET", "/api/audit-events", query="subjectType=api_key", claims=SERVICE_CLAIMS
    )
    assert [e["subjectId"] for e in keys["items"]] == [key["id"]]
    status, alices = api.call(
        "GET", "/api/audit-events", query=f"actor=user:{ALICE}", claims=SERVICE_CLAIMS
    )
    assert [e["subjectId"] for e in alices["items"]] == [created["id"]]
    status, one = api.call(
        "GET", "/api/audit-events", query=f"subjectId={created['id']}", claims=SERVICE_CLAIMS
    )
    assert [e["action"] for e in one["items"]] == ["created"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    status, none = api.call(
        "GET", "/api/audit-events", query=f"since={future}", claims=SERVICE_CLAIMS
    )
    assert (status, none["items"]) == (200, [])
    status, all_before = api.call(
        "GET", "/api/audit-events", query=f"until={future}", claims=SERVICE_CLAIMS
    )
    assert len(all_before["items"]) == 2
    status, first = api.call("GET", "/api/audit-events", query="limit=1", claims=SERVICE_CLAIMS)
    status, second = api.call(
        "GET",
        "/api/audit-events",
        query=f"limit=1&cursor={first['nextCursor']}",
        claims=SERVICE_CLAIMS,
    )
    assert [e["id"] for e in first["items"] + second["items"]] == [
        e["id"] for e in everything["items"]
    ]
    # bad filters are a 422 naming the parameter
    for bad in ("subjectType=workflow", "since=2026-12-01T00:00:00", "subjectId=nope"):
        status, answer = api.call("GET", "/api/audit-events", query=bad, claims=SERVICE_CLAIMS)
        assert status == 422, (bad, answer)


def test_issuing_and_revoking_keys_records_their_scope_never_their_secret(
    api: Api, clean_db: str
) -> None:
    status, parent = api.call(
        "POST",
        "/api/keys",
        body={"name": "alice's worker", "ownerId": str(ALICE), "readOnly": True},
        claims=SERVICE_CLAIMS,
    )
    assert status == 201, parent
    assert api.call("DELETE", f"/api/keys/{parent['id']}", claims=SERVICE_CLAIMS)[0] == 204

    issued, revoked = _events(clean_db)
    assert (issued["action"], issued["actor"], str(issued["subject_id"])) == (
        "key_issued",
        "service_role",
        parent["id"],
    )
    assert issued["owner_id"] == ALICE
    assert issued["detail"] == {
        "name": "alice's worker",
        "ownerId": str(ALICE),
        "readOnly": True,
        "expiresAt": None,
    }
    assert (revoked["action"], str(revoked["subject_id"])) == ("key_revoked", parent["id"])
    with psycopg.connect(clean_db) as conn:
        [digest] = conn.execute("select secret_sha256 from api_keys").fetchone()  # type: ignore[misc]
    stored = json.dumps(_events(clean_db), default=str)
    assert parent["key"] not in stored
    assert bytes(digest).hex() not in stored


def test_deleting_a_workflow_with_its_schedules_records_each_schedules_deletion(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    ids = []
    for cron in ("0 7 * * *", "0 8 * * *"):
        status, created = api.call(
            "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": cron}
        )
        assert status == 201
        ids.append(created["id"])

    status, _ = api.call("DELETE", f"/api/workflows/{workflows['alice']}", query="schedules=delete")
    assert status == 204

    deleted = [e for e in _events(clean_db) if e["action"] == "deleted"]
    assert sorted(str(e["subject_id"]) for e in deleted) == sorted(ids)
    assert {e["owner_id"] for e in deleted} == {ALICE}
    assert {e["detail"]["withWorkflow"] for e in deleted} == {str(workflows["alice"])}


def test_an_api_keys_changes_name_the_key_and_a_revocation_names_each_key_it_reached(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    from tests.integration.test_api_keys import Gateway

    gateway = Gateway(api)
    status, parent = api.call("POST", "/api/keys", body={"name": "all"}, claims=SERVICE_CLAIMS)
    assert status == 201, parent
    status, child = gateway.call(parent["key"], "POST", "/api/keys", body={"name": "child"})
    assert status == 201, child
    status, created = gateway.call(
        parent["key"],
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"},
    )
    assert status == 201, created
    assert api.call("DELETE", f"/api/keys/{parent['id']}", claims=SERVICE_CLAIMS)[0] == 204

    stored = [
        (e["action"], e["actor"], str(e["subject_id"]), e["detail"]) for e in _events(clean_db)
    ]
    key_actor = f"api_key:{parent['id']}"
    assert stored[1][:3] == ("key_issued", key_actor, child["id"])
    assert stored[2][:3] == ("created", key_actor, created["id"])
    # one transaction, one occurredAt: the two revocations in either order
    assert sorted(stored[3:], key=lambda event: event[2] != parent["id"]) == [
        ("key_revoked", "service_role", parent["id"], {}),
        ("key_revoked", "service_role", child["id"], {"withIssuer": parent["id"]}),
    ]


def test_a_put_by_external_id_records_created_then_updated_and_nothing_when_unchanged(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    path = "/api/schedules/by-external-id/billing-42"
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    assert api.call("PUT", path, body=body)[0] == 201
    assert api.call("PUT", path, body=body)[0] == 200  # the same PUT again: nothing changes
    assert api.call("PUT", path, body={**body, "cron": "0 8 * * *"})[0] == 200

    created, updated = _events(clean_db)
    assert created["action"] == "created"
    assert created["changes"]["externalId"] == {"before": None, "after": "billing-42"}
    assert (updated["action"], updated["changes"]) == (
        "updated",
        {"cron": {"before": "0 7 * * *", "after": "0 8 * * *"}},
    )


def test_concurrent_changes_of_a_schedule_record_a_chain_of_before_and_after(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
    from scheduler.models.schedules import ScheduleUpdate
    from scheduler.store.audit import AuditContext
    from scheduler.store.db import Database
    from scheduler.sync.eventbridge import EventBridgeSchedules

    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201
    schedule_id = uuid.UUID(created["id"])

    def change(writer: int) -> None:
        # two API instances: each its own connection, as two Lambda instances have
        database = Database(clean_db)
        service = ScheduleService(
            ScheduleServiceQueries.over(database), EventBridgeSchedules(), lambda _: None
        )
        try:
            for n in range(5):
                service.update_schedule(
                    ALICE,
                    schedule_id,
                    ScheduleUpdate.model_validate({"note": f"writer {writer} change {n}"}),
                    AuditContext(f"user:{ALICE}", f"writer-{writer}-{n}"),
                )
        finally:
            database.close()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(change, (1, 2)))

    # Ordered by when each was recorded, every event's `before` is the `after` of the one
    # before it: the writer lock serialises the changes, and each event is recorded under it
    notes = [e["changes"]["note"] for e in _events(clean_db) if e["action"] == "updated"]
    assert len(notes) == 10
    assert notes[0]["before"] is None
    for earlier, later in itertools.pairwise(notes):
        assert later["before"] == earlier["after"]
    _, final = api.call("GET", f"/api/schedules/{schedule_id}")
    assert final["note"] == notes[-1]["after"]


def test_a_bulk_change_records_one_event_per_schedule_it_changed_with_the_note_and_filter(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    ids = [_call(api, "POST", "/api/schedules", f"req-c{i}", body=body)[1]["id"] for i in range(3)]
    assert (
        _call(api, "PATCH", f"/api/schedules/{ids[0]}", "req-p", body={"enabled": False})[0] == 200
    )
    bulk = {"filter": {"workflowId": str(workflows["alice"])}, "note": "INC-9: vendor down"}
    key = {"idempotency-key": f"bulk-{uuid.uuid4()}"}

    status, answer = _call(
        api, "POST", "/api/schedules/bulk-pause", "req-bulk", body=bulk, headers=key
    )
    assert status == 200, answer
    # a keyed retry replays the answer and records nothing again
    assert _call(api, "POST", "/api/schedules/bulk-pause", "req-retry", body=bulk, headers=key) == (
        200,
        answer,
    )
    resume = {"filter": {"workflowId": str(workflows["alice"])}}
    assert _call(api, "POST", "/api/schedules/bulk-resume", "req-resume", body=resume)[0] == 200

    events = [e for e in _events(clean_db) if e["action"].startswith("bulk_")]
    paused = [e for e in events if e["action"] == "bulk_paused"]
    resumed = [e for e in events if e["action"] == "bulk_resumed"]
    # the one paused before is not changed by the bulk pause: no event of it
    assert sorted(str(e["subject_id"]) for e in paused) == sorted(ids[1:])
    assert sorted(str(e["subject_id"]) for e in resumed) == sorted(ids)
    for event in paused:
        assert (event["actor"], event["request_id"]) == (f"user:{ALICE}", "req-bulk")
        assert event["changes"] == {"enabled": {"before": True, "after": False}}
        assert event["detail"] == {
            "note": "INC-9: vendor down",
            "filter": {"workflowId": str(workflows["alice"])},
        }
    assert {e["request_id"] for e in resumed} == {"req-resume"}
    assert resumed[0]["changes"] == {"enabled": {"before": False, "after": True}}
    # the owner sees the bulk change on the schedule's own events
    assert _schedule_events(api, ids[1])[0]["action"] == "bulk_resumed"
