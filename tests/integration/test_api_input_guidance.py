"""The 422s a new user meets, through the API's handler: the first problem named in words at the
top, no validation library's prefixes, EventBridge's forms and legacy or misspelt zones answered
with what to write, snake_case names refused; and a stored legacy zone that keeps working."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from scheduler.policies.periodic_pass import reconcile
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)
from tests.queries import AllQueries, process_queries

LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")


def _refused(api: Api, method: str, path: str, body: Any) -> dict[str, Any]:
    status, answer = api.call(method, path, body=body)
    assert status == 422, answer
    error = answer["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "invalid_input"
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}
        assert not detail["msg"].startswith(LIBRARY_PREFIXES), detail
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"cron": "cron(0 7 * * ? *)"},
            "cron: cron(...) is EventBridge's form, which the API writes for you; "
            "write `0 7 * * *`",
        ),
        ({"cron": "rate(5 minutes)"}, "write `*/5 * * * *`"),
        ({"cron": "rate(7 minutes)"}, "every 7 minutes has no cron equivalent"),
        ({"cron": "0 25 * * *"}, "cron: hour: 25 is out of range 0-23"),
        (
            {"cron": "0 7 * * *", "timezone": "Europe/Berln"},
            "timezone: unknown timezone 'Europe/Berln'; did you mean 'Europe/Berlin'?",
        ),
        ({"cron": "0 7 * * *", "timezone": "EST"}, "timezone: 'EST' is a fixed UTC-05:00"),
        ({"cron": "0 7 * * *", "timezone": "CET"}, "'Europe/Berlin' or 'Europe/Paris'"),
        ({"cron": "0 7 * * *", "bogus": 1}, "bogus: unknown field"),
        (
            {"cron": "0 7 * * *", "startAt": "2030-01-01T00:00:00Z", "endAt": "2029-01-01T00:00Z"},
            "endAt must be after startAt",
        ),
    ],
)
def test_a_refused_create_names_the_first_problem_in_words(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    # When a schedule is created with a mistake a new user makes
    error = _refused(
        api, "POST", "/api/schedules", {"workflowId": str(workflows["alice"]), **fields}
    )
    # Then the top-level message says what is wrong (and what to write), not "not valid"
    assert message in error["message"]
    assert error["message"].split(": ", 1)[-1] in {d["msg"] for d in error["details"]}
    # and nothing was made
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == ([], {})


def test_a_missing_field_and_a_body_that_is_no_object_are_named(api: Api) -> None:
    assert _refused(api, "POST", "/api/schedules", {"cron": "0 7 * * *"})["message"] == (
        "workflowId: required"
    )
    error = _refused(api, "POST", "/api/schedules", ["not", "an", "object"])
    assert error["message"] == "the body must be a JSON object"


@pytest.mark.parametrize(
    ("method", "path", "body", "key", "write"),
    [
        (
            "POST",
            "/api/schedules",
            {"workflow_id": "{wf}", "cron": "0 7 * * *"},
            "workflow_id",
            "workflowId",
        ),
        ("PATCH", "/api/schedules/{id}", {"end_at": None}, "end_at", "endAt"),
        (
            "POST",
            "/api/cron/preview",
            {"cron": "0 7 * * *", "start_at": None},
            "start_at",
            "startAt",
        ),
        (
            "POST",
            "/api/schedules/{id}/backfill",
            {"from_": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
            "from_",
            "from",
        ),
        ("POST", "/api/keys", {"name": "worker", "read_only": True}, "read_only", "readOnly"),
    ],
)
def test_a_snake_case_name_is_refused_naming_the_camel_case_one(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    method: str,
    path: str,
    body: dict[str, Any],
    key: str,
    write: str,
) -> None:
    # Given a schedule (the target of the per-schedule requests)
    created = _create(api, workflows["alice"])
    before = (database_state(clean_db), eventbridge_state(eventbridge))
    body = {k: (str(workflows["alice"]) if v == "{wf}" else v) for k, v in body.items()}
    admin = Api(claims={"role": "service_role", "iss": "supabase"})

    # When a request names a field in snake_case
    error = _refused(admin, method, path.replace("{id}", created["id"]), body)

    # Then it is refused, naming the field and what to write, and nothing changed
    assert error["message"] == (
        f"{key}: unknown field; write {write} (the API's field names are camelCase)"
    )
    assert error["details"][0]["type"] == "extra_forbidden"
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before


def test_the_preview_answers_pasted_forms_and_legacy_zones_as_invalid(api: Api) -> None:
    for body, words in [
        ({"cron": "cron(0 7 * * ? *)"}, "write `0 7 * * *`"),
        ({"cron": "rate(1 hour)"}, "write `0 * * * *`"),
        ({"cron": "0 7 * * *", "timezone": "EST"}, "'America/New_York'"),
        ({"cron": "0 7 * * *", "timezone": "Europe/Berln"}, "did you mean 'Europe/Berlin'?"),
    ]:
        status, preview = api.call("POST", "/api/cron/preview", body=body)
        assert status == 200, preview
        assert preview["valid"] is False
        assert words in preview["error"]


def _store_zone(database_url: str, schedule_id: str, zone: str) -> None:
    """A row written before legacy zones were refused (or by SQL)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update schedules set timezone = %s where id = %s", (zone, schedule_id))


def test_a_stored_est_schedule_still_reads_changes_reconciles_and_fires(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    queries: AllQueries,
    runner: Runner,
    http_server: LoopbackServer,
) -> None:
    # Given a schedule stored with EST at 02:00 (07:00 UTC: EST is UTC-05:00 all year)
    workflow = queries.workflows.create_workflow(
        uuid.UUID("00000000-0000-4000-8000-00000000a11c"), "est", {"steps": http_steps(http_server)}
    )
    created = _create(api, workflow["id"], cron="0 2 * * *")
    _store_zone(clean_db, created["id"], "EST")

    # When it is read: it is schedulable and its next fire is 07:00 UTC
    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    assert status == 200, detail
    assert (detail["timezone"], detail["invalidReason"]) == ("EST", None)
    assert detail["nextRunAt"].endswith("T07:00:00Z")

    # When it is changed without touching its zone: it is accepted, and the zone is kept
    status, changed = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"note": "kept", "cron": "0 2 * * 1-5"}
    )
    assert status == 200, changed
    assert changed["timezone"] == "EST"
    # and so is resending the zone it has with another change (a client that sends it all)
    status, resent = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"timezone": "EST", "note": "again"}
    )
    assert (status, resent["timezone"], resent["note"]) == (200, "EST", "again"), resent
    # but changing it to another legacy zone is refused, naming the zone to use, and changes
    # nothing
    before = database_state(clean_db)
    status, answer = api.call("PATCH", f"/api/schedules/{created['id']}", body={"timezone": "CET"})
    assert status == 422, answer
    assert answer["error"]["message"] == (
        "timezone: 'CET' is the name of a standard time, not of a place; write the place's "
        "zone instead: 'Europe/Berlin' or 'Europe/Paris'"
    )
    assert database_state(clean_db) == before

    # When reconcile passes over it: EventBridge keeps its schedule in EST
    assert reconcile(process_queries().periodic_pass, eventbridge)["invalid_rows"] == 0
    [state] = eventbridge_state(eventbridge).values()
    assert state["ScheduleExpressionTimezone"] == "EST"

    # When its fire time comes (Friday 2026-11-27, 02:00 EST = SEVEN, 07:00 UTC): it runs
    row = queries.schedules.get_schedule(uuid.UUID(created["id"]))
    report = runner.fire(row, SEVEN)
    assert report.outcome == "succeeded"
    assert [r.path for r in http_server.requests] == ["/run"]


def test_changing_a_schedule_to_a_legacy_zone_is_refused_and_changes_nothing(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules, clean_db: str
) -> None:
    created = _create(api, workflows["alice"], timezone="Europe/Berlin")
    before = (database_state(clean_db), eventbridge_state(eventbridge))

    status, answer = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"timezone": "EST", "cron": "0 8 * * *"}
    )

    assert status == 422, answer
    assert answer["error"]["message"].startswith("timezone: 'EST' is a fixed UTC-05:00")
    assert answer["error"]["message"].endswith("'America/New_York'")
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before
