"""Migrating a database with a large run history does not stop the runner (issue #23, item 6):
while the run-policies migrations validate their checks and build their indexes over every run,
the runner's writes to schedule_runs go on, none waiting out its lock timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from scheduler.errors import DatabaseUnavailable
from scheduler.store.db import Database
from scheduler.store.migrate import apply_migrations

from tests.conftest import MIGRATIONS

RUN_POLICIES = "20261206000000"
# A run history whose scans and index builds hold the first release of 20261206000000 (one
# transaction, which locked writes out for all of it) for over a second here (1.5 us per run): a
# production history is a hundred times larger.
HISTORY_RUNS = 1_000_000
# A quarter of the runner's own (config.db_lock_timeout_ms, 2 s), as the history is so much
# smaller than a production one; still a hundred times what the ALTERs that lock writes out take.
RUNNER_LOCK_TIMEOUT_MS = 500
# It times the runner against the migration: run alone (`make test`), not beside the other worker.
pytestmark = pytest.mark.serial


@pytest.fixture
def database_before_run_policies(direct_database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated up to the version before the run policies, with one
    schedule and a long run history. Straight to the server: a database the pooler was not
    told of."""
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database if exists migrate_locks with (force)")
        conn.execute("create database migrate_locks")
    url = make_conninfo(direct_database_url, dbname="migrate_locks")
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < RUN_POLICIES:
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(url, before)
    with psycopg.connect(url, autocommit=True) as conn:
        _fill_run_history(conn, HISTORY_RUNS)
    yield url
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database migrate_locks with (force)")


def _fill_run_history(conn: psycopg.Connection[Any], runs: int) -> None:
    """`runs` finished runs of one schedule, written fast: without the foreign-key checks (row
    triggers; the rows are consistent by construction) and with the secondary indexes built
    after the rows (once, sorted) rather than along (row by row), then the same as before."""
    conn.execute("set session_replication_role = replica")
    conn.execute("set maintenance_work_mem = '256MB'")
    secondary = conn.execute(
        """select indexname, indexdef from pg_indexes
           where schemaname = 'public' and tablename = 'schedule_runs'
             and indexname not in (select conname from pg_constraint)"""
    ).fetchall()
    for name, _ in secondary:
        conn.execute(sql.SQL("drop index {}").format(sql.Identifier(name)))
    conn.execute(
        """with workflow as (insert into workflows (name) values ('w') returning id),
                schedule as (insert into schedules (workflow_id, cron)
                             select id, '* * * * *' from workflow returning id, workflow_id)
           insert into schedule_runs (id, schedule_id, workflow_id, scheduled_time, status,
                                      finished_at)
           select lpad(to_hex(n), 32, '0')::uuid, schedule.id, schedule.workflow_id,
                  '2020-01-01T00:00:00Z'::timestamptz + n * interval '1 min', 'succeeded', now()
           from schedule, generate_series(1, %s) n""",
        (runs,),
    )
    for _, definition in secondary:
        conn.execute(definition)
    conn.execute("reset session_replication_role")
    conn.execute("vacuum analyze schedule_runs")


class Runner(threading.Thread):
    """Writes runs as the runner does (its Database, its lock timeout), one after another,
    until stopped; records when each write started and how it failed, if it did."""

    def __init__(self, url: str, lock_timeout_ms: int = RUNNER_LOCK_TIMEOUT_MS) -> None:
        super().__init__(daemon=True)
        self.database = Database(url, lock_timeout_ms=lock_timeout_ms)
        self.stop = threading.Event()
        self.writes: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        row = self.database.execute("select id, workflow_id from schedules").fetchone()
        assert row is not None
        fire = datetime(2030, 1, 1, tzinfo=UTC)
        while not self.stop.is_set():
            fire += timedelta(minutes=1)
            self.writes.append(time.monotonic())
            try:
                self.database.execute(
                    """insert into schedule_runs (schedule_id, workflow_id, scheduled_time)
                       values (%s, %s, %s)""",
                    (row["id"], row["workflow_id"], fire),
                )
            except DatabaseUnavailable as exc:  # a lock timeout, or a deadlock
                self.failures.append(str(exc))
            time.sleep(0.01)
        self.database.close()


def test_the_run_policies_migrations_never_keep_the_runner_waiting_out_its_lock_timeout(
    database_before_run_policies: str,
) -> None:
    # Given the runner writing runs all along
    runner = Runner(database_before_run_policies)
    runner.start()
    try:
        # When the run-policies migrations are applied over the long history
        started = time.monotonic()
        applied = apply_migrations(database_before_run_policies, MIGRATIONS)
        ended = time.monotonic()
    finally:
        runner.stop.set()
        runner.join(timeout=30)

    # Then the runner wrote all along, and none of its writes failed: none waited out its lock
    # timeout (the first release of 20261206000000 kept every one waiting for all its scans),
    # none was chosen to end a deadlock (it locked schedules, then schedule_runs)
    assert RUN_POLICIES in applied
    assert [write for write in runner.writes if started <= write <= ended] != []
    assert runner.failures == []
    # and the schema is the one every database ends with: checks validated, indexes valid
    with psycopg.connect(database_before_run_policies) as conn:
        not_valid = conn.execute(
            """select conname from pg_constraint
               where conrelid = 'public.schedule_runs'::regclass and not convalidated"""
        ).fetchall()
        indexes = conn.execute(
            """select c.relname, i.indisvalid from pg_index i
               join pg_class c on c.oid = i.indexrelid
               where i.indrelid = 'public.schedule_runs'::regclass
                 and c.relname in ('schedule_runs_buffered_idx',
                                   'schedule_runs_one_buffered_fire')
               order by 1"""
        ).fetchall()
    assert not_valid == []
    assert indexes == [
        ("schedule_runs_buffered_idx", True),
        ("schedule_runs_one_buffered_fire", True),
    ]
