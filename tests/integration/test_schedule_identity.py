"""A schedule's name and externalId through the API (real Postgres, moto's Scheduler): create,
read, PATCH, uniqueness per owner, PUT by externalId, and {{externalId}} in a run."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.conftest import AllQueries
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)
from tests.integration.test_api_keys import Gateway, _issue, gateway  # noqa: F401  (fixture)


def _put(api: Api, external_id: str, body: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
    return api.call("PUT", f"/api/schedules/by-external-id/{external_id}", body=body, **kwargs)


def test_name_and_external_id_are_created_shown_on_every_read_and_changed_by_patch(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    created = _create(api, workflows["alice"], name="Daily report", externalId="report-c42")
    assert (created["name"], created["externalId"]) == ("Daily report", "report-c42")

    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    assert status == 200
    assert (detail["name"], detail["externalId"]) == ("Daily report", "report-c42")
    status, page = api.call("GET", "/api/schedules")
    assert [(i["name"], i["externalId"]) for i in page["items"]] == [("Daily report", "report-c42")]

    _create(api, workflows["alice"], externalId="another")
    status, found = api.call("GET", "/api/schedules", query="externalId=report-c42")
    assert status == 200
    assert [item["id"] for item in found["items"]] == [created["id"]]

    status, changed = api.call(
        "PATCH",
        f"/api/schedules/{created['id']}",
        body={"name": "Weekly report", "externalId": "report:c42.v2"},
    )
    assert status == 200, changed
    assert (changed["name"], changed["externalId"]) == ("Weekly report", "report:c42.v2")

    status, cleared = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"name": None, "externalId": None}
    )
    assert status == 200, cleared
    assert (cleared["name"], cleared["externalId"]) == (None, None)
    # a schedule without either is what it was before: none is required
    assert _create(api, workflows["alice"])["externalId"] is None


def test_an_external_id_is_unique_per_owner_and_a_clash_is_a_409_naming_it(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    first = _create(api, workflows["alice"], externalId="nightly")
    other = _create(api, workflows["alice"], externalId="other")
    before = database_state(clean_db)

    # another workflow of the same owner: still the same owner's namespace
    status, answer = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice2"]), "cron": "0 7 * * *", "externalId": "nightly"},
    )
    assert status == 409, answer
    assert answer["error"]["code"] == "conflict"
    assert "externalId: 'nightly' is taken" in answer["error"]["message"]
    status, answer = api.call(
        "PATCH", f"/api/schedules/{other['id']}", body={"externalId": "nightly"}
    )
    assert status == 409, answer
    assert "externalId: 'nightly' is taken" in answer["error"]["message"]
    assert database_state(clean_db) == before

    # Bob is another owner: the same externalId is his to use
    status, bob_created = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["bob"]), "cron": "0 7 * * *", "externalId": "nightly"},
        claims=SERVICE_CLAIMS,
    )
    assert status == 201, bob_created
    assert bob_created["id"] != first["id"]


@pytest.mark.parametrize(
    ("external_id", "problem"),
    [
        pytest.param("has space", "externalId", id="space"),
        pytest.param("-leading-dash", "externalId", id="leading-dash"),
        pytest.param("x" * 201, "externalId", id="too-long"),
        pytest.param("a/b", "externalId", id="slash"),
        pytest.param("é", "externalId", id="non-ascii"),
    ],
)
def test_a_bad_external_id_is_a_422_naming_it_and_nothing_is_written(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, external_id: str, problem: str
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "externalId": external_id}

    status, answer = api.call("POST", "/api/schedules", body=body)

    assert status == 422, answer
    assert problem in answer["error"]["message"]
    assert database_state(clean_db) == []


def test_a_bad_external_id_in_the_put_path_is_a_422(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    for external_id in ("-x", "a%20b", "x" * 201):
        status, answer = _put(api, external_id, body)
        assert status == 422, (external_id, answer)
        assert "externalId" in answer["error"]["message"] or "external_id" in str(answer)
    assert database_state(clean_db) == []


def test_a_bad_name_is_a_422(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    for name in ("two\nlines", "x" * 201):
        status, answer = api.call(
            "POST",
            "/api/schedules",
            body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "name": name},
        )
        assert status == 422, answer
        assert "name" in answer["error"]["message"]


def test_put_creates_then_the_same_put_answers_the_same_schedule_and_body(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    body = {
        "workflowId": str(workflows["alice"]),
        "cron": "0 7 * * MON-FRI",
        "timezone": "Europe/Berlin",
        "name": "Reports for c42",
        "input": {"customer": "c42"},
    }

    status, created = _put(api, "reports-c42", body)
    assert status == 201, created
    assert (created["externalId"], created["name"]) == ("reports-c42", "Reports for c42")
    eventbridge_after_create = eventbridge_state(eventbridge)

    status, again = _put(api, "reports-c42", body)
    assert status == 200, again
    assert again == created
    assert eventbridge_state(eventbridge) == eventbridge_after_create
    assert list(eventbridge_after_create) == [created["id"]]


def test_put_makes_the_schedule_exactly_the_body(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    workflow = str(workflows["alice"])
    status, created = _put(
        api,
        "sync",
        {"workflowId": workflow, "cron": "0 7 * * *", "note": "first", "name": "n"},
    )
    assert status == 201, created

    status, updated = _put(
        api, "sync", {"workflowId": workflow, "cron": "30 8 * * *", "enabled": False}
    )

    assert status == 200, updated
    assert updated["id"] == created["id"]
    assert (updated["cron"], updated["enabled"]) == ("30 8 * * *", False)
    # left out of the body: back to the defaults
    assert (updated["note"], updated["name"], updated["timezone"]) == (None, None, "UTC")
    assert updated["updatedAt"] >= created["updatedAt"]
    state = eventbridge_state(eventbridge)
    assert state[created["id"]]["State"] == "DISABLED"
    assert state[created["id"]]["ScheduleExpression"] == "cron(30 8 * * ? *)"


def test_put_cannot_move_a_schedule_to_another_workflow(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    _put(api, "sync", {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"})
    before = database_state(clean_db)

    status, answer = _put(
        api, "sync", {"workflowId": str(workflows["alice2"]), "cron": "0 7 * * *"}
    )

    assert status == 409, answer
    assert "a schedule's workflow cannot change" in answer["error"]["message"]
    assert database_state(clean_db) == before


def test_put_owners_are_separate_and_a_service_caller_acts_for_the_workflows_owner(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    alice_body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    status, alices = _put(api, "shared-name", alice_body)
    assert status == 201, alices

    # Bob's workflow: Bob's own schedule of that externalId, not Alice's
    bob_body = {"workflowId": str(workflows["bob"]), "cron": "0 7 * * *"}
    status, bobs = _put(api, "shared-name", bob_body, claims=SERVICE_CLAIMS)
    assert status == 201, bobs
    assert bobs["id"] != alices["id"]

    # The service role with Alice's workflow finds Alice's schedule
    status, via_service = _put(api, "shared-name", alice_body, claims=SERVICE_CLAIMS)
    assert status == 200, via_service
    assert via_service["id"] == alices["id"]

    # Alice cannot PUT with Bob's workflow: it is not hers
    status, answer = _put(api, "bob-only", bob_body)
    assert status == 422, answer
    assert answer["error"]["message"].startswith("workflowId:")


def test_put_with_a_bad_body_is_a_422_and_writes_nothing(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    for body in (
        {"workflowId": str(workflows["alice"]), "cron": "not a cron"},
        {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "externalId": "sync"},
        {"cron": "0 7 * * *"},
    ):
        status, answer = _put(api, "sync", body)
        assert status == 422, (body, answer)
    assert database_state(clean_db) == []


def test_a_read_only_key_cannot_put(
    api: Api, gateway: Gateway, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    key = _issue(api, readOnly=True)["key"]
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}

    status, answer = gateway.call(key, "PUT", "/api/schedules/by-external-id/sync", body=body)

    assert status == 403, answer
    assert answer == {"error": {"code": "forbidden", "message": "this API key is read-only"}}
    assert database_state(clean_db) == []


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("external_id", "'has space'", "schedules_external_id_format"),
        ("external_id", "''", "schedules_external_id_format"),
        ("name", "repeat('x', 201)", "schedules_name_bounds"),
        ("name", "E'a\\tb'", "schedules_name_bounds"),
    ],
)
def test_the_database_bounds_name_and_external_id_as_the_api_does(
    queries: AllQueries, column: str, value: str, constraint: str
) -> None:
    workflow = queries.workflows.create_workflow(OWNER, "w")["id"]
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 7 * * *", timezone="UTC", enabled=True
    )

    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        queries.db.connection().execute(
            f"update schedules set {column} = {value} where id = %s",  # noqa: S608
            (schedule["id"],),
        )
    assert caught.value.diag.constraint_name == constraint


def test_the_identity_bounds_are_validated_and_the_unique_index_is_valid(
    queries: AllQueries,
) -> None:
    constraints = queries.db.execute(
        """select conname, convalidated from pg_constraint
           where conname in ('schedules_name_bounds', 'schedules_external_id_format')
           order by conname"""
    ).fetchall()
    assert [(c["conname"], c["convalidated"]) for c in constraints] == [
        ("schedules_external_id_format", True),
        ("schedules_name_bounds", True),
    ]
    index = queries.db.execute(
        """select i.indisvalid, i.indisunique from pg_index i
           join pg_class c on c.oid = i.indexrelid
           where c.relname = 'schedules_owner_external_id_key'"""
    ).fetchone()
    assert index == {"indisvalid": True, "indisunique": True}


def test_external_id_reaches_an_http_step(runner: Runner, http_server: LoopbackServer) -> None:
    steps = [
        {
            "type": "http",
            "url": f"{http_server.url}/sync/{{{{externalId}}}}",
            "headers": {"X-External-Id": "{{externalId}}"},
        }
    ]
    workflow = runner.queries.workflows.create_workflow(OWNER, "per customer", {"steps": steps})
    schedule = runner.queries.schedules.create_schedule(
        None,
        workflow_id=workflow["id"],
        cron="*/5 * * * *",
        timezone="UTC",
        enabled=True,
        external_id="customer:c-42",
    )

    report = runner.fire(schedule)

    assert report.outcome == "succeeded"
    [request] = http_server.requests
    assert request.path == "/sync/customer%3Ac-42"
    assert request.headers["x-external-id"] == "customer:c-42"


def test_a_bad_external_id_filter_is_a_422_naming_it(api: Api) -> None:
    for value in ("\x00", "a b", "-x", "x" * 201):
        status, answer = api.call("GET", "/api/schedules", query=f"externalId={value}")
        assert status == 422, (value, answer)
        assert answer["error"]["message"].startswith("externalId"), answer


def test_a_schedule_from_before_the_migration_gets_its_owner_when_given_an_external_id(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    # Given a row as the migration left it: no owner_id copy (the trigger fills it on writes)
    schedule = _create(api, workflows["alice"])
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("update schedules set owner_id = null where id = %s", (schedule["id"],))

    # When it is given an externalId, Then a PUT of that externalId finds it
    status, _ = api.call("PATCH", f"/api/schedules/{schedule['id']}", body={"externalId": "old"})
    assert status == 200
    status, found = _put(api, "old", {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"})
    assert status == 200, found
    assert found["id"] == schedule["id"]
