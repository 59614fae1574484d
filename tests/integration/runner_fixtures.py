"""Fixtures for the runner's tests: fake time, the locks table in moto, loopback HTTP servers.

A test module imports the `*_fixture` functions it uses; pytest knows them by the short name.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from scheduler import clients
from scheduler.config import get_settings
from scheduler.run.event import RunnerEvent
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import LeaseLock
from scheduler.run.runner import RunReport, run_fire
from scheduler.steps import engine as workflows
from scheduler.steps.definitions import with_loaded_definition
from scheduler.steps.engine import RunContext, StepModel, register_step

from tests.queries import AllQueries

LOCKS_TABLE = "workflow-locks-test"
# How long a test waits for another thread to get somewhere (each wait ends as soon as it has):
# only a hang, never a busy machine, runs it out.
WAIT_S = 60.0


def join(*threads: threading.Thread) -> None:
    """Wait for each thread to end; one still running after WAIT_S fails the test."""
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive(), f"{thread.name} still running after {WAIT_S:g} s"


class FakeClock:
    """Time that moves only when a test says so (thread-safe enough for reads)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock(datetime(2026, 11, 27, 7, 0, 2, tzinfo=UTC))


def create_locks_table(dynamodb: Any, name: str = LOCKS_TABLE) -> None:
    """The table as template.yaml declares it: pk (S), on-demand, TTL on `ttl`."""
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


@pytest.fixture(name="dynamodb")
def dynamodb_fixture(aws: None) -> Any:
    """A moto DynamoDB client with the locks table created."""
    client = clients.aws_client("dynamodb")
    create_locks_table(client)
    return client


# The runner's in-process retry budget (RUNNER_RETRY_S) for a test of a fault that never clears.
# tests/conftest.py sets a generous one, so that a fault that clears is retried in-process
# however busy the machine; a fault that never clears waits out the whole budget, and its
# outcome is the same whatever the budget (the retries run out either way), so its tests take
# this short one instead.
SHORT_RETRY_S = 0.5


@pytest.fixture(name="short_retry_budget")
def short_retry_budget_fixture() -> Iterator[None]:
    """The runner gives up retrying a failing dependency in-process after SHORT_RETRY_S."""
    saved = os.environ.get("RUNNER_RETRY_S")
    os.environ["RUNNER_RETRY_S"] = str(SHORT_RETRY_S)
    get_settings.cache_clear()
    yield
    if saved is None:
        os.environ.pop("RUNNER_RETRY_S", None)
    else:
        os.environ["RUNNER_RETRY_S"] = saved
    get_settings.cache_clear()


@pytest.fixture(name="allow_private_http")
def allow_private_http_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test configuration: http steps may call the loopback server."""
    monkeypatch.setenv("ALLOW_PRIVATE_HTTP_TARGETS", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("ALLOW_PRIVATE_HTTP_TARGETS")
    get_settings.cache_clear()


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class LoopbackServer:
    """What a workflow's http step calls: records requests, answers `status`, or blocks."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: int = 200
    # while set, the first `hold_first` requests (all if None) wait here: a step "still going"
    hold: threading.Event | None = None
    # while set, a request is read and the connection closed unanswered: the answer is lost
    drop: bool = False
    hold_first: int | None = None
    received: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(name="http_server")
def http_server_fixture() -> Iterator[LoopbackServer]:
    state = LoopbackServer(url="")
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
            )
            state.received.set()
            if state.drop:
                self.close_connection = True
                return
            held = state.hold_first is None or len(state.requests) <= state.hold_first
            if state.hold is not None and held:
                # until the test (or the teardown) sets it; the cap only ends a forgotten hold,
                # so it is far longer than anything a test does meanwhile on a busy machine
                state.hold.wait(timeout=120)
                if release.is_set():
                    return
            body = b'{"ok": true}'
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    release.set()
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class DripServer:
    """A loopback server that answers one byte every `interval` seconds, for as long as `drip`
    lasts: never idle long enough to trip a per-read socket timeout, and never done in time."""

    url: str
    # sent at once when the request's head is in (a TLS client speaks first: nothing is read)
    at_once: bytes = b""
    drip: bytes = b""
    interval: float = 0.2
    read_request: bool = True


@pytest.fixture(name="drip_server")
def drip_server_fixture() -> Iterator[DripServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the accept loop sees `stop`
    state = DripServer(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                head = b""
                while state.read_request and b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                conn.sendall(state.at_once)
                for byte in state.drip:
                    if stop.wait(state.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:  # the client gave up: what the tests want
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield state
    stop.set()
    thread.join(timeout=5)
    listener.close()


# --- the runner under test: real Postgres, moto DynamoDB, fake time

OWNER = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
SEVEN = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
# The Lambda's remaining time at entry (real time: the steps must be done 10 s before its end).
# Generous, so a step a test holds open, or a busy machine, never runs into it; lease = 60 s +
# the 30 s margin (fake time).
REMAINING_S = 60.0
LEASE_OVER_S = 60 + 30 + 5 + 1  # past the lease and the clock skew tolerance


@dataclass
class Runner:
    queries: AllQueries
    lock: LeaseLock
    clock: FakeClock

    def fire(
        self,
        schedule: dict[str, Any],
        at: datetime = SEVEN,
        *,
        trigger: Literal["schedule", "manual"] = "schedule",
        attempt: int = 1,
        queries: RunnerQueries | None = None,
        lock: LeaseLock | None = None,
        invocation: str | None = None,
        remaining_s: float = REMAINING_S,
    ) -> RunReport:
        """One invocation; the same `invocation` id again is Lambda's retry of it."""
        event = RunnerEvent.model_validate(
            {
                "scheduleId": str(schedule["id"]),
                "workflowId": str(schedule["workflow_id"]),
                "scheduledTime": at.isoformat().replace("+00:00", "Z"),
                "attempt": str(attempt),
                "trigger": trigger,
            }
        )
        return run_fire(
            event,
            remaining_time_s=remaining_s,
            invocation_id=invocation,
            queries=queries or self.queries.runner,
            lock=lock or self.lock,
            now=self.clock,
        )

    def runs(self, schedule: dict[str, Any]) -> list[dict[str, Any]]:
        return list(reversed(self.queries.schedules.list_runs(schedule["id"])))

    def workflow(self, schedule: dict[str, Any]) -> dict[str, Any]:
        return with_loaded_definition(self.queries.workflows.get_workflow(schedule["workflow_id"]))

    def schedule(self, schedule: dict[str, Any]) -> dict[str, Any]:
        return self.queries.schedules.get_schedule(schedule["id"])


@pytest.fixture(name="runner")
def runner_fixture(
    queries: AllQueries, dynamodb: Any, clock: FakeClock, allow_private_http: None
) -> Runner:
    return Runner(queries, LeaseLock(dynamodb, table=LOCKS_TABLE, clock=clock), clock)


def make_schedule(
    queries: AllQueries,
    steps: list[dict[str, Any]],
    *,
    cron: str = "*/5 * * * *",
    workflow_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    if workflow_id is None:
        workflow_id = queries.workflows.create_workflow(OWNER, "nightly report", {"steps": steps})[
            "id"
        ]
    return queries.schedules.create_schedule(
        None, workflow_id=workflow_id, cron=cron, timezone="UTC", enabled=True
    )


def http_steps(server: LoopbackServer) -> list[dict[str, Any]]:
    return [{"type": "http", "url": f"{server.url}/run", "body": {"report": "daily"}}]


class Crash(BaseException):
    """The Lambda dies mid-run (timeout, out of memory): nothing after this line runs."""


class HookStep(StepModel):
    type: Literal["hook"]
    name: str


@pytest.fixture(name="hooks")
def hooks_fixture() -> Iterator[dict[str, Any]]:
    """A test-only step kind that calls `hooks[name](run)` (registered, then removed)."""
    table: dict[str, Any] = {}

    @register_step("hook", HookStep)
    def run_hook(step: HookStep, run: RunContext) -> dict[str, Any]:
        table[step.name](run)
        return {}

    yield table
    workflows._STEPS.pop("hook")
