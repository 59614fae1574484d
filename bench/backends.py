"""The backends every benchmark runs against, the same as the tests: an embedded PostgreSQL
(pgserver, in a temporary directory) with the real migrations, and moto for AWS.

The database is started once per `python -m bench` process and shared by the suites; each
suite empties the tables it uses. Also here: the counters and the statistics the suites share.
"""

from __future__ import annotations

import atexit
import copy
import gc
import os
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"

# Benchmarks never reach a real AWS account, whatever the developer's shell holds.
_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "workflow-scheduler-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "WorkflowSchedulerBench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


def configure_environment() -> None:
    """Fake AWS credentials and the handlers' import path (`make bench` sets PYTHONPATH too)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    os.environ.update(_ENVIRONMENT)
    # pgserver's platformdirs asks for a runtime dir containers rarely have; /tmp is fine
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)


@cache
def database_url() -> str:
    """A migrated embedded PostgreSQL for this process (deleted at exit); DATABASE_URL is set."""
    configure_environment()
    import pgserver
    from scheduler.store.migrate import apply_migrations

    server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete")
    atexit.register(server.cleanup)
    url: str = server.get_uri()
    apply_migrations(url, MIGRATIONS)
    os.environ["DATABASE_URL"] = url
    return url


def create_database(name: str) -> str:
    """Another migrated database on the same server, for a suite that needs tables of its own."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo
    from scheduler.store.migrate import apply_migrations

    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(database_url(), dbname=name)
    apply_migrations(url, MIGRATIONS)
    return url


@contextmanager
def own_database(name: str) -> Iterator[str]:
    """A migrated database of the suite's own (create_database) for the block, as the process's
    DATABASE_URL (the product's clients reset to it); dropped after, whatever happens."""
    import psycopg
    from scheduler import clients

    main_url = database_url()
    url = create_database(name)
    os.environ["DATABASE_URL"] = url
    clients.reset()
    try:
        yield url
    finally:
        os.environ["DATABASE_URL"] = main_url
        clients.reset()
        with psycopg.connect(main_url, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def empty_tables() -> None:
    import psycopg

    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute("truncate workflows, schedules, schedule_runs cascade")


@contextmanager
def fresh_backends() -> Iterator[None]:
    """Empty tables, and moto (in-process) holding the locks table and the schedule group."""
    from moto import mock_aws
    from scheduler import clients
    from scheduler.config import get_settings

    database_url()
    empty_tables()
    with mock_aws():
        clients.reset()
        settings = get_settings()
        dynamodb = clients.aws_client("dynamodb")
        dynamodb.create_table(
            TableName=settings.locks_table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clients.aws_client("scheduler").create_schedule_group(Name=settings.schedule_group)
        try:
            yield
        finally:
            clients.reset()
            empty_tables()


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The Powertools log lines and EMF metrics still get written, to /dev/null, not the table."""
    from scheduler.observability import logger

    handlers = [h for h in logger.handlers if hasattr(h, "setStream")]
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        previous = [h.setStream(devnull) for h in handlers]
        try:
            yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                handler.setStream(stream)


@contextmanager
def recorded_statements(connection: Any) -> Iterator[list[tuple[Any, Any]]]:
    """Every statement (with its parameters) sent over a psycopg connection inside the block:
    each is one round trip, and a benchmark can replay exactly what was sent."""
    statements: list[tuple[Any, Any]] = []
    execute = connection.execute

    def recording(query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statements.append((query, params))
        return execute(query, params, *args, **kwargs)

    connection.execute = recording
    try:
        yield statements
    finally:
        del connection.execute  # the class's own method again


@contextmanager
def recorded_requests(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(operation, a copy of its parameters) of every request a boto3 client makes inside the
    block (moto never throttles, so there are no retries to count)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        sent.append((model.name, copy.deepcopy(params)))

    client.meta.events.register_first("provide-client-params", record)
    try:
        yield sent
    finally:
        client.meta.events.unregister("provide-client-params", record)


def spread(prefix: str, samples: list[float]) -> dict[str, float]:
    """Median of `samples` under `prefix`, with p10 and p90 next to it."""
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    return {
        prefix: statistics.median(samples),
        f"{prefix}.p10": deciles[0],
        f"{prefix}.p90": deciles[-1],
    }


def interleaved(
    subject: Callable[[], float], baseline: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """Time both sides alternately, `rounds` times each, so machine noise hits both alike."""
    subject_times: list[float] = []
    baseline_times: list[float] = []
    # In-process moto and the setup fill the heap with objects a Lambda would not hold; frozen,
    # they no longer make each full collection (whichever side triggers it) pay to scan them.
    gc.collect()
    gc.freeze()
    try:
        for index in range(rounds):
            # each side goes first half the time, so neither always meets the other's leftovers
            if index % 2:
                baseline_times.append(baseline())
                subject_times.append(subject())
            else:
                subject_times.append(subject())
                baseline_times.append(baseline())
    finally:
        gc.unfreeze()
    return subject_times, baseline_times


def ratio_of_medians(prefix: str, subject: list[float], baseline: list[float]) -> dict[str, float]:
    """subject ÷ baseline median, plus the ratio's p10/p90 over paired samples."""
    paired = [s / b for s, b in zip(subject, baseline, strict=True)]
    result = spread(prefix, paired)
    result[prefix] = statistics.median(subject) / statistics.median(baseline)
    return result


def smoke() -> bool:
    """`BENCH_SMOKE=1`: every suite at a tiny size (the test suite's smoke run); its figures
    mean nothing, only that the suite still runs and writes its keys."""
    return os.environ.get("BENCH_SMOKE") == "1"


def sized(full: int, tiny: int) -> int:
    """A suite's size: `full` for `make bench`, `tiny` in a smoke run."""
    return tiny if smoke() else full
