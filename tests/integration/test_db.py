"""scheduler.store.db against real failures: a pooler that refuses and then accepts connections, one
that stops and starts again, a client stalled inside a transaction; and the round trips that
the per-transaction timeouts cost (none), read from libpq's own protocol trace.
"""

from __future__ import annotations

import itertools
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import pq
from scheduler import clients
from scheduler.errors import DatabaseUnavailable
from scheduler.store.db import Database, database

from tests.pgbouncer import PgBouncer


@pytest.fixture
def stopped_pgbouncer(direct_database_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer of its own, not started: its port refuses connections until it is."""
    bouncer = PgBouncer(direct_database_url)
    yield bouncer
    bouncer.cleanup()


# --- connecting


def test_a_refused_connect_is_retried_until_the_pooler_accepts(
    stopped_pgbouncer: PgBouncer,
) -> None:
    # Given a pooler that refuses the first attempt and is up by the second
    attempts: list[float] = []

    def conninfo() -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 2:
            stopped_pgbouncer.start()
        return stopped_pgbouncer.url()

    db = Database(conninfo, connect_budget_s=10)

    # When the first call connects, Then it succeeds on the retry, after a backoff
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.05
    db.close()


# It times the budget: run alone (`make test`), not beside the other worker.
@pytest.mark.serial
def test_connect_retries_stop_within_the_budget(stopped_pgbouncer: PgBouncer) -> None:
    # Given a pooler that never comes up
    attempts: list[float] = []

    def conninfo() -> str:
        attempts.append(time.monotonic())
        return stopped_pgbouncer.url()

    db = Database(conninfo, connect_budget_s=3)

    # When a call connects, Then it fails as DatabaseUnavailable once the budget is spent
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match=r"cannot connect to the database \(\d+ attempt"):
        db.execute("select 1")
    assert time.monotonic() - started < 3 + 2  # the budget, and scheduling slack
    assert len(attempts) > 1
    pauses = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert all(pause >= 0.05 for pause in pauses)  # backed off, never retried at once


def test_a_zero_budget_connects_once(stopped_pgbouncer: PgBouncer) -> None:
    attempts: list[float] = []

    def conninfo() -> str:
        attempts.append(time.monotonic())
        return stopped_pgbouncer.url()

    with pytest.raises(DatabaseUnavailable, match=r"\(1 attempt"):
        Database(conninfo, connect_budget_s=0).execute("select 1")
    assert len(attempts) == 1


def test_a_pooler_restart_costs_one_failed_call_then_the_connection_is_reopened(
    stopped_pgbouncer: PgBouncer,
) -> None:
    # Given a warm connection through a pooler, which then stops
    db = Database(stopped_pgbouncer.start().url(), connect_budget_s=0)
    db.execute("select 1")
    stopped_pgbouncer.stop()

    # When the next call fails (and another finds the pooler still down)
    with pytest.raises(DatabaseUnavailable):
        db.execute("select 1")
    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        db.execute("select 1")

    # Then once it is back, the next call reconnects by itself
    stopped_pgbouncer.start()
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    db.close()


# --- a client stalled inside a transaction


def test_a_client_idle_inside_a_transaction_loses_its_session_and_its_locks(
    database_url: str,
) -> None:
    # Given a transaction holding an advisory lock, then idle past the idle timeout
    db = Database(database_url, idle_in_transaction_timeout_ms=1_000)
    with pytest.raises(DatabaseUnavailable), db.transaction():
        db.execute("select pg_advisory_xact_lock(42)")
        time.sleep(3)
        # When it resumes, Then the server has ended the session
        db.execute("select 1")

    # and the lock was freed for others, and the next call reconnects
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as other:
        assert other.execute("select pg_try_advisory_xact_lock(42)").fetchone() == (True,)
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    db.close()


# --- settings


def test_the_process_database_takes_its_timeouts_from_the_settings(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1234")
    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "567")
    monkeypatch.setenv("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "8900")
    clients.reset()
    db = database()

    alone = db.execute(
        "select current_setting('statement_timeout') as statement,"
        " current_setting('lock_timeout') as lock"
    ).fetchone()
    with db.transaction():
        idle = db.execute("select current_setting('idle_in_transaction_session_timeout') as idle")

    assert alone == {"statement": "1234ms", "lock": "567ms"}
    assert idle.fetchone() == {"idle": "8900ms"}


# --- round trips


@contextmanager
def _round_trips(conn: psycopg.Connection[Any]) -> Iterator[Callable[[], int]]:
    """How many times the client waited for the server inside the block: each run of
    messages the client sent (F), answered by the server (B), is one round trip."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        counted: list[int] = []
        try:
            yield lambda: counted[0]
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            directions = "".join(line[0] for line in trace if line[:1] in ("F", "B"))
            counted.append(len(re.findall("F+B+", directions)))


def test_the_timeouts_add_no_round_trip(database_url: str) -> None:
    db = Database(database_url)
    conn = db.connection()
    raw = psycopg.connect(database_url, autocommit=True, prepare_threshold=None)

    # A statement alone: one round trip, as without the timeouts
    with _round_trips(conn) as ours:
        db.execute("select %s::int as one", (1,)).fetchone()
    with _round_trips(raw) as bare:
        raw.execute("select %s::int as one", (1,)).fetchone()
    assert ours() == bare() == 1

    # A transaction of one statement: BEGIN (with the timeouts), the statement, COMMIT
    with _round_trips(conn) as ours, db.transaction():
        db.execute("select %s::int as one", (1,)).fetchone()
    with _round_trips(raw) as bare, raw.transaction():
        raw.execute("select %s::int as one", (1,)).fetchone()
    assert ours() == bare() == 3
    raw.close()
    db.close()
