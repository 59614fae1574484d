"""The Schedules API through its Lambda handler: real Postgres, moto for EventBridge Scheduler.

Requests are API Gateway v2 events built from events/api-*.json; EventBridge state is read
back through the Scheduler API after every change.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from botocore.exceptions import ClientError
from scheduler import clients, cron
from scheduler.sync.eventbridge import EventBridgeSchedules

from devstack.apigw import LambdaContext
from tests.queries import process_queries

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")
ALICE_CLAIMS = {"sub": str(ALICE), "role": "authenticated", "aud": "authenticated"}
BOB_CLAIMS = {"sub": str(BOB), "role": "authenticated", "aud": "authenticated"}
SERVICE_CLAIMS = {"role": "service_role", "iss": "supabase"}
_UNSET: Any = object()


class Api:
    """Calls ApiFunction's handler with events built from the files in events/."""

    def __init__(self, claims: dict[str, Any] | None = ALICE_CLAIMS) -> None:
        from functions.api.app import lambda_handler

        self.handler = lambda_handler
        self.claims = claims
        self.template = json.loads((EVENTS / "api-get-schedule.json").read_text())

    def event(
        self,
        method: str,
        path: str,
        query: str = "",
        body: Any = _UNSET,
        claims: Any = _UNSET,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(self.template)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"] = query
        event.pop("queryStringParameters", None)
        if query:
            params: dict[str, str] = {}
            for part in query.split("&"):
                name, _, value = part.partition("=")
                params[name] = f"{params[name]},{value}" if name in params else value
            event["queryStringParameters"] = params
        if raw_body is None and body is not _UNSET:
            raw_body = json.dumps(body)
        if raw_body is not None:
            event["body"] = raw_body
            event["headers"]["content-type"] = "application/json"
        event["headers"].update(headers or {})
        claims = self.claims if claims is _UNSET else claims
        if claims is None:
            event["requestContext"].pop("authorizer", None)
        else:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        return event

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self.handler(self.event(method, path, **kwargs), LambdaContext())
        body = response.get("body")
        return response["statusCode"], json.loads(body) if body else None


@pytest.fixture
def eventbridge(aws: None, clean_db: str) -> EventBridgeSchedules:
    schedules = EventBridgeSchedules()
    schedules.ensure_group()
    return schedules


@pytest.fixture
def api(eventbridge: EventBridgeSchedules) -> Api:
    return Api()


@pytest.fixture
def workflows(eventbridge: EventBridgeSchedules) -> dict[str, uuid.UUID]:
    queries = process_queries()
    return {
        "alice": queries.workflows.create_workflow(ALICE, "daily report")["id"],
        "alice2": queries.workflows.create_workflow(ALICE, "cleanup")["id"],
        "bob": queries.workflows.create_workflow(BOB, "bob's sync")["id"],
    }


def eventbridge_state(eventbridge: EventBridgeSchedules) -> dict[str, dict[str, Any]]:
    """Every schedule in the group, minus timestamps (what must match before and after)."""
    state = {}
    for name in eventbridge.list_names():
        described = eventbridge.get(name)
        assert described is not None
        for volatile in ("CreationDate", "LastModificationDate"):
            described.pop(volatile, None)
        state[name] = described
    return state


def database_state(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("select * from schedules order by id").fetchall()


def _create(api: Api, workflow_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    status, body = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflow_id), "cron": "0 7 * * *", **fields},
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def test_crud_keeps_eventbridge_in_step(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    # Given a workflow of Alice's
    workflow_id = workflows["alice"]

    # When she creates a schedule
    created = _create(api, workflow_id, cron="0 7 * * MON-FRI", timezone="Europe/Berlin")

    # Then the response and EventBridge describe the same schedule
    schedule_id = created["id"]
    assert created["workflowId"] == str(workflow_id)
    assert created["enabled"] is True
    assert created["description"] == cron.describe("0 7 * * MON-FRI")
    assert created["eventbridgeExpressions"] == cron.to_eventbridge("0 7 * * MON-FRI")
    assert created["nextRunAt"] is not None
    stored = eventbridge.get(schedule_id)
    assert stored is not None
    assert stored["ScheduleExpression"] == created["eventbridgeExpressions"][0]
    assert stored["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert stored["State"] == "ENABLED"
    assert stored["Target"]["Arn"] == clients.get_settings().runner_function_arn
    assert json.loads(stored["Target"]["Input"]) == {
        "scheduleId": schedule_id,
        "workflowId": str(workflow_id),
        "scheduledTime": "<aws.scheduler.scheduled-time>",
        "attempt": "<aws.scheduler.attempt-number>",
    }

    # When she reads it
    status, detail = api.call("GET", f"/api/schedules/{schedule_id}")
    assert status == 200
    assert detail["lastRun"] is None
    assert len(detail["nextRunTimes"]) == 5
    assert detail["nextRunTimes"][0] == detail["nextRunAt"]

    # When she changes the cron to one that needs the day OR split, and the timezone
    status, updated = api.call(
        "PATCH",
        f"/api/schedules/{schedule_id}",
        body={"cron": "0 9 1 * MON", "timezone": "America/New_York"},
    )
    assert status == 200, updated
    assert updated["cron"] == "0 9 1 * MON"
    state = eventbridge_state(eventbridge)
    assert sorted(state) == [schedule_id, f"{schedule_id}-dow"]
    assert [state[n]["ScheduleExpression"] for n in (schedule_id, f"{schedule_id}-dow")] == (
        cron.to_eventbridge("0 9 1 * MON")
    )
    assert {s["ScheduleExpressionTimezone"] for s in state.values()} == {"America/New_York"}

    # When she goes back to a simple cron and disables it: no old pattern is left firing
    status, updated = api.call(
        "PATCH", f"/api/schedules/{schedule_id}", body={"cron": "*/10 * * * *", "enabled": False}
    )
    assert status == 200
    assert updated["enabled"] is False
    assert updated["nextRunAt"] is None
    state = eventbridge_state(eventbridge)
    assert list(state) == [schedule_id]
    assert state[schedule_id]["State"] == "DISABLED"
    assert state[schedule_id]["ScheduleExpression"] == cron.to_eventbridge("*/10 * * * *")[0]

    # When she deletes it: the row and its EventBridge schedule are gone
    status, body = api.call("DELETE", f"/api/schedules/{schedule_id}")
    assert (status, body) == (204, None)
    assert eventbridge.list_names() == []
    assert api.call("GET", f"/api/schedules/{schedule_id}")[0] == 404


def test_reenabling_clears_the_disabled_reason(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    schedule_id = _create(api, workflows["alice"], enabled=False)["id"]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "update schedules set disabled_reason = 'invalid definition' where id = %s",
            (schedule_id,),
        )

    status, body = api.call("PATCH", f"/api/schedules/{schedule_id}", body={"enabled": True})

    assert status == 200
    assert (body["enabled"], body["disabledReason"]) == (True, None)


def test_list_is_newest_first_filtered_and_paginated(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    created = [_create(api, workflows["alice"])["id"] for _ in range(4)]
    created.append(_create(api, workflows["alice2"], enabled=False)["id"])
    _create(api, workflows["alice2"])

    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = api.call("GET", "/api/schedules", query=query)
        assert status == 200
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    created_at = [api.call("GET", f"/api/schedules/{i}")[1]["createdAt"] for i in seen]
    assert created_at == sorted(created_at, reverse=True)

    status, page = api.call("GET", "/api/schedules", query=f"workflowId={workflows['alice']}")
    assert sorted(item["id"] for item in page["items"]) == sorted(created[:4])
    status, page = api.call("GET", "/api/schedules", query="enabled=false")
    assert [item["id"] for item in page["items"]] == [created[4]]


def _insert_run(database_url: str, schedule: dict[str, Any], at: str, **fields: Any) -> None:
    row = {"status": "succeeded", "error": None, "finished_at": at, **fields}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """insert into schedule_runs
                 (schedule_id, workflow_id, scheduled_time, status, started_at, finished_at, error)
               values (%s, %s, %s, %s, %s, %s, %s)""",
            (
                schedule["id"],
                schedule["workflowId"],
                at,
                row["status"],
                at,
                row["finished_at"],
                row["error"],
            ),
        )


def test_last_run_and_run_history(api: Api, workflows: dict[str, uuid.UUID], clean_db: str) -> None:
    schedule = _create(api, workflows["alice"])
    for day in range(1, 6):
        _insert_run(clean_db, schedule, f"2026-01-0{day}T07:00:00Z")
    _insert_run(clean_db, schedule, "2026-01-06T07:00:00Z", status="failed", error="HTTP 500")

    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert status == 200
    assert detail["lastRun"]["status"] == "failed"
    assert detail["lastRun"]["error"] == "HTTP 500"
    assert detail["lastRun"]["scheduledTime"] == "2026-01-06T07:00:00Z"

    status, first = api.call("GET", f"/api/schedules/{schedule['id']}/runs", query="limit=4")
    assert status == 200
    status, second = api.call(
        "GET",
        f"/api/schedules/{schedule['id']}/runs",
        query=f"limit=4&cursor={first['nextCursor']}",
    )
    times = [run["scheduledTime"] for run in first["items"] + second["items"]]
    assert times == [f"2026-01-0{day}T07:00:00Z" for day in range(6, 0, -1)]
    assert second["nextCursor"] is None


@pytest.fixture
def lambda_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A loopback stand-in for the Lambda Invoke API that records each request."""
    requests: list[dict[str, Any]] = []

    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            requests.append(
                {
                    "path": unquote(self.path),
                    "invocation_type": self.headers.get("X-Amz-Invocation-Type"),
                    "payload": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_port}")
    clients.aws_client.cache_clear()
    yield requests
    server.shutdown()
    server.server_close()
    clients.aws_client.cache_clear()


def test_run_now_invokes_the_runner_asynchronously(
    api: Api, workflows: dict[str, uuid.UUID], lambda_endpoint: list[dict[str, Any]]
) -> None:
    schedule = _create(api, workflows["alice"])
    before = datetime.now(UTC).replace(microsecond=0)
    assert not lambda_endpoint

    status, body = api.call("POST", f"/api/schedules/{schedule['id']}/run")

    assert status == 202, body
    assert body["runsUrl"] == f"/api/schedules/{schedule['id']}/runs"
    [request] = lambda_endpoint
    arn = clients.get_settings().runner_function_arn
    assert request["path"] == f"/2015-03-31/functions/{arn}/invocations"
    assert request["invocation_type"] == "Event"
    payload = request["payload"]
    assert payload == {
        "scheduleId": schedule["id"],
        "workflowId": str(workflows["alice"]),
        "scheduledTime": payload["scheduledTime"],
        "attempt": "1",
        "trigger": "manual",
    }
    scheduled = datetime.strptime(payload["scheduledTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert scheduled.replace(tzinfo=UTC) >= before
    assert datetime.fromisoformat(body["scheduledTime"]) == scheduled.replace(tzinfo=UTC)


def test_run_now_of_a_disabled_schedule_is_a_conflict(
    api: Api, workflows: dict[str, uuid.UUID], lambda_endpoint: list[dict[str, Any]]
) -> None:
    schedule = _create(api, workflows["alice"], enabled=False)

    status, body = api.call("POST", f"/api/schedules/{schedule['id']}/run")

    assert status == 409
    assert body["error"]["code"] == "conflict"
    assert lambda_endpoint == []


def test_users_see_and_change_only_their_own(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    alices = _create(api, workflows["alice"])["id"]
    bob = Api(BOB_CLAIMS)
    bobs = _create(bob, workflows["bob"])["id"]
    rows_before, eb_before = database_state(clean_db), eventbridge_state(eventbridge)

    for method, path, body in [
        ("GET", f"/api/schedules/{alices}", _UNSET),
        ("PATCH", f"/api/schedules/{alices}", {"enabled": False}),
        ("DELETE", f"/api/schedules/{alices}", _UNSET),
        ("GET", f"/api/schedules/{alices}/runs", _UNSET),
        ("POST", f"/api/schedules/{alices}/run", _UNSET),
        ("GET", f"/api/workflows/{workflows['alice']}", _UNSET),
    ]:
        status, response = bob.call(method, path, body=body)
        assert status == 404, (method, path)
        assert response["error"]["code"] == "not_found"

    status, response = bob.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "* * * * *"}
    )
    assert status == 422
    assert "workflowId" in response["error"]["message"]
    assert [s["id"] for s in bob.call("GET", "/api/schedules")[1]["items"]] == [bobs]
    names = {w["name"] for w in bob.call("GET", "/api/workflows")[1]["items"]}
    assert names == {"bob's sync"}
    assert lambda_endpoint == []
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == (rows_before, eb_before)

    # The service role acts on every owner's rows.
    service = Api(SERVICE_CLAIMS)
    assert {s["id"] for s in service.call("GET", "/api/schedules")[1]["items"]} == {alices, bobs}
    assert service.call("PATCH", f"/api/schedules/{alices}", body={"enabled": False})[0] == 200


@pytest.mark.parametrize(
    "authorizer",
    [
        pytest.param(None, id="no-authorizer"),
        pytest.param({"jwt": {"claims": {}, "scopes": None}}, id="no-claims"),
        pytest.param({"jwt": {"claims": {"role": "authenticated"}}}, id="no-sub"),
        pytest.param({"jwt": {"claims": {"sub": "admin", "role": "authenticated"}}}, id="bad-sub"),
        pytest.param({"lambda": {"role": "authenticated"}}, id="lambda-no-sub"),
    ],
)
def test_requests_without_verified_claims_are_401(
    api: Api, workflows: dict[str, uuid.UUID], authorizer: dict[str, Any] | None
) -> None:
    event = api.event("POST", "/api/schedules", body={"bad": "body"})
    event["requestContext"].pop("authorizer", None)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer

    response = api.handler(event, LambdaContext())

    # The body API Gateway itself gives a request it does not let through: one 401 shape
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"message": "Unauthorized"}


def test_lambda_authorizer_context_is_accepted(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    event = api.event("GET", f"/api/workflows/{workflows['alice']}")
    event["requestContext"]["authorizer"] = {"lambda": {"sub": str(ALICE), "role": "authenticated"}}

    response = api.handler(event, LambdaContext())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert (body["name"], body["status"], body["runCount"]) == ("daily report", "idle", 0)


def _cursor_of(value: Any) -> str:
    """A cursor in this API's encoding (base64url JSON) of any value."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_INPUT = [
    # (method, path template, kwargs, status, code)
    ("POST", "/api/schedules", {"raw_body": '{"cron": '}, 400, "malformed_json"),
    ("POST", "/api/schedules", {"raw_body": "x" * (16 * 1024 + 1)}, 413, "payload_too_large"),
    (
        "POST",
        "/api/schedules",
        {"body": {"workflowId": "{wf}", "cron": "* * * * *", "x": 1}},
        422,
        "invalid_input",
    ),
    ("POST", "/api/schedules", {"body": {"workflowId": "{wf}", "cron": 5}}, 422, "invalid_input"),
    (
        "POST",
        "/api/schedules",
        {"body": {"workflowId": "{wf}", "cron": "61 * * * *"}},
        422,
        "invalid_input",
    ),
    (
        "POST",
        "/api/schedules",
        {"body": {"workflowId": "{wf}", "cron": "* * * * *", "timezone": "Mars/Base"}},
        422,
        "invalid_input",
    ),
    (
        "POST",
        "/api/schedules",
        {"body": {"workflowId": "nope", "cron": "* * * * *"}},
        422,
        "invalid_input",
    ),
    (
        "POST",
        "/api/schedules",
        {"body": {"workflowId": str(uuid.UUID(int=7)), "cron": "* * * * *"}},
        422,
        "invalid_input",
    ),
    ("POST", "/api/schedules", {"body": ["not", "an", "object"]}, 422, "invalid_input"),
    ("POST", "/api/schedules", {}, 422, "invalid_input"),
    ("PATCH", "/api/schedules/{id}", {"body": {}}, 422, "invalid_input"),
    ("PATCH", "/api/schedules/{id}", {"body": {"cron": None}}, 422, "invalid_input"),
    ("PATCH", "/api/schedules/{id}", {"body": {"enabled": "maybe"}}, 422, "invalid_input"),
    ("PATCH", "/api/schedules/not-a-uuid", {"body": {"enabled": False}}, 404, "not_found"),
    ("DELETE", "/api/schedules/not-a-uuid", {}, 404, "not_found"),
    ("GET", "/api/schedules", {"query": "workflowId=nope"}, 422, "invalid_input"),
    ("GET", "/api/schedules", {"query": "limit=101"}, 422, "invalid_input"),
    ("GET", "/api/schedules", {"query": "cursor=bm9wZQ"}, 400, "invalid_cursor"),
    ("GET", "/api/schedules/{id}/runs", {"query": "cursor=%%%"}, 400, "invalid_cursor"),
    # well-formed cursors (base64url JSON pairs) holding the wrong types: crafted, not ours
    *(
        ("GET", path, {"query": f"cursor={_cursor_of(value)}"}, 400, "invalid_cursor")
        for path in ("/api/schedules", "/api/workflows", "/api/schedules/{id}/runs")
        for value in (
            ["2024-01-01T00:00:00+00:00", 5],
            [5, "00000000-0000-4000-8000-00000000a11c"],
            ["2024-01-01T00:00:00", "00000000-0000-4000-8000-00000000a11c"],
            ["2024-01-01T00:00:00+00:00", "00000000-0000-4000-8000-00000000a11c", 1],
            ["2024-01-01T00:00:00+00:00", None],
            {"at": "2024-01-01T00:00:00+00:00"},
        )
    ),
    # JSON nested deeper than Python's parser recurses, within the 16 KiB (it was a 500)
    *(
        (method, path, {"raw_body": raw}, 400, "malformed_json")
        for method, path in (
            ("POST", "/api/schedules"),
            ("POST", "/api/cron/preview"),
            ("PATCH", "/api/schedules/{id}"),
        )
        for raw in ("[" * 5000 + "]" * 5000, '{"a":' * 2500 + "1" + "}" * 2500, "[" * 8000)
    ),
    # a bodyless write: no Content-Type, or one that is not JSON (it was a 500)
    *(
        (method, path, {"headers": headers}, status, code)
        for method, path in (
            ("POST", "/api/schedules"),
            ("POST", "/api/cron/preview"),
            ("PATCH", "/api/schedules/{id}"),
        )
        for headers, status, code in (
            ({}, 422, "invalid_input"),
            ({"content-type": "text/plain"}, 415, "unsupported_media_type"),
            ({"content-type": "multipart/form-data"}, 415, "unsupported_media_type"),
            ({"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        )
    ),
    ("GET", "/api/nowhere", {}, 404, "not_found"),
    ("PUT", "/api/schedules/{id}", {"body": {}}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), BAD_INPUT)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    schedule_id = _create(api, workflows["alice"])["id"]
    kwargs = json.loads(
        json.dumps(kwargs).replace("{wf}", str(workflows["alice"])).replace("{id}", schedule_id)
    )
    before = (database_state(clean_db), eventbridge_state(eventbridge))

    got_status, body = api.call(method, path.replace("{id}", schedule_id), **kwargs)

    assert got_status == status, body
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before


def test_invalid_input_details_name_the_field(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    status, body = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 25 * * *"}
    )

    assert status == 422
    [detail] = body["error"]["details"]
    assert detail["loc"] == ["body", "cron"]
    assert "hour" in detail["msg"]


def test_cron_preview(api: Api) -> None:
    status, body = api.call(
        "POST", "/api/cron/preview", body={"cron": "0 9 1 * MON", "timezone": "Europe/Berlin"}
    )
    assert status == 200
    assert body["valid"] is True
    assert body["eventbridgeExpressions"] == cron.to_eventbridge("0 9 1 * MON")
    assert len(body["nextRunTimes"]) == 5

    status, body = api.call("POST", "/api/cron/preview", body={"cron": "0 9 32 * *"})
    assert status == 200
    assert body["valid"] is False
    assert "day-of-month" in body["error"]


def _assert_dst_notes(notes: list[dict[str, Any]], wall_clock: str) -> None:
    # A year from today always holds at least one of Berlin's two changes (they are 5 and 7
    # months apart), so the real clock is enough.
    assert notes, "expected a note for a DST change within the year"
    for note in notes:
        assert set(note) == {"kind", "wallTime", "lastWallTime", "fires", "at", "note"}
        assert note["wallTime"].endswith(wall_clock)
        assert note["fires"] == 1
        assert "in Europe/Berlin" in note["note"]
        if note["kind"] == "skipped":
            assert note["at"] is None
            assert note["note"].endswith("this fire is skipped")
        else:
            assert note["kind"] == "once"
            assert datetime.fromisoformat(note["at"]) > datetime.now(UTC)


def test_dst_notes_in_the_preview_and_the_schedule_detail(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given 02:30 daily in Berlin, a time its DST changes skip in spring and repeat in autumn
    status, preview = api.call(
        "POST", "/api/cron/preview", body={"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    )
    assert status == 200
    _assert_dst_notes(preview["dstNotes"], "T02:30")
    # The next fire times stay a plain list of instants
    assert all(isinstance(fire, str) for fire in preview["nextRunTimes"])

    created = _create(api, workflows["alice"], cron="30 2 * * *", timezone="Europe/Berlin")
    assert "dstNotes" not in created  # only the detail read carries them
    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    assert status == 200
    assert detail["dstNotes"] == preview["dstNotes"]

    # A zone without DST, a disabled schedule and an invalid cron have none
    in_tokyo = _create(api, workflows["alice"], cron="30 2 * * *", timezone="Asia/Tokyo")
    assert api.call("GET", f"/api/schedules/{in_tokyo['id']}")[1]["dstNotes"] == []
    assert api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": False})[0] == 200
    assert api.call("GET", f"/api/schedules/{created['id']}")[1]["dstNotes"] == []
    status, invalid = api.call("POST", "/api/cron/preview", body={"cron": "30 2 * *"})
    assert (status, invalid["valid"], invalid["dstNotes"]) == (200, False, [])


def test_openapi_documents_the_dst_notes(api: Api) -> None:
    status, document = api.call("GET", "/api/openapi.json")
    assert status == 200
    schemas = document["components"]["schemas"]
    note = schemas["DstNote"]
    assert set(note["required"]) == {"kind", "wallTime", "lastWallTime", "fires", "at", "note"}
    assert note["properties"]["kind"]["enum"] == ["skipped", "shifted", "once", "twice"]
    for owner in ("CronPreview", "ScheduleDetail"):
        items = schemas[owner]["properties"]["dstNotes"]["items"]
        assert items == {"$ref": "#/components/schemas/DstNote"}
    # nextRunTimes is unchanged: a list of date-times
    assert schemas["CronPreview"]["properties"]["nextRunTimes"]["items"] == {
        "type": "string",
        "format": "date-time",
    }


def test_bodies_are_compact_utf8_json_of_the_stored_text(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    schedule_id = _create(api, workflows["alice"])["id"]
    reason, name = "Zeitüberschreitung ☕ 😀", 'tab\t quote" backslash\\ del\x7f'
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "update schedules set disabled_reason = %s where id = %s", (reason, schedule_id)
        )
        conn.execute("update workflows set name = %s where id = %s", (name, workflows["alice"]))
    paths = [
        f"/api/schedules/{schedule_id}",
        "/api/schedules",
        "/api/workflows",
        f"/api/workflows/{workflows['alice']}",
    ]

    bodies = [api.handler(api.event("GET", path), LambdaContext())["body"] for path in paths]

    for body in bodies:
        document = json.loads(body)
        assert body == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(bodies[0])["disabledReason"] == reason
    assert json.loads(bodies[1])["items"][0]["disabledReason"] == reason
    listed = {item["id"]: item["name"] for item in json.loads(bodies[2])["items"]}
    assert listed[str(workflows["alice"])] == name
    assert json.loads(bodies[3])["name"] == name


def test_openapi_document_and_swagger_ui_are_public(api: Api) -> None:
    anonymous = Api(claims=None)

    status, document = anonymous.call("GET", "/api/openapi.json")
    assert status == 200
    assert "/api/schedules/{schedule_id}" in document["paths"]
    assert "bearerAuth" in document["components"]["securitySchemes"]

    response = anonymous.handler(anonymous.event("GET", "/api/docs"), LambdaContext())
    assert response["statusCode"] == 200
    assert "swagger" in response["body"].lower()

    # Only those two: the same client is still refused everywhere else
    assert anonymous.call("GET", "/api/schedules")[0] == 401
    assert anonymous.call("POST", "/api/openapi.json")[0] == 401


@pytest.mark.parametrize("path", sorted(EVENTS.glob("api-*.json")), ids=lambda p: p.stem)
def test_sample_events_reach_their_routes(api: Api, path: Path) -> None:
    response = api.handler(json.loads(path.read_text()), LambdaContext())

    # The sample ids do not exist in an empty database: 404 is the right answer for some.
    assert response["statusCode"] in (200, 201, 202, 204, 404, 422), response
    if response["statusCode"] in (404, 422):
        assert json.loads(response["body"])["error"]["code"] in ("not_found", "invalid_input")


GAP_ONLY = "30 2 * 3 L0"  # last Sunday of March, 02:30: skipped by Berlin's spring-forward


def test_a_cron_that_never_fires_in_its_timezone_is_refused_everywhere(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules, clean_db: str
) -> None:
    # Creating it in Berlin: 422, nothing made
    status, body = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": GAP_ONLY, "timezone": "Europe/Berlin"},
    )
    assert status == 422, body
    assert "daylight-saving gap" in json.dumps(body)
    assert database_state(clean_db) == []
    assert eventbridge_state(eventbridge) == {}

    # The preview says so too
    status, preview = api.call(
        "POST", "/api/cron/preview", body={"cron": GAP_ONLY, "timezone": "Europe/Berlin"}
    )
    assert (status, preview["valid"]) == (200, False)

    # In UTC it fires; moving that schedule to Berlin is refused and changes nothing
    created = _create(api, workflows["alice"], cron=GAP_ONLY, timezone="UTC")
    before = database_state(clean_db), eventbridge_state(eventbridge)
    status, body = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"timezone": "Europe/Berlin"}
    )
    assert status == 422, body
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before


def test_a_schedule_eventbridge_rejects_is_422_not_503(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules, clean_db: str
) -> None:
    def reject(**_: Any) -> None:  # e.g. a timezone zoneinfo knows but EventBridge does not
        raise ClientError(
            {"Error": {"Code": "ValidationException", "Message": "Invalid timezone"}},
            "CreateSchedule",
        )

    clients.aws_client("scheduler").meta.events.register(
        "before-call.scheduler.CreateSchedule", reject
    )

    status, body = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )

    assert status == 422, body
    assert "Invalid timezone" in body["error"]["message"]
    assert database_state(clean_db) == []


def test_a_stored_definition_python_cannot_load_is_reported_not_a_500(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a definition the owner wrote around the API, within the database's bounds
    process_queries().db.execute(
        """update workflows set definition = '{"steps": [], "n": 1e5000}'::jsonb where id = %s""",
        (workflows["alice"],),
    )

    status, one = api.call("GET", f"/api/workflows/{workflows['alice']}")
    listed_status, page = api.call("GET", "/api/workflows")

    assert (status, listed_status) == (200, 200)
    assert one["definition"] is None
    assert "invalid definition" in one["definitionError"]
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[str(workflows["alice"])]["definitionError"] == one["definitionError"]
    assert by_id[str(workflows["alice2"])]["definition"] == {"steps": []}
