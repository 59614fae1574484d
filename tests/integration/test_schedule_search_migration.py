"""The labels and last-run-status migrations (20261209000200..207) on a database that already
has schedules and runs: existing rows get no labels, the outcome of their newest finished run,
their owner where it was still null, and the list's indexes are built and valid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.store.migrate import apply_migrations

from tests.conftest import MIGRATIONS

OWNER = "00000000-0000-4000-8000-0000000000aa"


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database if exists search_migrate_check")
        conn.execute("create database search_migrate_check")
    yield make_conninfo(database_url, dbname="search_migrate_check")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database search_migrate_check with (force)")


def test_existing_schedules_get_labels_their_last_run_status_and_owner(
    empty_database: str, tmp_path: Path
) -> None:
    # Given a database migrated up to the version before labels, with a schedule whose runs
    # finished out of order (the newest slot, failed, is not the last one written) and whose
    # owner_id is null (written before 20261208000300), and a schedule that never ran
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < "20261209000200":
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(empty_database, before)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        workflow = conn.execute(
            "insert into workflows (name, owner_id) values ('w', %s) returning id", (OWNER,)
        ).fetchone()
        assert workflow is not None
        ran, never = (
            conn.execute(
                """insert into schedules (workflow_id, cron) values (%s, '* * * * *')
                   returning id""",
                workflow,
            ).fetchone()
            for _ in range(2)
        )
        assert ran is not None
        assert never is not None
        conn.execute("update schedules set owner_id = null")  # as written before the column
        for minute, status in ((3, "running"), (2, "failed"), (0, "skipped"), (1, "succeeded")):
            conn.execute(
                """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                              finished_at)
                   values (%s, %s, '2026-12-01T00:00:00Z'::timestamptz + %s * interval '1 min',
                           %s, case when %s <> 'running' then now() end)""",
                (ran[0], workflow[0], minute, status, status),
            )

    # When the rest is applied
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then the existing schedules have no labels, the ran one its newest finished slot's
    # outcome (the running slot after it does not count), and both their workflow's owner
    assert applied[0] == "20261209000200"
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute(
            """select id, labels, last_run_status, last_run_scheduled_time, owner_id::text
               from schedules"""
        ).fetchall()
        invalid = conn.execute(
            """select conname from pg_constraint
               where conrelid = 'schedules'::regclass and not convalidated"""
        ).fetchall()
        indexes = conn.execute(
            """select c.relname, i.indisvalid from pg_index i
               join pg_class c on c.oid = i.indexrelid
               where i.indrelid = 'schedules'::regclass
                 and c.relname in ('schedules_owner_page_idx', 'schedules_labels_idx',
                                   'schedules_owner_last_run_status_idx')"""
        ).fetchall()
    by_id = {row[0]: row[1:] for row in rows}
    ran_row, never_row = by_id[ran[0]], by_id[never[0]]
    assert ran_row[0] == {}
    assert ran_row[1] == "failed"
    assert ran_row[2].isoformat() == "2026-12-01T00:02:00+00:00"
    assert ran_row[3] == OWNER
    assert never_row == ({}, None, None, OWNER)
    assert invalid == []
    assert sorted(indexes) == [
        ("schedules_labels_idx", True),
        ("schedules_owner_last_run_status_idx", True),
        ("schedules_owner_page_idx", True),
    ]

    # And running the backfill again changes nothing (it is safe to repeat)
    backfill = MIGRATIONS / "20261209000204_backfill_schedule_last_run_status.sql"
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(backfill.read_text().encode())
        again = conn.execute(
            "select id, labels, last_run_status, last_run_scheduled_time, owner_id::text"
            " from schedules"
        ).fetchall()
    assert {row[0]: row[1:] for row in again} == by_id
