"""Fixtures for the runner's tests: fake time, the locks table in moto, loopback HTTP servers.

A test module imports the `*_fixture` functions it uses; pytest knows them by the short name.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from scheduler import clients
from scheduler.config import get_settings

LOCKS_TABLE = "workflow-locks-test"


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
            held = state.hold_first is None or len(state.requests) <= state.hold_first
            if state.hold is not None and held:
                state.hold.wait(timeout=10)
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
