"""Store round trips against the real database, owner scoping, and clear domain errors."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from scheduler.errors import (
    DatabaseUnavailable,
    InvalidInput,
    ScheduleNotFound,
    WorkflowNotFound,
)
from scheduler.store.db import Database
from scheduler.store.schedules import Store

from tests.conftest import drop_connection

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


def _create(store: Store, workflow_id: uuid.UUID, owner=ALICE, cron="0 7 * * *"):  # type: ignore[no-untyped-def]
    return store.create_schedule(
        owner, workflow_id=workflow_id, cron=cron, timezone="Europe/Berlin", enabled=True
    )


def test_schedule_crud_round_trip(store: Store) -> None:
    workflow = store.create_workflow(ALICE, "report", {"steps": [{"type": "http"}]})

    created = _create(store, workflow["id"])
    assert created["cron"] == "0 7 * * *"
    assert created["timezone"] == "Europe/Berlin"
    assert created["enabled"] is True
    assert created["last_run_at"] is None
    assert store.get_schedule(created["id"], ALICE) == created

    updated = store.update_schedule(created["id"], ALICE, {"cron": "*/5 * * * *", "enabled": False})
    assert (updated["cron"], updated["enabled"], updated["timezone"]) == (
        "*/5 * * * *",
        False,
        "Europe/Berlin",
    )

    deleted = store.delete_schedule(created["id"], ALICE)
    assert deleted["id"] == created["id"]
    with pytest.raises(ScheduleNotFound):
        store.get_schedule(created["id"])


def test_an_owner_cannot_see_or_change_another_owners_schedules(store: Store) -> None:
    bobs = _create(store, store.create_workflow(BOB, "bob's")["id"], owner=BOB)

    with pytest.raises(ScheduleNotFound):
        store.get_schedule(bobs["id"], ALICE)
    with pytest.raises(ScheduleNotFound):
        store.update_schedule(bobs["id"], ALICE, {"enabled": False})
    with pytest.raises(ScheduleNotFound):
        store.delete_schedule(bobs["id"], ALICE)
    with pytest.raises(ScheduleNotFound):
        store.list_runs(bobs["id"], ALICE)
    assert store.list_schedules(ALICE) == []
    assert store.get_schedule(bobs["id"], None)["enabled"] is True  # the service sees all


def test_creating_for_an_unknown_or_foreign_workflow_is_workflow_not_found(store: Store) -> None:
    bobs = store.create_workflow(BOB, "bob's")

    with pytest.raises(WorkflowNotFound, match="not found"):
        _create(store, uuid.uuid4())
    with pytest.raises(WorkflowNotFound):
        _create(store, bobs["id"], owner=ALICE)
    assert store.list_schedules(None) == []


def test_list_is_newest_first_filtered_and_keyset_paginated(store: Store) -> None:
    first = store.create_workflow(ALICE, "first")["id"]
    second = store.create_workflow(ALICE, "second")["id"]
    made = [_create(store, first if i % 2 else second) for i in range(5)]
    store.update_schedule(made[0]["id"], ALICE, {"enabled": False})

    page1 = store.list_schedules(ALICE, limit=2)
    page2 = store.list_schedules(ALICE, limit=2, after=(page1[-1]["created_at"], page1[-1]["id"]))
    page3 = store.list_schedules(ALICE, limit=2, after=(page2[-1]["created_at"], page2[-1]["id"]))

    newest_first = [r["id"] for r in reversed(made)]
    assert [r["id"] for r in page1 + page2 + page3] == newest_first
    assert len(page3) == 1
    assert {r["workflow_id"] for r in store.list_schedules(ALICE, workflow_id=first)} == {first}
    assert [r["id"] for r in store.list_schedules(ALICE, enabled=False)] == [made[0]["id"]]


def test_iter_all_schedules_pages_through_every_row(store: Store) -> None:
    workflow = store.create_workflow(ALICE, "many")["id"]
    ids = {_create(store, workflow)["id"] for _ in range(7)}

    assert {r["id"] for r in store.iter_all_schedules(batch=3)} == ids


def test_updating_an_unknown_column_or_nothing_is_invalid_input(store: Store) -> None:
    row = _create(store, store.create_workflow(ALICE, "w")["id"])

    with pytest.raises(InvalidInput):
        store.update_schedule(row["id"], ALICE, {"workflow_id": uuid.uuid4()})
    with pytest.raises(InvalidInput):
        store.update_schedule(row["id"], ALICE, {})
    with pytest.raises(InvalidInput):
        store.update_schedule(row["id"], ALICE, {"cron": " "})
    assert store.get_schedule(row["id"])["cron"] == "0 7 * * *"


def test_runs_are_listed_newest_first_and_last_run_is_the_newest(store: Store) -> None:
    row = _create(store, store.create_workflow(ALICE, "w")["id"])
    base = datetime(2026, 11, 27, 7, tzinfo=UTC)
    for day in range(3):
        store.db.execute(
            "insert into schedule_runs (schedule_id, workflow_id, scheduled_time)"
            " values (%s, %s, %s)",
            (row["id"], row["workflow_id"], base + timedelta(days=day)),
        )

    runs = store.list_runs(row["id"], ALICE, limit=2)
    rest = store.list_runs(row["id"], ALICE, after=(runs[-1]["scheduled_time"], runs[-1]["id"]))

    times = [r["scheduled_time"] for r in runs + rest]
    assert times == [base + timedelta(days=d) for d in (2, 1, 0)]
    schedule, last = store.get_schedule_with_last_run(row["id"], ALICE)
    assert schedule == store.get_schedule(row["id"])
    assert last is not None
    assert datetime.fromisoformat(last["scheduled_time"]) == base + timedelta(days=2)
    assert store.get_schedule_with_last_run(_create(store, row["workflow_id"])["id"])[1] is None


def test_a_transaction_rolls_back_every_write_on_failure(store: Store) -> None:
    workflow = store.create_workflow(ALICE, "w")["id"]

    with pytest.raises(RuntimeError), store.transaction():
        _create(store, workflow)
        raise RuntimeError("the EventBridge call failed")

    assert store.list_schedules(ALICE) == []


def test_reconnects_after_the_server_drops_the_connection(store: Store) -> None:
    # Given a warm connection that the server (or the pooler) then closes
    dropped = store.db.connection()
    drop_connection(dropped)

    # When the next call fails, it fails as DatabaseUnavailable, not a raw driver error
    with pytest.raises(DatabaseUnavailable):
        store.list_schedules(ALICE)

    # Then the call after it reconnects by itself
    assert store.list_schedules(ALICE) == []
    assert store.db.connection() is not dropped


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
    store: Store, database_url: str
) -> None:
    workflow = store.create_workflow(ALICE, "w")["id"]

    with pytest.raises(DatabaseUnavailable), store.transaction():
        _create(store, workflow)
        pid = store.db.execute("select pg_backend_pid() as pid").fetchone()["pid"]  # type: ignore[index]
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))
        with contextlib.suppress(DatabaseUnavailable):
            store.db.execute("select 1")  # the statement that finds the connection gone
        # the next statement must not run on a new connection, outside the transaction
        _create(store, workflow, cron="0 8 * * *")

    assert store.list_schedules(ALICE) == []  # nothing committed, and the store works again
