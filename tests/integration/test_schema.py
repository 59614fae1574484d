"""The tables behave as the design says: timestamps, cascades, constraints, RLS."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from tests.queries import AllQueries

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


def _schedule(queries: AllQueries, owner: uuid.UUID = ALICE) -> dict:
    workflow = queries.workflows.create_workflow(owner, "nightly report")
    return queries.schedules.create_schedule(
        owner, workflow_id=workflow["id"], cron="0 7 * * *", timezone="UTC", enabled=True
    )


def test_created_at_is_set_on_insert_and_never_changes(queries: AllQueries) -> None:
    row = _schedule(queries)
    assert row["created_at"] == row["updated_at"]
    time.sleep(0.01)

    updated = queries.schedules.update_schedule(row["id"], ALICE, {"enabled": False})
    with queries.db.transaction() as conn:  # even an explicit attempt cannot move created_at
        conn.execute("update schedules set created_at = '2000-01-01' where id = %s", (row["id"],))
    again = queries.schedules.get_schedule(row["id"])

    assert updated["updated_at"] > row["updated_at"]
    assert updated["created_at"] == row["created_at"]
    assert again["created_at"] == row["created_at"]
    assert again["updated_at"] > updated["updated_at"]


def test_deleting_a_workflow_cascades_to_its_schedules_and_runs(queries: AllQueries) -> None:
    row = _schedule(queries)
    queries.db.execute(
        "insert into schedule_runs (schedule_id, workflow_id, scheduled_time)"
        " values (%s, %s, now())",
        (row["id"], row["workflow_id"]),
    )

    queries.db.execute("delete from workflows where id = %s", (row["workflow_id"],))

    counts = queries.db.execute(
        "select (select count(*) from schedules) s, (select count(*) from schedule_runs) r"
    ).fetchone()
    assert counts == {"s": 0, "r": 0}


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("update schedules set cron = '  '", "schedules_cron_check"),
        ("update workflows set status = 'paused'", "workflows_status_check"),
        (
            "insert into schedule_runs"
            " (schedule_id, workflow_id, scheduled_time, status, finished_at)"
            " select id, workflow_id, now(), 'exploded', now() from schedules",
            "schedule_runs_status_check",
        ),
        (
            "insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status)"
            " select id, workflow_id, now(), 'succeeded' from schedules",
            "schedule_runs_finished_check",
        ),
    ],
)
def test_constraints_reject_bad_rows(queries: AllQueries, statement: str, constraint: str) -> None:
    _schedule(queries)

    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        queries.db.connection().execute(statement)

    assert caught.value.diag.constraint_name == constraint


def test_one_run_per_schedule_and_scheduled_time(queries: AllQueries) -> None:
    row = _schedule(queries)
    insert = (
        "insert into schedule_runs (schedule_id, workflow_id, scheduled_time) values (%s, %s, %s)"
    )
    at = datetime(2026, 11, 27, 7, tzinfo=UTC)
    queries.db.execute(insert, (row["id"], row["workflow_id"], at))

    with pytest.raises(psycopg.errors.UniqueViolation):
        queries.db.connection().execute(insert, (row["id"], row["workflow_id"], at))


def _visible_as(conn: psycopg.Connection, role: str, sub: uuid.UUID | None) -> dict[str, int]:
    """Count rows the way PostgREST would see them for a token with this role and sub."""
    with conn.transaction():
        conn.execute(f"set local role {role}")
        claims = json.dumps({"sub": str(sub) if sub else None, "role": role})
        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        counts = {}
        for table in ("workflows", "schedules", "schedule_runs"):
            row = conn.execute(f"select count(*) from {table}").fetchone()  # noqa: S608 (fixed names)
            assert row is not None
            counts[table] = row[0]
    return counts


def test_rls_shows_a_user_only_their_own_rows_and_service_role_all(
    queries: AllQueries, database_url: str
) -> None:
    # Given one schedule with a run for Alice and one for Bob
    for owner in (ALICE, BOB):
        row = _schedule(queries, owner)
        queries.db.execute(
            "insert into schedule_runs (schedule_id, workflow_id, scheduled_time)"
            " values (%s, %s, now())",
            (row["id"], row["workflow_id"]),
        )

    with psycopg.connect(database_url, autocommit=True) as conn:
        # Then each user sees only their own rows, anon nothing, the service role everything
        assert _visible_as(conn, "authenticated", ALICE) == dict.fromkeys(
            ("workflows", "schedules", "schedule_runs"), 1
        )
        assert _visible_as(conn, "authenticated", BOB)["schedules"] == 1
        assert _visible_as(conn, "service_role", None) == dict.fromkeys(
            ("workflows", "schedules", "schedule_runs"), 2
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _visible_as(conn, "anon", None)


def _as_user(conn: psycopg.Connection, sub: uuid.UUID) -> None:
    """Inside a transaction: act as PostgREST does for an authenticated user's token."""
    conn.execute("set local role authenticated")
    conn.execute(
        "select set_config('request.jwt.claims', %s, true)",
        (json.dumps({"sub": str(sub), "role": "authenticated"}),),
    )


@pytest.mark.parametrize(
    "statement",
    [
        "insert into schedules (workflow_id, cron) values (%(own)s, '* * * * *')",
        "insert into schedules (workflow_id, cron) values (%(other)s, '* * * * *')",
        "update schedules set cron = 'nonsense'",
        "delete from schedules",
        "update schedule_runs set status = 'succeeded'",
    ],
)
def test_clients_can_only_read_schedules_and_runs(
    queries: AllQueries, database_url: str, statement: str
) -> None:
    # Given Alice's schedule (the API is the one writer of schedules, the runner of runs)
    own = _schedule(queries, ALICE)
    other = queries.workflows.create_workflow(BOB, "bob's")

    # When Alice writes through a Supabase client, Then the database refuses
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        conn.transaction(),
    ):
        _as_user(conn, ALICE)
        conn.execute(statement, {"own": own["workflow_id"], "other": other["id"]})
    assert queries.schedules.get_schedule(own["id"])["cron"] == "0 7 * * *"


def test_a_client_cannot_fake_a_workflows_run_state(queries: AllQueries, database_url: str) -> None:
    own = queries.workflows.create_workflow(ALICE, "report")

    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        _as_user(conn, ALICE)
        conn.execute(
            "update workflows set name = 'renamed', run_count = 42, lease_fence = 9e15,"
            " status = 'running', last_run_status = 'succeeded' where id = %s",
            (own["id"],),
        )
        conn.execute(
            "insert into workflows (owner_id, name, run_count, lease_fence)"
            " values (%s, 'new', 7, 9e15)",
            (ALICE,),
        )

    # Then what the app owns changed, the runner's state did not
    renamed = queries.workflows.get_workflow(own["id"])
    assert renamed["name"] == "renamed"
    assert (renamed["run_count"], renamed["lease_fence"], renamed["status"]) == (0, 0, "idle")
    assert renamed["last_run_status"] is None
    [new] = [w for w in queries.workflows.list_workflows(ALICE) if w["name"] == "new"]
    assert (new["run_count"], new["lease_fence"]) == (0, 0)
