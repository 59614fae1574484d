"""Migrations apply on an empty PostgreSQL, record themselves like the Supabase CLI, run once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.store.migrate import MigrationError, apply_migrations, discover

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
        [sys.executable, "-m", "scheduler.store.migrate", str(MIGRATIONS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    second = subprocess.run(
        [sys.executable, "-m", "scheduler.store.migrate", str(MIGRATIONS)],
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


def test_a_no_transaction_migration_runs_alone_and_is_recorded(
    empty_database: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # Given a table, and an index built concurrently (which no transaction block may hold)
    (tmp_path / "20990101000000_things.sql").write_text(
        "create table things (id int); insert into things values (1), (2);"
    )
    (tmp_path / "20990101000001_things_index.sql").write_text(
        "-- migrate: no-transaction\n-- why: not to lock out writes\n"
        "create index concurrently if not exists things_id_idx on things (id);\n"
    )

    # When migrations are applied, twice
    applied = apply_migrations(empty_database, tmp_path)
    again = apply_migrations(empty_database, tmp_path)

    # Then the index is built, valid, and the migration recorded once
    assert applied == ["20990101000000", "20990101000001"]
    assert again == []
    with psycopg.connect(empty_database) as conn:
        valid = conn.execute(
            "select indisvalid from pg_index where indexrelid = 'things_id_idx'::regclass"
        ).fetchone()
    assert valid == (True,)


def test_an_index_left_invalid_by_a_failed_build_fails_the_migration_unrecorded(
    empty_database: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # Given a concurrent build of a unique index that fails (duplicates), leaving the index
    # behind, invalid, as a build that dies does
    (tmp_path / "20990101000000_things.sql").write_text(
        "create table things (id int); insert into things values (1), (1);"
    )
    (tmp_path / "20990101000001_things_key.sql").write_text(
        "-- migrate: no-transaction\n"
        "create unique index concurrently if not exists things_id_key on things (id);\n"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        apply_migrations(empty_database, tmp_path)

    # When migrations are applied again (`if not exists` skips the invalid index)
    with pytest.raises(MigrationError, match="things_id_key is not valid"):
        apply_migrations(empty_database, tmp_path)

    # Then the migration is not recorded: once the index is dropped, it builds it
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("drop index things_id_key")
        conn.execute("delete from things where ctid = (select max(ctid) from things)")
    assert apply_migrations(empty_database, tmp_path) == ["20990101000001"]


def _run_schema(url: str) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]]]:
    """schedule_runs' checks and indexes: definition and whether valid."""
    with psycopg.connect(url) as conn:
        checks = conn.execute(
            """select conname, pg_get_constraintdef(oid), convalidated from pg_constraint
               where conrelid = 'public.schedule_runs'::regclass order by conname"""
        ).fetchall()
        indexes = conn.execute(
            """select c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid from pg_index i
               join pg_class c on c.oid = i.indexrelid
               where i.indrelid = 'public.schedule_runs'::regclass order by c.relname"""
        ).fetchall()
    return checks, indexes


def test_a_database_that_applied_the_first_run_policies_release_ends_with_the_same_schema(
    empty_database: str, database_url: str
) -> None:
    # Given a database as the first release of 20261206000000 left it: that file then also
    # changed and validated the run checks and built the two indexes, in its transaction (as
    # 20261207000000 to 20261207000003 do now, the indexes without CONCURRENTLY)
    pending = [m for m in discover(MIGRATIONS) if "20261207000000" <= m.version <= "20261207000003"]
    first_release = "\n".join(m.path.read_text().replace(" concurrently", "") for m in pending)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        applied_then = [m for m in discover(MIGRATIONS) if m.version <= "20261206000000"]
        for migration in applied_then:
            with conn.transaction():
                conn.execute(migration.path.read_text().encode())
                if migration.version == "20261206000000":
                    conn.execute(first_release.encode())

    # When today's migrations are applied to it
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then the ones after it ran, and its runs' checks and indexes are those of a database
    # migrated from scratch (the session's)
    assert {m.version for m in pending} <= set(applied)
    assert _run_schema(empty_database) == _run_schema(database_url)
