"""Through a transaction-mode PgBouncer, as through Supabase's poolers: the tests' traffic does
go through it; timeouts reach Postgres and fire there, per transaction, without leaking into the
next client of a pooled server connection; migrations are safe to run concurrently through it.

Real PostgreSQL, real PgBouncer (tests/pgbouncer.py). A lock or statement timeout is proved by
the server's error (LockNotAvailable, QueryCanceled) and a generous bound on the wait.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from scheduler.errors import DatabaseUnavailable
from scheduler.store.db import Database
from scheduler.store.migrate import apply_migrations, discover

from tests.conftest import MIGRATIONS, POOLED
from tests.pgbouncer import PgBouncer

WAIT_S = 10  # far longer than any timeout under test: reaching it means the timeout never fired
# Its waits are measured against the timeouts: run alone (`make test`), not beside the other worker.
pytestmark = pytest.mark.serial


def _admin(url: str) -> psycopg.Connection[Any]:
    # PgBouncer's admin console speaks the simple query protocol only
    return psycopg.connect(url, autocommit=True, prepare_threshold=None)


def _backend_pid(db: Database) -> int:
    row = db.execute("select pg_backend_pid() as pid").fetchone()
    assert row is not None
    return int(row["pid"])


@pytest.fixture
def probe_row(database_url: str) -> Iterator[None]:
    """A table of one row, (id 1, n 0), to hold locks on."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create table pooler_probe (id int primary key, n int not null)")
        conn.execute("insert into pooler_probe values (1, 0)")
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop table pooler_probe")


@pytest.fixture(scope="module")
def one_server_pgbouncer(direct_database_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer with one server connection: every transaction of every client runs on it."""
    bouncer = PgBouncer(direct_database_url, pool_size=1).start()
    yield bouncer
    # pytest shows a test's captured output only when it fails: PgBouncer's view of a wait
    # for the one server connection (a rare query_wait_timeout on a busy machine, not yet
    # explained) then reaches the report.
    print(f"PgBouncer's log:\n{bouncer.log()}")
    bouncer.cleanup()


def test_the_tests_database_traffic_goes_through_pgbouncer_in_transaction_mode(
    database_url: str, pgbouncer: PgBouncer
) -> None:
    # The harness: the code under test connects to PgBouncer (unless TEST_POOLER=none)
    assert (database_url == pgbouncer.url()) is POOLED
    assert os.environ["DATABASE_URL"] == database_url
    with _admin(pgbouncer.admin_url) as admin:
        config = {row[0]: row[1] for row in admin.execute("show config").fetchall()}
    assert config["pool_mode"] == "transaction"

    # Given one client connection whose statement has just run (its server connection freed)
    db = Database(pgbouncer.url())
    client = db.connection()
    first = _backend_pid(db)
    # When another client holds that server connection in a transaction (PgBouncer hands out
    # the most recently freed one first)
    with psycopg.connect(pgbouncer.url(), prepare_threshold=None) as other:
        held = other.execute("select pg_backend_pid()").fetchone()
        # Then the first client's next statement runs on another server connection
        second = _backend_pid(db)
    assert held == (first,)
    assert second != first
    assert db.connection() is client  # one client connection, two server backends
    db.close()


@pytest.mark.parametrize("in_transaction", [False, True], ids=["statement", "transaction"])
def test_a_statement_waiting_on_a_row_lock_is_cancelled_at_the_lock_timeout(
    pgbouncer: PgBouncer, probe_row: None, in_transaction: bool
) -> None:
    # Given another transaction holds the row, and a database with a 1 s lock timeout (and a
    # statement timeout that would fire much later)
    db = Database(pgbouncer.url(), lock_timeout_ms=1_000, statement_timeout_ms=60_000)
    client = db.connection()
    with psycopg.connect(pgbouncer.url(), prepare_threshold=None) as holder:
        holder.execute("select * from pooler_probe where id = 1 for update")

        # When we update the row, alone or inside a transaction
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="lock wait timed out") as caught:
            if in_transaction:
                with db.transaction():
                    db.execute("update pooler_probe set n = n + 1 where id = 1")
            else:
                db.execute("update pooler_probe set n = n + 1 where id = 1")
        waited = time.monotonic() - started

    # Then Postgres gave up waiting after the lock timeout, and said so
    assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)
    assert 0.9 <= waited < WAIT_S
    # and the connection, which was fine, is kept and works once the row is free
    assert db.connection() is client
    db.execute("update pooler_probe set n = n + 1 where id = 1")
    assert db.execute("select n from pooler_probe").fetchone() == {"n": 1}
    db.close()


@pytest.mark.parametrize("in_transaction", [False, True], ids=["statement", "transaction"])
def test_a_long_statement_is_cancelled_at_the_statement_timeout(
    pgbouncer: PgBouncer, in_transaction: bool
) -> None:
    db = Database(pgbouncer.url(), statement_timeout_ms=500)
    client = db.connection()

    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="query timed out") as caught:
        if in_transaction:
            with db.transaction():
                db.execute("select pg_sleep(%s)", (WAIT_S,))
        else:
            db.execute("select pg_sleep(%s)", (WAIT_S,))
    waited = time.monotonic() - started

    assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
    assert waited < WAIT_S / 2
    assert db.connection() is client
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    db.close()


def test_timeouts_do_not_leak_into_the_next_transaction_on_the_pooled_server_connection(
    one_server_pgbouncer: PgBouncer, direct_database_url: str
) -> None:
    # Given the server's own defaults
    names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    settings = ", ".join(f"current_setting('{name}') as {name}" for name in names)
    with psycopg.connect(direct_database_url) as direct:
        defaults = direct.execute(f"select {settings}").fetchone()
    assert defaults is not None
    assert "300ms" not in defaults

    # When a client with 300 ms timeouts runs a transaction and a lone statement, each bounded
    db = Database(
        one_server_pgbouncer.url(),
        statement_timeout_ms=300,
        lock_timeout_ms=300,
        idle_in_transaction_timeout_ms=1_300,
    )
    query = f"select pg_backend_pid() as pid, {settings}"
    with db.transaction():
        in_transaction = db.execute(query).fetchone()
    alone = db.execute(query).fetchone()
    assert in_transaction is not None
    assert alone is not None
    assert (in_transaction["statement_timeout"], in_transaction["lock_timeout"]) == ("300ms",) * 2
    assert in_transaction["idle_in_transaction_session_timeout"] == "1300ms"
    assert (alone["statement_timeout"], alone["lock_timeout"]) == ("300ms", "300ms")

    # Then the next client of that same server connection gets the server's defaults
    with psycopg.connect(one_server_pgbouncer.url(), prepare_threshold=None) as other:
        after = other.execute(query).fetchone()
        assert after == (in_transaction["pid"], *defaults)
        other.execute("select pg_sleep(0.6)")  # longer than the other client's timeout
    assert alone["pid"] == in_transaction["pid"]
    db.close()


def test_pgbouncer_refuses_the_options_startup_parameter(pgbouncer: PgBouncer) -> None:
    # Why timeouts are not startup parameters: PgBouncer refuses the connection outright
    # (and Supavisor ignores them)
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(pgbouncer.url(), options="-c statement_timeout=1000")
    # while the connection the product opens is accepted
    db = Database(pgbouncer.url())
    assert db.execute("select 1 as one").fetchone() == {"one": 1}
    db.close()


@pytest.fixture
def empty_database(direct_database_url: str, pgbouncer: PgBouncer) -> Iterator[str]:
    """A new, empty database; its URL through PgBouncer."""
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database if exists migrate_pooled with (force)")
        conn.execute("create database migrate_pooled")
    yield pgbouncer.url("migrate_pooled")
    with psycopg.connect(direct_database_url, autocommit=True) as conn:
        conn.execute("drop database migrate_pooled with (force)")


def test_concurrent_migrations_through_the_pooler_apply_each_version_once(
    empty_database: str, direct_database_url: str
) -> None:
    # Given four `make migrate` runs starting together on an empty database, through PgBouncer
    runs = 4
    start = threading.Barrier(runs)

    def migrate() -> list[str]:
        start.wait(WAIT_S)
        return apply_migrations(empty_database, MIGRATIONS)

    with ThreadPoolExecutor(max_workers=runs) as pool:
        futures = [pool.submit(migrate) for _ in range(runs)]
        # When they all finish (a lock taken on one server connection and released on another
        # would leave them waiting forever)
        _, waiting = wait(futures, timeout=60)
        if waiting:  # end their sessions, so that the test fails instead of hanging
            with psycopg.connect(direct_database_url, autocommit=True) as admin:
                admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = 'migrate_pooled'"
                )
    assert not waiting, "migrate runs were still waiting after 60 s"
    applied = [future.result() for future in futures]

    # Then every version was applied by exactly one of them, and recorded once
    expected = [migration.version for migration in discover(MIGRATIONS)]
    assert sorted(version for versions in applied for version in versions) == expected
    direct = make_conninfo(direct_database_url, dbname="migrate_pooled")
    with psycopg.connect(direct) as conn:
        recorded = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version"
        ).fetchall()
        # and no advisory lock outlived its run on a pooled server connection
        locks = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory'"
            " and database = (select oid from pg_database where datname = current_database())"
        ).fetchone()
    assert [row[0] for row in recorded] == expected
    assert locks == (0,)
    # and a later run finds nothing to do
    assert apply_migrations(empty_database, MIGRATIONS) == []
