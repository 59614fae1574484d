"""Workflows through the API: create and change, on real Postgres and moto (the delete:
test_api_workflow_delete.py).

A definition is accepted only as the runner loads it (its bounds, its header rules, its step
kinds), a refusal is a 422 naming the step and the field; a user never sees or changes another
owner's workflow.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from scheduler.steps.definitions import load_definition
from scheduler.steps.engine import parse_definition, step_kinds
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    ALICE_CLAIMS,
    BOB,
    BOB_CLAIMS,
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    eventbridge,
)
from tests.integration.test_api_keys import Gateway, _issue, gateway  # noqa: F401
from tests.queries import process_queries

HOOK = {"type": "http", "method": "POST", "url": "https://example.com/hooks/report"}
DEFINITION = {"steps": [HOOK]}


def _create_workflow(api: Api, claims: Any = ALICE_CLAIMS, **fields: Any) -> dict[str, Any]:
    body = {"name": "daily report", "definition": DEFINITION, **fields}
    status, body = api.call("POST", "/api/workflows", body=body, claims=claims)
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def _workflow_rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select id, owner_id, name, definition from workflows order by id"
        ).fetchall()


def _rows(database_url: str) -> dict[str, list[Any]]:
    """Every workflow, schedule and run (ids and what a write would change)."""
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return {
            table: conn.execute(f"select * from {table} order by id").fetchall()  # noqa: S608
            for table in ("workflows", "schedules", "schedule_runs")
        }


# --- create, read, change


def test_a_user_creates_a_workflow_the_runner_can_run(api: Api, clean_db: str) -> None:
    status, created = api.call(
        "POST", "/api/workflows", body={"name": " daily report ", "definition": DEFINITION}
    )

    assert status == 201, created
    assert (created["ownerId"], created["name"]) == (str(ALICE), "daily report")
    assert (created["definition"], created["definitionError"]) == (DEFINITION, None)
    assert (created["status"], created["runCount"]) == ("idle", 0)
    # what the runner reads is what was accepted, and it parses into the steps
    [row] = process_queries().db.execute("select definition::text as text from workflows")
    assert load_definition(row["text"]) == DEFINITION
    assert [kind for kind, _ in parse_definition(load_definition(row["text"]))] == ["http"]
    # and the reads show it
    assert api.call("GET", f"/api/workflows/{created['id']}") == (200, created)
    status, page = api.call("GET", "/api/workflows")
    assert (status, [w["id"] for w in page["items"]]) == (200, [created["id"]])


def test_the_new_workflow_takes_a_schedule(api: Api, eventbridge: EventBridgeSchedules) -> None:
    workflow = _create_workflow(api)

    schedule = _create(api, uuid.UUID(workflow["id"]))

    assert schedule["workflowId"] == workflow["id"]
    assert eventbridge.list_names()


def test_a_service_credential_names_the_owner(api: Api, clean_db: str) -> None:
    status, missing = api.call(
        "POST",
        "/api/workflows",
        body={"name": "w", "definition": DEFINITION},
        claims=SERVICE_CLAIMS,
    )
    created = _create_workflow(api, ownerId=str(BOB), claims=SERVICE_CLAIMS)

    assert status == 422
    assert missing["error"]["message"].startswith("ownerId: required")
    assert created["ownerId"] == str(BOB)
    assert api.call("GET", f"/api/workflows/{created['id']}", claims=BOB_CLAIMS)[0] == 200
    assert [row["owner_id"] for row in _workflow_rows(clean_db)] == [BOB]


def test_a_user_cannot_create_a_workflow_for_another_owner(api: Api, clean_db: str) -> None:
    status, body = api.call(
        "POST",
        "/api/workflows",
        body={"name": "w", "definition": DEFINITION, "ownerId": str(BOB)},
    )

    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert _workflow_rows(clean_db) == []


def test_an_owner_scoped_key_creates_for_its_owner_and_a_read_only_key_writes_nothing(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    owner_key = _issue(api, ownerId=str(BOB))["key"]
    read_only = _issue(api, readOnly=True)["key"]
    body = {"name": "from a key", "definition": DEFINITION}

    status, created = gateway.call(owner_key, "POST", "/api/workflows", body=body)
    assert (status, created["ownerId"]) == (201, str(BOB))
    before = _workflow_rows(clean_db)
    path = f"/api/workflows/{created['id']}"

    refused = [
        gateway.call(read_only, "POST", "/api/workflows", body={**body, "ownerId": str(BOB)}),
        gateway.call(read_only, "PATCH", path, body={"name": "renamed"}),
        gateway.call(read_only, "DELETE", path),
    ]

    assert [(status, body["error"]["code"]) for status, body in refused] == [(403, "forbidden")] * 3
    assert _workflow_rows(clean_db) == before
    assert gateway.call(read_only, "GET", path)[0] == 200


def test_patch_changes_the_name_and_or_the_definition(api: Api) -> None:
    workflow = _create_workflow(api)
    path = f"/api/workflows/{workflow['id']}"
    lambda_step = {"type": "lambda", "functionArn": "arn:aws:lambda:eu-west-1:123:function:f"}

    renamed = api.call("PATCH", path, body={"name": "nightly report"})
    redefined = api.call("PATCH", path, body={"definition": {"steps": [HOOK, lambda_step]}})
    empty = api.call("PATCH", path, body={})
    null_name = api.call("PATCH", path, body={"name": None})

    assert renamed[0] == 200
    assert (renamed[1]["name"], renamed[1]["definition"]) == ("nightly report", DEFINITION)
    assert redefined[0] == 200
    assert redefined[1]["name"] == "nightly report"
    assert redefined[1]["definition"]["steps"][1] == lambda_step
    assert [empty[0], null_name[0]] == [422, 422]
    assert api.call("GET", path)[1]["definition"] == redefined[1]["definition"]


# --- refused definitions: a 422 naming the step and the field


def _http(**fields: Any) -> dict[str, Any]:
    return {"steps": [HOOK, {**HOOK, **fields}]}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


REFUSED_DEFINITIONS = [
    pytest.param(
        _http(headers={"bad name": "x"}),
        "definition: step 2 (http), field headers: header 1: name is not a valid HTTP header"
        " name (a token)",
        id="bad-header-name",
    ),
    pytest.param(
        _http(headers={"Authorization": "Bearer secret-token\r\n"}),
        "definition: step 2 (http), field headers: header 'Authorization': value contains a"
        " control character (such as CR, LF or NUL)",
        id="bad-header-value",
    ),
    pytest.param(
        _http(headers={"X-Token": {"secretRef": "not under the prefix"}}),
        "definition: step 2 (http), field headers: header 'X-Token': secretRef is not a Secrets"
        " Manager secret name",
        id="bad-secret-ref",
    ),
    pytest.param(
        {"steps": [HOOK, {"type": "sql", "query": "select 1"}]},
        "definition: step 2, field type: is not a step kind (known: {kinds})",
        id="unknown-step-kind",
    ),
    pytest.param(
        {"steps": [{"url": "https://example.com"}]},
        "definition: step 1, field type: is required (one of: {kinds})",
        id="no-step-kind",
    ),
    pytest.param(
        _http(retries=3),
        "definition: step 2 (http), field retries: is not a field of this step (its fields:"
        " type, method, url, headers, body, timeoutSeconds)",
        id="unknown-step-field",
    ),
    pytest.param(
        _http(url="ftp://example.com/x"),
        "definition: step 2 (http), field url: url must be an absolute http or https URL",
        id="bad-url",
    ),
    pytest.param(
        {"steps": [{"type": "lambda"}]},
        "definition: step 1 (lambda), field functionArn: is required",
        id="missing-field",
    ),
    pytest.param(
        {"steps": [HOOK, "not a step"]},
        "definition: step 2: must be an object",
        id="step-not-an-object",
    ),
    pytest.param({"step": [HOOK]}, "definition: field steps: is required", id="no-steps"),
    pytest.param(
        {"steps": [HOOK] * 51},
        "definition: field steps: List should have at most 50 items after validation, not 51",
        id="too-many-steps",
    ),
    pytest.param(
        _http(body={"deep": _nested(31)}),
        "definition: nested deeper than 32 levels",
        id="too-deep",
    ),
    pytest.param(
        _http(body="x" * 262_144),
        "definition: larger than 262144 bytes",
        id="too-large",
    ),
]


@pytest.mark.parametrize(("definition", "message"), REFUSED_DEFINITIONS)
def test_a_definition_the_runner_refuses_is_a_422_naming_step_and_field(
    api: Api, clean_db: str, definition: dict[str, Any], message: str
) -> None:
    # the kinds registered in this process: http and lambda, and any a test module added
    message = message.replace("{kinds}", ", ".join(step_kinds()))
    workflow = _create_workflow(api)
    before = _workflow_rows(clean_db)

    created = api.call("POST", "/api/workflows", body={"name": "w", "definition": definition})
    changed = api.call("PATCH", f"/api/workflows/{workflow['id']}", body={"definition": definition})

    for status, body in (created, changed):
        assert status == 422, body
        assert body["error"] == {"code": "invalid_input", "message": message}
        assert "Value error" not in json.dumps(body)
        assert "secret-token" not in json.dumps(body)
    assert _workflow_rows(clean_db) == before


def test_the_largest_definition_the_runner_loads_is_accepted(api: Api) -> None:
    filler = "x" * (262_144 - len(json.dumps(_http(body=""))))
    definition = _http(body=filler)
    assert len(json.dumps(definition).encode()) == 262_144

    status, created = api.call(
        "POST", "/api/workflows", body={"name": "w", "definition": definition}
    )

    assert status == 201, created
    assert created["definition"] == definition


def test_unknown_request_fields_and_bad_names_are_refused(api: Api, clean_db: str) -> None:
    for body in (
        {"name": "w", "definition": DEFINITION, "definitions": DEFINITION},
        {"name": "w"},
        {"name": "   ", "definition": DEFINITION},
        {"name": "a\nb", "definition": DEFINITION},
        {"name": "w", "definition": [HOOK]},
    ):
        status, answer = api.call("POST", "/api/workflows", body=body)
        assert (status, answer["error"]["code"]) == (422, "invalid_input"), body
    assert _workflow_rows(clean_db) == []


# --- owners


def test_another_owners_workflow_is_not_found(api: Api, clean_db: str) -> None:
    workflow = _create_workflow(api)
    path = f"/api/workflows/{workflow['id']}"
    before = _workflow_rows(clean_db)

    answers = [
        api.call("GET", path, claims=BOB_CLAIMS),
        api.call("PATCH", path, body={"name": "mine now"}, claims=BOB_CLAIMS),
        api.call("PATCH", path, body={"definition": {"steps": []}}, claims=BOB_CLAIMS),
        api.call("DELETE", path, claims=BOB_CLAIMS),
        api.call("DELETE", path, query="schedules=delete", claims=BOB_CLAIMS),
    ]

    assert [status for status, _ in answers] == [404] * 5
    assert _workflow_rows(clean_db) == before
    assert api.call("GET", "/api/workflows", claims=BOB_CLAIMS)[1]["items"] == []


def test_a_workflow_body_may_be_as_large_as_a_definition_and_no_larger(
    api: Api, clean_db: str
) -> None:
    over = "x" * (272 * 1024)

    too_large = api.call("POST", "/api/workflows", body={"name": "w", "definition": over})
    schedule_body = api.call("POST", "/api/schedules", raw_body="x" * (16 * 1024 + 1))

    assert (too_large[0], too_large[1]["error"]["code"]) == (413, "payload_too_large")
    assert (schedule_body[0], schedule_body[1]["error"]["code"]) == (413, "payload_too_large")
    assert _workflow_rows(clean_db) == []


def test_a_number_the_runner_cannot_load_is_refused_not_stored(api: Api, clean_db: str) -> None:
    raw = '{"name": "w", "definition": {"steps": [], "threshold": 1e400}}'

    status, body = api.call("POST", "/api/workflows", raw_body=raw)

    assert status == 422, body
    assert body["error"]["message"] == (
        "definition: a number is out of range (at most about 1.8e308)"
    )
    assert _workflow_rows(clean_db) == []
