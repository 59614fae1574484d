"""The calendars' migrations (20261210000200..203) on a database that has schedules already:
each existing schedule excludes no calendar, the bound holds, and the index the delete and the
preview read is valid."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from scheduler.store.migrate import apply_migrations

from tests.conftest import MIGRATIONS
from tests.integration.test_migrations import empty_database  # noqa: F401  (fixture)

CALENDARS = "20261210000200"


def test_existing_schedules_exclude_nothing_and_the_bound_and_index_hold(
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Given a database migrated up to the version before the calendars, with a schedule
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < CALENDARS:
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(empty_database, before)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        workflow = conn.execute("insert into workflows (name) values ('w') returning id").fetchone()
        conn.execute("insert into schedules (workflow_id, cron) values (%s, '* * * * *')", workflow)

    # When the rest is applied
    applied = apply_migrations(empty_database, MIGRATIONS)

    # Then the schedule excludes no calendar, the check is validated, the index is valid
    assert applied[:4] == [CALENDARS, "20261210000201", "20261210000202", "20261210000203"]
    with psycopg.connect(empty_database, autocommit=True) as conn:
        assert conn.execute("select exclude_calendars from schedules").fetchall() == [([],)]
        assert conn.execute(
            """select convalidated from pg_constraint
               where conname = 'schedules_exclude_calendars_bounds'"""
        ).fetchone() == (True,)
        assert conn.execute(
            """select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid
               where c.relname = 'schedules_exclude_calendars_idx'"""
        ).fetchone() == (True,)
        # at most 10 calendars per schedule, in the database too
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "update schedules set exclude_calendars ="
                " array(select gen_random_uuid() from generate_series(1, 11))"
            )
        # a calendar's name is unique per owner, the service's own (null) included
        conn.execute("insert into calendars (name) values ('Holidays')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into calendars (name) values ('Holidays')")
