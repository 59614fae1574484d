"""Migrations apply on an empty PostgreSQL, record themselves like the Supabase CLI, run once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.migrate import apply_migrations, discover

from tests.conftest import MIGRATIONS, ROOT


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database if exists migrate_check")
        conn.execute("create database migrate_check")
    yield make_conninfo(database_url, dbname="migrate_check")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop database migrate_check with (force)")


def test_migrations_apply_to_an_empty_database_and_record_versions(empty_database: str) -> None:
    # Given an empty database, When migrations are applied
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then every file ran, in order, and is recorded where `supabase db push` looks
    expected = [m.version for m in discover(MIGRATIONS)]
    assert applied == expected
    with psycopg.connect(empty_database) as conn:
        recorded = conn.execute(
            "select version, name, statements[1] from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()
        tables = {
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public'"
            ).fetchall()
        }
    assert [r[0] for r in recorded] == expected
    by_name = {name: first_statement for _, name, first_statement in recorded}
    assert "create table if not exists public.schedules" in by_name["workflow_schedules"]
    assert {"workflows", "schedules", "schedule_runs"} <= tables


def test_running_migrations_twice_is_a_no_op(empty_database: str) -> None:
    apply_migrations(empty_database, MIGRATIONS)

    assert apply_migrations(empty_database, MIGRATIONS) == []


def test_a_version_applied_by_the_supabase_cli_is_not_reapplied(empty_database: str) -> None:
    # Given the CLI already applied (and recorded) the first migration
    first = discover(MIGRATIONS)[0]
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(first.path.read_text())
        conn.execute(
            "create schema supabase_migrations;"
            " create table supabase_migrations.schema_migrations"
            " (version text primary key, statements text[], name text)"
        )
        conn.execute(
            "insert into supabase_migrations.schema_migrations values (%s, null, %s)",
            (first.version, first.name),
        )

    # When we migrate, Then only the rest runs
    applied = apply_migrations(empty_database, MIGRATIONS)
    assert first.version not in applied
    assert applied == [m.version for m in discover(MIGRATIONS)[1:]]


def test_migration_adds_missing_columns_to_an_existing_workflows_table(
    empty_database: str,
) -> None:
    # Given a host app whose workflows table has only some of our columns, and data
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("create table workflows (id uuid primary key, name text not null)")
        conn.execute("insert into workflows values (gen_random_uuid(), 'existing')")

    apply_migrations(empty_database, MIGRATIONS)

    # Then the existing row is kept and gets the new columns' defaults
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("select name, status, run_count, definition from workflows").fetchone()
    assert row == ("existing", "idle", 0, {"steps": []})


def test_migrate_command_applies_to_the_database_in_database_url(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database, "PYTHONPATH": str(ROOT / "layers" / "common")}
    first = subprocess.run(
        [sys.executable, "-m", "scheduler.migrate", str(MIGRATIONS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    second = subprocess.run(
        [sys.executable, "-m", "scheduler.migrate", str(MIGRATIONS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert f"applied {len(discover(MIGRATIONS))} migration(s)" in first.stdout
    assert "database is up to date" in second.stdout


def test_a_badly_named_migration_file_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "create_things.sql").write_text("select 1")

    with pytest.raises(ValueError, match=r"YYYYMMDDHHMMSS_name\.sql"):
        discover(tmp_path)


def test_the_run_policies_migration_keeps_existing_schedules_and_runs_as_they_were(
    empty_database: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # Given a database migrated up to the version before the run policies, with a schedule and
    # every kind of run it could have then
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < "20261206000000":
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(empty_database, before)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        workflow = conn.execute("insert into workflows (name) values ('w') returning id").fetchone()
        schedule = conn.execute(
            "insert into schedules (workflow_id, cron) values (%s, '* * * * *') returning id",
            workflow,
        ).fetchone()
        assert schedule is not None
        for minute, status in enumerate(("succeeded", "failed", "skipped")):
            conn.execute(
                """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                              finished_at)
                   values (%s, %s, '2026-12-01T00:00:00Z'::timestamptz + %s * interval '1 min',
                           %s, now())""",
                (schedule[0], workflow[0], minute, status),
            )

    # When the rest is applied
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then the schedule has today's behaviour (skip missed fires, skip overlaps), its runs are
    # untouched, and its fire times are checked from the migration on, none before
    assert applied[0] == "20261206000000"  # and those after it
    with psycopg.connect(empty_database) as conn:
        policies = conn.execute(
            """select catchup_policy, catchup_window_seconds, overlap_policy,
                      fires_from <= now()
               from schedules"""
        ).fetchone()
        statuses = conn.execute(
            """select status, trigger, missed_alert_pending from schedule_runs
               order by scheduled_time"""
        ).fetchall()
        check = conn.execute(
            """select c.checked_through = s.fires_from, c.next_check_at = s.fires_from
               from schedule_fire_checks c join schedules s on s.id = c.schedule_id"""
        ).fetchall()
    assert policies == ("skip", 3600, "skip", True)
    assert statuses == [  # and none of them has a Run Missed alert to send
        ("succeeded", "schedule", None),
        ("failed", "schedule", None),
        ("skipped", "schedule", None),
    ]
    assert check == [(True, True)]
