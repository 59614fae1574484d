"""The missed-fire-check migrations (20261207000100 on) never deadlock with a pause nor keep the
runner waiting behind a long transaction (review finding D7): each locks one table in its own
transaction, gives up on a lock after a second, and scheduler.store.migrate tries it again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.config import Settings
from scheduler.store.migrate import apply_migrations, discover

from tests.conftest import MIGRATIONS
from tests.integration.test_migration_locks import Runner

OUTAGES = "20261207000100"
# The runner's own lock timeout (config.Settings.db_lock_timeout_ms).
RUNNER_LOCK_TIMEOUT_MS = Settings.model_fields["db_lock_timeout_ms"].default
# A report reading the run history longer than the runner waits for a lock.
READER_HOLDS_S = 2 * RUNNER_LOCK_TIMEOUT_MS / 1000


@pytest.fixture
def database_before_outages(direct_database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated up to the version before 20261207000100, with one
    schedule and a run of it waiting (a pause's trigger writes schedule_runs to skip it)."""
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database if exists migrate_waits with (force)")
        conn.execute("create database migrate_waits")
    url = make_conninfo(direct_database_url, dbname="migrate_waits")
    before = tmp_path / "before"
    before.mkdir()
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < OUTAGES:
            (before / migration.name).write_text(migration.read_text())
    apply_migrations(url, before)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """with workflow as (insert into workflows (name) values ('w') returning id),
                    schedule as (insert into schedules (workflow_id, cron)
                                 select id, '* * * * *' from workflow
                                 returning id, workflow_id)
               insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          trigger)
               select id, workflow_id, '2030-01-01T00:00:00Z', 'buffered', 'catchup'
               from schedule"""
        )
    yield url
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database migrate_waits with (force)")


class Migrating(threading.Thread):
    """`scheduler.store.migrate` in a thread of its own: what it applied, or how it failed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.applied: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.applied = apply_migrations(self.url, MIGRATIONS)
        except BaseException as exc:  # the test asserts there is none
            self.error = exc


def _pending() -> list[str]:
    return [m.version for m in discover(MIGRATIONS) if m.version >= OUTAGES]


def _wait_until_a_lock_is_awaited(url: str) -> None:
    """Until a backend of the database waits for a lock (the migration, behind the pause)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(3000):
            row = conn.execute(
                """select count(*) from pg_locks l join pg_stat_activity a using (pid)
                   where not l.granted and a.datname = current_database()"""
            ).fetchone()
            if row is not None and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the migration never waited for the pause")


def test_the_outage_migrations_do_not_deadlock_with_a_pause(database_before_outages: str) -> None:
    # Given a pause under way: its transaction has updated the schedule (holding schedules)
    pause = psycopg.connect(database_before_outages)
    pause_error: psycopg.Error | None = None
    try:
        pause.execute("update schedules set enabled = true")
        # When the migrations run, and wait for the pause
        migrating = Migrating(database_before_outages)
        migrating.start()
        _wait_until_a_lock_is_awaited(database_before_outages)
        # and the pause disables the schedule (its trigger skips the waiting run) and commits
        try:
            pause.execute("update schedules set enabled = false")
            pause.commit()
        except psycopg.Error as exc:  # chosen to end a deadlock
            pause_error = exc
    finally:
        pause.close()
    migrating.join(timeout=180)

    # Then both went through: the pause, and every migration
    assert pause_error is None
    assert migrating.error is None
    assert migrating.applied == _pending()
    with psycopg.connect(database_before_outages) as conn:
        statuses = conn.execute("select status from schedule_runs").fetchall()
    assert statuses == [("skipped",)]


def test_the_outage_migrations_never_keep_the_runner_waiting_out_its_lock_timeout(
    database_before_outages: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the runner writing runs all along, and a report reading the run history
    runner = Runner(database_before_outages, lock_timeout_ms=RUNNER_LOCK_TIMEOUT_MS)
    runner.start()
    report: psycopg.Connection[Any] = psycopg.connect(database_before_outages)
    try:
        report.execute("select count(*) from schedule_runs")  # holds it until its commit
        # When the migrations run while the report goes on longer than the runner waits
        started = time.monotonic()
        migrating = Migrating(database_before_outages)
        migrating.start()
        time.sleep(READER_HOLDS_S)
        report.commit()
        migrating.join(timeout=180)
        ended = time.monotonic()
    finally:
        report.close()
        runner.stop.set()
        runner.join(timeout=30)

    # Then the migration gave up on its lock behind the report, said so, and was tried again
    assert "20261207000100_runs_missed_alert_pending.sql: could not take its locks" in (
        capsys.readouterr().err
    )
    # and every migration was applied (after the report), and the runner wrote all along,
    # none of its writes waiting out its lock timeout behind the migration's lock request
    assert migrating.error is None
    assert migrating.applied == _pending()
    assert [write for write in runner.writes if started <= write <= ended] != []
    assert runner.failures == []
