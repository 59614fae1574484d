"""The periodic pass's heartbeat: the coordinator pings an outside watchdog (a real HTTP server on
loopback, as healthchecks.io would be) once per pass, /fail after a failed one; a watchdog that
hangs or refuses never fails the pass; the URL's token is never logged; and the pass emits its
CloudWatch heartbeats (ReconcileCompleted, RunMissed) and the failures it survives."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from scheduler.config import get_settings
from scheduler.errors import DatabaseUnavailable, DomainError, ReconcileIncomplete
from scheduler.observability import metrics
from scheduler.policies import heartbeat
from scheduler.policies.missed_fires import MissedFireQueries
from scheduler.policies.periodic_pass import PeriodicPassQueries, run_invocation
from scheduler.store.fire_checks import CheckPass, FireCheckQueries
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.shards import ShardTask, shard_prefixes

from tests.integration.secret_fixtures import CapturedLogs, logs_fixture
from tests.queries import AllQueries

__all__ = ["logs_fixture"]

TOKEN = "5f0c3b1e-hc-token-7d2a9e4c"
OWNER = uuid.UUID("0b6f8a3c-2d1e-4f5a-9c7b-3e2d1c0b9a87")


class Watchdog:
    """A healthchecks-style server on loopback: records each request's method and path; answers
    200, or holds the request until the test releases it (`hang`: silent; `trickle`: sending a
    byte of a header every 0.1 s)."""

    def __init__(self, *, hang: bool = False, trickle: bool = False) -> None:
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()
        # set when a held request stops waiting (released, or after 30 s), before its
        # connection closes: a client without a timeout returns only after it is set
        self.stopped_holding = threading.Event()
        watchdog = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                watchdog.requests.append(("GET", self.path))
                if hang:
                    watchdog.release.wait(30)
                    watchdog.stopped_holding.set()
                    return
                if trickle:  # an answer a byte at a time: each read is quick, the whole is not
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(300):  # 30 s at most
                        if watchdog.release.wait(0.1):
                            break
                        self.wfile.write(b"X")
                        self.wfile.flush()
                    watchdog.stopped_holding.set()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/ping/{TOKEN}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    server = Watchdog()
    yield server
    server.close()


@pytest.fixture
def scheduler(aws: None) -> EventBridgeSchedules:
    client = boto3.client("scheduler", region_name="us-east-1")
    client.create_schedule_group(Name=get_settings().schedule_group)
    return EventBridgeSchedules(client)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """The pass adds metrics that only a handler flushes: each test sees its own."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def emitted() -> set[str]:
    """The metric names added so far (what the handler would flush as EMF)."""
    document = metrics.serialize_metric_set()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    return {m["Name"] for m in directive["Metrics"]}


def later() -> datetime:
    """Past the orphan grace of everything the test created."""
    return datetime.now(UTC) + timedelta(hours=1)


def make_schedule(queries: AllQueries) -> Any:
    workflow = queries.workflows.create_workflow(OWNER, "heartbeat workflow")
    return queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="0 7 * * *", timezone="UTC", enabled=True
    )


def coordinate(
    passes: PeriodicPassQueries,
    scheduler: EventBridgeSchedules,
    url: str | None,
    *,
    shards: int = 1,
    start: Any = None,
) -> dict[str, int]:
    return run_invocation(
        passes,
        scheduler,
        None,
        shards=shards,
        start=start or (lambda task: None),
        hand_on=lambda event: None,
        remaining_s=lambda: 900.0,
        now=later,
        heartbeat_url=url,
    )


class _CheckDown(FireCheckQueries):
    """The database refuses the missed-fire check's first read (before any effect)."""

    def last_fire_check_pass(self) -> CheckPass | None:
        raise DatabaseUnavailable("injected: database down")


def check_down(queries: AllQueries) -> PeriodicPassQueries:
    return PeriodicPassQueries(
        queries.abandoned_runs,
        MissedFireQueries(_CheckDown(queries.db), queries.queue),
        queries.reconcile,
    )


def test_a_completed_pass_pings_the_watchdog_once_and_emits_both_heartbeats(
    queries: AllQueries, scheduler: EventBridgeSchedules, watchdog: Watchdog
) -> None:
    # Given a schedule missing from EventBridge (work for the reconcile)
    row = make_schedule(queries)

    # When the scheduled event's pass runs (one shard: the coordinator reconciles it)
    counts = coordinate(queries.periodic_pass, scheduler, watchdog.url)

    # Then it did its work, and pinged the URL itself, once, after it
    assert counts["created"] == 1
    assert str(row["id"]) in set(scheduler.list_names())
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}")]
    # and both CloudWatch heartbeats, and no failure
    assert {"ReconcileCompleted", "RunMissed"} <= emitted()
    assert not {"MissedFireCheckFailed", "HeartbeatPingFailed"} & emitted()
    assert queries.fire_checks.last_fire_check_pass() is not None


def test_a_pass_whose_missed_fire_check_failed_pings_fail_and_still_reconciles(
    queries: AllQueries,
    scheduler: EventBridgeSchedules,
    watchdog: Watchdog,
    logs: CapturedLogs,
) -> None:
    # Given a missed-fire check whose database read fails
    row = make_schedule(queries)

    # When the pass runs
    counts = coordinate(check_down(queries), scheduler, watchdog.url)

    # Then reconcile still did its work, the watchdog was told at once (/fail), and the
    # failure is counted (the invocation succeeds: Lambda's Errors never sees it)
    assert counts["created"] == 1
    assert str(row["id"]) in set(scheduler.list_names())
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}/fail")]
    assert {"MissedFireCheckFailed", "ReconcileCompleted"} <= emitted()
    assert "RunMissed" not in emitted()  # its heartbeat: MissedFireCheckStoppedAlarm's
    assert TOKEN not in logs.text()


def test_a_pass_whose_reconcile_failed_pings_fail_and_still_raises(
    queries: AllQueries, scheduler: EventBridgeSchedules, watchdog: Watchdog
) -> None:
    # Given 16 shards, one of which cannot be started (Lambda refuses the invocation)
    started: list[ShardTask] = []

    def start(task: ShardTask) -> None:
        if task.prefix == "7":
            raise DomainError("injected: Lambda refused the invocation")
        started.append(task)

    # When the pass runs: Then it fails the invocation (ReconcileErrorsAlarm counts it) ...
    with pytest.raises(ReconcileIncomplete):
        coordinate(queries.periodic_pass, scheduler, watchdog.url, shards=16, start=start)

    # ... after telling the watchdog, once, and starting the other shards
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}/fail")]
    assert len(started) == 15


def test_a_sharded_pass_pings_once_from_the_coordinator_and_never_from_a_shard(
    queries: AllQueries, scheduler: EventBridgeSchedules, watchdog: Watchdog
) -> None:
    started: list[ShardTask] = []
    coordinate(queries.periodic_pass, scheduler, watchdog.url, shards=16, start=started.append)
    assert [task.prefix for task in started] == shard_prefixes(16)
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}")]
    assert "ReconcileCompleted" not in emitted()  # no shard reconciled yet

    for task in started:
        run_invocation(
            queries.periodic_pass,
            scheduler,
            task,
            shards=16,
            start=lambda task: None,
            hand_on=lambda event: None,
            remaining_s=lambda: 900.0,
            now=later,
            heartbeat_url=watchdog.url,
        )
    # each shard that reached its end is a ReconcileCompleted datapoint; none pinged
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}")]
    assert metrics.serialize_metric_set()["ReconcileCompleted"] == [1.0] * 16


def _refused_url() -> str:
    """A loopback port nothing listens on: the connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ping/{TOKEN}"


@pytest.mark.parametrize("failure", ["hangs", "trickles", "refuses", "answers 500", "is not http"])
def test_a_watchdog_that_fails_never_fails_the_pass_nor_logs_the_token(
    queries: AllQueries,
    scheduler: EventBridgeSchedules,
    logs: CapturedLogs,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    # Given a watchdog that hangs (never answers), refuses connections, answers an error, or a
    # URL urllib would open without HTTP
    monkeypatch.setattr(heartbeat, "PING_TIMEOUT_S", 0.5)
    hanging = Watchdog(hang=True)
    trickling = Watchdog(trickle=True)
    erroring = _ErrorWatchdog()
    url = {
        "hangs": hanging.url,
        "trickles": trickling.url,
        "refuses": _refused_url(),
        "answers 500": erroring.url,
        "is not http": f"file:///tmp/{TOKEN}",
    }[failure]
    row = make_schedule(queries)
    logs.clear()
    try:
        # When the pass runs
        counts = coordinate(queries.periodic_pass, scheduler, url)

        # Then the pass completed, its work done ...
        assert counts["created"] == 1
        assert str(row["id"]) in set(scheduler.list_names())
        # ... without waiting for the hanging watchdog's answer (bounded by the timeout)
        holding = {"hangs": hanging, "trickles": trickling}.get(failure)
        if holding is not None:
            assert holding.requests == [("GET", f"/ping/{TOKEN}")]
            assert not holding.stopped_holding.is_set()
        # and the failed ping is logged by host and counted, never with the token
        text = logs.text()
        assert "heartbeat ping failed" in text
        assert "127.0.0.1" in text or failure == "is not http"
        assert TOKEN not in text
        assert "HeartbeatPingFailed" in emitted()
    finally:
        hanging.close()
        trickling.close()
        erroring.close()


class _ErrorWatchdog(Watchdog):
    """A watchdog answering 500 (its own outage)."""

    def __init__(self) -> None:
        super().__init__()
        handler = self.server.RequestHandlerClass

        def do_get(request: BaseHTTPRequestHandler) -> None:
            self.requests.append(("GET", request.path))
            request.send_response(500)
            request.send_header("Content-Length", "0")
            request.end_headers()

        handler.do_GET = do_get  # type: ignore[attr-defined]


def test_no_url_no_ping(queries: AllQueries, scheduler: EventBridgeSchedules) -> None:
    """The default: HeartbeatUrl empty, so nothing is sent and nothing counted as failed."""
    assert heartbeat.ping(None, passed=True) is False
    coordinate(queries.periodic_pass, scheduler, None)
    assert "HeartbeatPingFailed" not in emitted()


def test_the_fail_url_keeps_the_query_and_the_redacted_form_only_the_host() -> None:
    assert heartbeat.ping_url("https://hc.example/p/abc/?rid=1", passed=False) == (
        "https://hc.example/p/abc/fail?rid=1"
    )
    assert heartbeat.ping_url("https://hc.example/abc", passed=True) == "https://hc.example/abc"
    assert heartbeat.redacted(f"https://hc-ping.com/{TOKEN}?k={TOKEN}") == "https://hc-ping.com/…"


def test_the_handler_pings_the_url_of_its_heartbeat_url_setting(
    queries: AllQueries,
    scheduler: EventBridgeSchedules,
    watchdog: Watchdog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The template's HEARTBEAT_URL, through the settings, to the scheduled event's pass; the
    heartbeat metric in the EMF the handler flushes, and the token nowhere in its output."""
    import json

    from functions.reconcile.app import lambda_handler
    from tests.conftest import EVENTS

    class Context:
        function_name = "ReconcileFunction"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReconcileFunction"
        aws_request_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

        def get_remaining_time_in_millis(self) -> int:
            return 900_000

    monkeypatch.setenv("HEARTBEAT_URL", watchdog.url)
    get_settings.cache_clear()
    try:
        row = make_schedule(queries)
        event = json.loads((EVENTS / "reconcile.json").read_text())
        summary = lambda_handler(event, Context())
    finally:
        monkeypatch.delenv("HEARTBEAT_URL")
        get_settings.cache_clear()

    assert summary["created"] == 1
    assert str(row["id"]) in set(scheduler.list_names())
    assert watchdog.requests == [("GET", f"/ping/{TOKEN}")]
    flushed = capsys.readouterr().out
    assert '"ReconcileCompleted"' in flushed
    assert TOKEN not in flushed
