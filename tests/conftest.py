"""Shared fixtures: a real PostgreSQL with the real migrations, behind a real PgBouncer in
transaction mode (as Supabase's poolers stand in front of production), and moto for AWS.

PostgreSQL is embedded (pgserver) unless DATABASE_URL is set; a DATABASE_URL given to the
tests must point at a disposable database, since every test empties the tables it used. It is
the server itself: the tests start their PgBouncer (tests/pgbouncer.py) in front of it, and
`database_url` (what the code under test connects to) is PgBouncer's. Set TEST_POOLER=none to
connect straight to the server instead (e.g. when DATABASE_URL is a pooler already); the
pooler's own tests (test_pooler.py) still start a PgBouncer of their own.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from scheduler.store.db import Database

from tests.pgbouncer import PgBouncer
from tests.queries import AllQueries

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
EVENTS = ROOT / "events"

# Tests must never reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_SERVICE_NAME="workflow-scheduler-tests",
    POWERTOOLS_METRICS_NAMESPACE="WorkflowSchedulerTests",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_DEV="false",
    # the runner's in-process retries of a failing dependency: generous, so a fault that clears
    # is retried in-process however busy the machine (a test of one that never clears, which
    # waits out the whole budget, sets a short one: tests/integration/runner_fixtures.py)
    RUNNER_RETRY_S="30",
)


POOLED = os.environ.get("TEST_POOLER", "pgbouncer") != "none"


@pytest.fixture(scope="session")
def direct_database_url() -> Iterator[str]:
    """The PostgreSQL server itself (DATABASE_URL, or an embedded one), for the session.

    Under pytest-xdist each worker is a session of its own, so each starts its own embedded
    server; on a given DATABASE_URL, each worker gets a database of its own on that server."""
    server = None
    url = os.environ.get("DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url and worker:
        with worker_database(url, worker) as own:
            yield own
        return
    if not url:
        import pgserver

        # Not under pytest's tmp dir: a concurrent pytest run may reset its permissions, and
        # Postgres (run as its own user when we are root) would lose access to its data.
        server = pgserver.get_server(
            tempfile.mkdtemp(prefix="scheduler-tests-pg-"), cleanup_mode="delete"
        )
        url = server.get_uri()
        # A disposable server: a commit need not wait for the (shared, busy) disk. Nothing
        # outlives the session and no test crashes this server, so nothing asserted changes.
        with psycopg.connect(url, autocommit=True) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"alter system set {setting} = off")
            conn.execute("select pg_reload_conf()")
    yield url
    if server is not None:
        server.cleanup()


@contextmanager
def worker_database(server_url: str, worker: str) -> Iterator[str]:
    """A fresh database named after the xdist worker (gw0, gw1...) on the given server."""
    import psycopg
    from psycopg import sql

    name = f"{conninfo_to_dict(server_url).get('dbname') or 'postgres'}_{worker}"
    database = sql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(database))
        conn.execute(sql.SQL("create database {}").format(database))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(database))


@pytest.fixture(scope="session")
def pgbouncer(direct_database_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of the server, for the session."""
    bouncer = PgBouncer(direct_database_url).start()
    yield bouncer
    bouncer.cleanup()


@pytest.fixture(scope="session")
def database_url(direct_database_url: str, request: pytest.FixtureRequest) -> str:
    """A migrated database for the whole session, through PgBouncer unless TEST_POOLER=none."""
    from scheduler.store.migrate import apply_migrations

    url = request.getfixturevalue("pgbouncer").url() if POOLED else direct_database_url
    apply_migrations(url, MIGRATIONS)  # through the pooler, as `make migrate` may be run
    os.environ["DATABASE_URL"] = url
    return url


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """The session database, emptied after the test (tests see no one else's rows)."""
    import psycopg
    from scheduler import clients

    clients.reset()
    yield database_url
    clients.reset()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "truncate workflows, schedules, schedule_runs, owner_rate_buckets, api_keys,"
            " missed_fire_check_passes, idempotency_keys, audit_events, calendars cascade"
        )


def drop_connection(conn: Any) -> None:
    """Tear down a psycopg connection's socket, as a server or pooler closing it would: its
    next use fails. (Under a transaction pooler, killing "its" server backend would not: the
    connection holds none between transactions.)"""
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def queries(clean_db: str) -> Iterator[AllQueries]:
    database = Database(clean_db)
    yield AllQueries.over(database)
    database.close()


@pytest.fixture
def aws() -> Iterator[None]:
    """Every AWS API call inside the test goes to moto (in-process)."""
    from moto import mock_aws
    from scheduler import clients

    from devstack.moto_server import serialise_dynamodb_requests

    serialise_dynamodb_requests()  # conditional writes atomic, as in DynamoDB
    with mock_aws():
        clients.reset()
        yield
    clients.reset()


@pytest.fixture
def slow_dynamodb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (in this process) pauses 10 ms after reading an item and before applying an update
    expression: the gaps a busy machine leaves between its condition check and its write,
    widened so that concurrent conditional writes overlap every time."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    read, execute = Table.get_item, UpdateExpressionExecutor.execute

    def slow_read(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = read(self, *args, **kwargs)
        time.sleep(0.01)
        return item

    def slow_execute(self: UpdateExpressionExecutor, node: Any = None) -> None:
        if node is None:  # the whole update, not each of its parts
            time.sleep(0.01)
        execute(self, node)

    monkeypatch.setattr(Table, "get_item", slow_read)
    monkeypatch.setattr(UpdateExpressionExecutor, "execute", slow_execute)
