"""The query objects' round trips against the real database, owner scoping, and clear domain
errors."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from scheduler.errors import (
    DatabaseUnavailable,
    InvalidInput,
    ScheduleNotFound,
    WorkflowNotFound,
)
from scheduler.store.db import Database
from scheduler.store.schedule_filters import ScheduleFilter
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.workflows import WorkflowQueries

from tests.conftest import drop_connection
from tests.queries import AllQueries

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


def _create(queries: AllQueries, workflow_id: uuid.UUID, owner=ALICE, cron="0 7 * * *"):  # type: ignore[no-untyped-def]
    return queries.schedules.create_schedule(
        owner, workflow_id=workflow_id, cron=cron, timezone="Europe/Berlin", enabled=True
    )


def test_schedule_crud_round_trip(queries: AllQueries) -> None:
    workflow = queries.workflows.create_workflow(ALICE, "report", {"steps": [{"type": "http"}]})

    created = _create(queries, workflow["id"])
    assert created["cron"] == "0 7 * * *"
    assert created["timezone"] == "Europe/Berlin"
    assert created["enabled"] is True
    assert created["last_run_at"] is None
    assert queries.schedules.get_schedule(created["id"], ALICE) == created

    updated = queries.schedules.update_schedule(
        created["id"], ALICE, {"cron": "*/5 * * * *", "enabled": False}
    )
    assert (updated["cron"], updated["enabled"], updated["timezone"]) == (
        "*/5 * * * *",
        False,
        "Europe/Berlin",
    )

    deleted = queries.schedules.delete_schedule(created["id"], ALICE)
    assert deleted["id"] == created["id"]
    with pytest.raises(ScheduleNotFound):
        queries.schedules.get_schedule(created["id"])


def test_an_owner_cannot_see_or_change_another_owners_schedules(queries: AllQueries) -> None:
    bobs = _create(queries, queries.workflows.create_workflow(BOB, "bob's")["id"], owner=BOB)

    with pytest.raises(ScheduleNotFound):
        queries.schedules.get_schedule(bobs["id"], ALICE)
    with pytest.raises(ScheduleNotFound):
        queries.schedules.update_schedule(bobs["id"], ALICE, {"enabled": False})
    with pytest.raises(ScheduleNotFound):
        queries.schedules.delete_schedule(bobs["id"], ALICE)
    with pytest.raises(ScheduleNotFound):
        queries.schedules.list_runs(bobs["id"], ALICE)
    assert queries.schedules.list_schedules(ALICE) == []
    assert (
        queries.schedules.get_schedule(bobs["id"], None)["enabled"] is True
    )  # the service sees all


def test_creating_for_an_unknown_or_foreign_workflow_is_workflow_not_found(
    queries: AllQueries,
) -> None:
    bobs = queries.workflows.create_workflow(BOB, "bob's")

    with pytest.raises(WorkflowNotFound, match="not found"):
        _create(queries, uuid.uuid4())
    with pytest.raises(WorkflowNotFound):
        _create(queries, bobs["id"], owner=ALICE)
    assert queries.schedules.list_schedules(None) == []


def test_list_is_newest_first_filtered_and_keyset_paginated(queries: AllQueries) -> None:
    first = queries.workflows.create_workflow(ALICE, "first")["id"]
    second = queries.workflows.create_workflow(ALICE, "second")["id"]
    made = [_create(queries, first if i % 2 else second) for i in range(5)]
    queries.schedules.update_schedule(made[0]["id"], ALICE, {"enabled": False})

    page1 = queries.schedules.list_schedules(ALICE, limit=2)
    page2 = queries.schedules.list_schedules(
        ALICE, limit=2, after=(page1[-1]["created_at"], page1[-1]["id"])
    )
    page3 = queries.schedules.list_schedules(
        ALICE, limit=2, after=(page2[-1]["created_at"], page2[-1]["id"])
    )

    newest_first = [r["id"] for r in reversed(made)]
    assert [r["id"] for r in page1 + page2 + page3] == newest_first
    assert len(page3) == 1
    assert {
        r["workflow_id"]
        for r in queries.schedules.list_schedules(ALICE, ScheduleFilter(workflow_id=first))
    } == {first}
    assert [
        r["id"] for r in queries.schedules.list_schedules(ALICE, ScheduleFilter(enabled=False))
    ] == [made[0]["id"]]


def test_iter_all_schedules_pages_through_every_row(queries: AllQueries) -> None:
    workflow = queries.workflows.create_workflow(ALICE, "many")["id"]
    ids = {_create(queries, workflow)["id"] for _ in range(7)}

    assert {r["id"] for r in queries.schedules.iter_all_schedules(batch=3)} == ids


def test_updating_an_unknown_column_or_nothing_is_invalid_input(queries: AllQueries) -> None:
    row = _create(queries, queries.workflows.create_workflow(ALICE, "w")["id"])

    with pytest.raises(InvalidInput):
        queries.schedules.update_schedule(row["id"], ALICE, {"workflow_id": uuid.uuid4()})
    with pytest.raises(InvalidInput):
        queries.schedules.update_schedule(row["id"], ALICE, {})
    with pytest.raises(InvalidInput):
        queries.schedules.update_schedule(row["id"], ALICE, {"cron": " "})
    assert queries.schedules.get_schedule(row["id"])["cron"] == "0 7 * * *"


def test_runs_are_listed_newest_first_and_last_run_is_the_newest(queries: AllQueries) -> None:
    row = _create(queries, queries.workflows.create_workflow(ALICE, "w")["id"])
    base = datetime(2026, 11, 27, 7, tzinfo=UTC)
    for day in range(3):
        queries.db.execute(
            "insert into schedule_runs (schedule_id, workflow_id, scheduled_time)"
            " values (%s, %s, %s)",
            (row["id"], row["workflow_id"], base + timedelta(days=day)),
        )

    runs = queries.schedules.list_runs(row["id"], ALICE, limit=2)
    rest = queries.schedules.list_runs(
        row["id"], ALICE, after=(runs[-1]["scheduled_time"], runs[-1]["id"])
    )

    times = [r["scheduled_time"] for r in runs + rest]
    assert times == [base + timedelta(days=d) for d in (2, 1, 0)]
    schedule, last = queries.schedules.get_schedule_with_last_run(row["id"], ALICE)
    assert schedule == queries.schedules.get_schedule(row["id"])
    assert last is not None
    assert datetime.fromisoformat(last["scheduled_time"]) == base + timedelta(days=2)
    assert (
        queries.schedules.get_schedule_with_last_run(_create(queries, row["workflow_id"])["id"])[1]
        is None
    )


def test_a_transaction_rolls_back_every_write_on_failure(queries: AllQueries) -> None:
    workflow = queries.workflows.create_workflow(ALICE, "w")["id"]

    with pytest.raises(RuntimeError), queries.db.transaction():
        _create(queries, workflow)
        raise RuntimeError("the EventBridge call failed")

    assert queries.schedules.list_schedules(ALICE) == []


def test_query_objects_over_one_database_share_its_transaction(clean_db: str) -> None:
    # Given two query objects built apart over one Database, as a use case's are
    db, elsewhere = Database(clean_db), Database(clean_db)
    workflows, schedules = WorkflowQueries(db), ScheduleQueries(db)
    workflow = workflows.create_workflow(ALICE, "w")["id"]
    changed = {"steps": [{"type": "http", "method": "GET", "url": "https://example.com"}]}

    # When one transaction writes through both, then fails
    with pytest.raises(RuntimeError), db.transaction():
        workflows.set_workflow_definition(workflow, changed)
        _create_with(schedules, workflow)
        raise RuntimeError("the EventBridge call failed")

    # Then neither write is left
    assert ScheduleQueries(elsewhere).list_schedules(ALICE) == []
    assert json.loads(WorkflowQueries(elsewhere).get_workflow(workflow)["definition"]) == {
        "steps": []
    }

    # and when one ends well, both are committed together
    with db.transaction():
        workflows.set_workflow_definition(workflow, changed)
        created = _create_with(schedules, workflow)
        # not before the commit: the second write is in the first one's transaction
        assert ScheduleQueries(elsewhere).list_schedules(ALICE) == []
    assert [r["id"] for r in ScheduleQueries(elsewhere).list_schedules(ALICE)] == [created["id"]]
    assert json.loads(WorkflowQueries(elsewhere).get_workflow(workflow)["definition"]) == changed
    db.close()
    elsewhere.close()


def _create_with(schedules: ScheduleQueries, workflow_id: uuid.UUID) -> dict[str, Any]:
    return schedules.create_schedule(
        ALICE, workflow_id=workflow_id, cron="0 7 * * *", timezone="UTC", enabled=True
    )


def test_reconnects_after_the_server_drops_the_connection(queries: AllQueries) -> None:
    # Given a warm connection that the server (or the pooler) then closes
    dropped = queries.db.connection()
    drop_connection(dropped)

    # When the next call fails, it fails as DatabaseUnavailable, not a raw driver error
    with pytest.raises(DatabaseUnavailable):
        queries.schedules.list_schedules(ALICE)

    # Then the call after it reconnects by itself
    assert queries.schedules.list_schedules(ALICE) == []
    assert queries.db.connection() is not dropped


def test_an_idle_connection_is_checked_and_replaced_before_reuse(database_url: str) -> None:
    db = Database(database_url, idle_check_s=0)  # every reuse counts as "long idle"
    db.execute("select 1")
    drop_connection(db.connection())

    # The liveness check notices the dead connection and opens a new one: no error at all
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    db.close()


def test_an_unreachable_database_is_database_unavailable() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none", connect_timeout_s=1)

    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        db.execute("select 1")


def test_statement_timeout_is_enforced(database_url: str) -> None:
    db = Database(database_url, statement_timeout_ms=200)

    with pytest.raises(DatabaseUnavailable, match="timed out"):
        db.execute("select pg_sleep(2)")
    assert db.execute("select 1 as one").fetchone() == {"one": 1}  # connection still usable
    db.close()


def test_a_connection_lost_inside_a_transaction_is_not_silently_replaced(
    queries: AllQueries, database_url: str
) -> None:
    workflow = queries.workflows.create_workflow(ALICE, "w")["id"]

    with pytest.raises(DatabaseUnavailable), queries.db.transaction():
        _create(queries, workflow)
        pid = queries.db.execute("select pg_backend_pid() as pid").fetchone()["pid"]  # type: ignore[index]
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))
        with contextlib.suppress(DatabaseUnavailable):
            queries.db.execute("select 1")  # the statement that finds the connection gone
        # the next statement must not run on a new connection, outside the transaction
        _create(queries, workflow, cron="0 8 * * *")

    assert (
        queries.schedules.list_schedules(ALICE) == []
    )  # nothing committed, and the queries work again
