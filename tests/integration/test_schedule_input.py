"""A schedule's input: through the API (create, PATCH, every read), bounded by the API and by
the database alike, and received by the run (read with the claim, substituted into its steps)."""
# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.models.schedule_input import MAX_INPUT_BYTES, MAX_INPUT_DEPTH
from scheduler.store.migrate import apply_migrations
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.conftest import MIGRATIONS, AllQueries
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
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

INPUT = {"customer": {"id": "c-42", "tags": ["a", "b"]}, "limit": 10}


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return value  # type: ignore[no-any-return]


def test_input_is_created_replaced_by_patch_and_shown_on_every_read(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    created = _create(api, workflows["alice"], input=INPUT)
    plain = _create(api, workflows["alice"])
    path = f"/api/schedules/{created['id']}"

    assert created["input"] == INPUT
    assert plain["input"] == {}
    assert api.call("GET", path)[1]["input"] == INPUT
    listed = {item["id"]: item["input"] for item in api.call("GET", "/api/schedules")[1]["items"]}
    assert listed == {created["id"]: INPUT, plain["id"]: {}}

    # a PATCH replaces the input whole (no merge); one without `input` leaves it alone
    status, patched = api.call("PATCH", path, body={"input": {"limit": 5}})
    assert (status, patched["input"]) == (200, {"limit": 5})
    status, patched = api.call("PATCH", path, body={"note": "q1"})
    assert (status, patched["input"]) == (200, {"limit": 5})
    status, patched = api.call("PATCH", path, body={"input": None})
    assert (status, patched["input"]) == (200, {})
    assert api.call("GET", path)[1]["input"] == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"input": {"k": "x" * MAX_INPUT_BYTES}}, "larger than", id="too-big"),
        pytest.param({"input": _nested(MAX_INPUT_DEPTH + 1)}, "deeper than", id="too-deep"),
        pytest.param({"input": [1, 2]}, "dictionary", id="array"),
        pytest.param({"input": "text"}, "dictionary", id="string"),
        pytest.param({"input": {"k": "a\u0000b"}}, "NUL", id="nul"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_an_input_out_of_bounds_is_a_422_naming_input_and_changes_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    method: str,
    body: dict[str, Any],
    reason: str,
) -> None:
    schedule = _create(api, workflows["alice"], input=INPUT)
    before = (database_state(clean_db), eventbridge_state(eventbridge))
    if method == "POST":
        body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", **body}
        path = "/api/schedules"
    else:
        path = f"/api/schedules/{schedule['id']}"

    status, answer = api.call(method, path, body=body)

    assert status == 422, answer
    [detail] = answer["error"]["details"]
    assert detail["loc"] == ["body", "input"]
    assert reason in detail["msg"]
    assert "xxxxxxxx" not in json.dumps(answer)
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before


def test_an_input_with_nan_is_a_422_not_a_500(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    raw = f'{{"workflowId": "{workflows["alice"]}", "cron": "0 7 * * *", "input": {{"k": NaN}}}}'

    status, answer = api.call("POST", "/api/schedules", raw_body=raw)

    assert status in (400, 422), answer
    assert api.call("GET", "/api/schedules")[1]["items"] == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("'[1]'", id="array"),
        pytest.param(f"jsonb_build_object('k', repeat('x', {MAX_INPUT_BYTES}))", id="too-big"),
        pytest.param(f"'{json.dumps(_nested(MAX_INPUT_DEPTH + 1))}'", id="too-deep"),
    ],
)
def test_the_database_bounds_input_as_the_api_does(queries: AllQueries, value: str) -> None:
    workflow = queries.workflows.create_workflow(OWNER, "w")["id"]
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 7 * * *", timezone="UTC", enabled=True
    )

    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        queries.db.connection().execute(
            f"update schedules set input = {value}::jsonb where id = %s",  # noqa: S608
            (schedule["id"],),
        )
    assert caught.value.diag.constraint_name == "schedules_input_bounds"


def test_the_input_bounds_are_validated_after_the_migrations(queries: AllQueries) -> None:
    row = queries.db.execute(
        "select convalidated from pg_constraint where conname = 'schedules_input_bounds'"
    ).fetchone()
    assert row == {"convalidated": True}


def test_the_largest_input_the_api_accepts_the_database_stores(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    deepest = _nested(MAX_INPUT_DEPTH - 1)  # 16 levels under the input's own
    room = MAX_INPUT_BYTES - len(json.dumps({"d": deepest, "k": ""}))
    largest = {"d": deepest, "k": "é" * (room // 2)}  # 2 bytes each in UTF-8
    assert len(json.dumps(largest, ensure_ascii=False).encode()) >= MAX_INPUT_BYTES - 1
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "input": largest}

    # as clients send it: UTF-8, not \u-escaped
    status, created = api.call(
        "POST", "/api/schedules", raw_body=json.dumps(body, ensure_ascii=False)
    )

    assert status == 201, created
    assert created["input"] == largest


def test_each_fire_receives_its_schedules_input_as_it_is_then(
    runner: Runner, http_server: LoopbackServer
) -> None:
    steps = [
        {
            "type": "http",
            "url": f"{http_server.url}/customers/{{{{input.customer.id}}}}"
            "?limit={{input.limit}}&at={{scheduledTime}}",
            "headers": {"X-Schedule": "{{scheduleId}}"},
            "body": {"customer": "{{input.customer}}", "note": "for {{input.customer.id}}"},
        }
    ]
    workflow = runner.queries.workflows.create_workflow(OWNER, "per customer", {"steps": steps})
    schedule = runner.queries.schedules.create_schedule(
        None,
        workflow_id=workflow["id"],
        cron="*/5 * * * *",
        timezone="UTC",
        enabled=True,
        input=INPUT,
    )

    first = runner.fire(schedule)
    runner.queries.schedules.update_schedule(
        schedule["id"], None, {"input": {"customer": {"id": "c 7"}, "limit": 1}}
    )
    second = runner.fire(schedule, SEVEN.replace(minute=5))

    assert (first.outcome, second.outcome) == ("succeeded", "succeeded")
    one, two = http_server.requests
    assert one.path == "/customers/c-42?limit=10&at=2026-11-27T07%3A00%3A00Z"
    assert one.headers["x-schedule"] == str(schedule["id"])
    assert one.body == {"customer": INPUT["customer"], "note": "for c-42"}
    assert two.path == "/customers/c%207?limit=1&at=2026-11-27T07%3A05%3A00Z"
    assert two.body == {"customer": {"id": "c 7"}, "note": "for c 7"}


def test_a_missing_input_key_fails_the_run_naming_the_placeholder(
    runner: Runner, http_server: LoopbackServer
) -> None:
    steps = [{"type": "http", "url": f"{http_server.url}/c/{{{{input.customer.id}}}}"}]
    workflow = runner.queries.workflows.create_workflow(OWNER, "per customer", {"steps": steps})
    schedule = runner.queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="*/5 * * * *", timezone="UTC", enabled=True
    )

    report = runner.fire(schedule)

    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["error"] == (
        "step 1 (http): placeholder {{input.customer.id}}: not in the schedule's input"
    )
    assert http_server.requests == []
    assert runner.schedule(schedule)["enabled"]  # the definition is fine: the input is not


def test_a_stored_input_out_of_bounds_fails_its_run_not_the_runner(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    # Given a row written around the bounds (the CHECK dropped, as a host app's own migration
    # might): an input nested deeper than the runner loads
    steps = [{"type": "http", "url": f"{http_server.url}/c/{{{{input.k}}}}"}]
    workflow = runner.queries.workflows.create_workflow(OWNER, "per customer", {"steps": steps})
    schedule = runner.queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="*/5 * * * *", timezone="UTC", enabled=True
    )
    with psycopg.connect(clean_db, autocommit=True) as conn:
        check = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint"
            " where conname = 'schedules_input_bounds'"
        ).fetchone()
        assert check is not None
        conn.execute("alter table schedules drop constraint schedules_input_bounds")
        try:
            conn.execute(
                "update schedules set input = %s::jsonb where id = %s",
                (json.dumps(_nested(MAX_INPUT_DEPTH + 4)), schedule["id"]),
            )

            # When it fires
            report = runner.fire(schedule)
            [run] = runner.runs(schedule)
            enabled = runner.schedule(schedule)["enabled"]
        finally:
            conn.execute("delete from schedules where id = %s", (schedule["id"],))
            conn.execute(f"alter table schedules add constraint schedules_input_bounds {check[0]}")

    # Then the run failed saying why, nothing was sent, and the schedule stays enabled
    assert report.outcome == "failed"
    assert (run["status"], run["error"]) == (
        "failed",
        "invalid schedule input: is nested deeper than 16 levels",
    )
    assert http_server.requests == []
    assert enabled


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database if exists input_migrate_check")
        conn.execute("create database input_migrate_check")
    yield make_conninfo(database_url, dbname="input_migrate_check")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database input_migrate_check with (force)")


def test_the_input_migration_adds_the_column_without_rewriting_the_schedules(
    empty_database: str, tmp_path: Path
) -> None:
    # Given a database migrated up to the version before the input, with schedules
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < "20261208000200":
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(empty_database, before)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        workflow = conn.execute("insert into workflows (name) values ('w') returning id").fetchone()
        assert workflow is not None
        conn.execute(
            "insert into schedules (workflow_id, cron)"
            " select %s, '* * * * *' from generate_series(1, 100)",
            workflow,
        )
        file_before = conn.execute("select pg_relation_filenode('schedules')").fetchone()

    # When the rest is applied
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then the table was not rewritten (a constant default is metadata only), every schedule
    # reads {}, and the bounds hold, validated
    assert applied[:2] == ["20261208000200", "20261208000201"]
    with psycopg.connect(empty_database) as conn:
        file_after = conn.execute("select pg_relation_filenode('schedules')").fetchone()
        inputs = conn.execute("select input, count(*) from schedules group by input").fetchall()
        validated = conn.execute(
            "select convalidated from pg_constraint where conname = 'schedules_input_bounds'"
        ).fetchone()
    assert file_after == file_before
    assert inputs == [({}, 100)]
    assert validated == (True,)
