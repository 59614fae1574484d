"""Fixtures for the tests that secrets stay secret: every log record at every level, captured
as the Powertools formatter writes it, and a loopback server that echoes the request's headers.

A test module imports the `*_fixture` functions it uses; pytest knows them by the short name.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from scheduler.observability import logger

# What must never be stored or logged: a token sent in a header, and one in a URL's query.
SECRET = "sk_live_4f9a1c7e2b8d6a0f93"
BEARER = f"Bearer {SECRET}"
QUERY_SECRET = "qs_token_9e8d7c6b5a4f3e2d"


@dataclass
class CapturedLogs:
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    printed: list[str] = field(default_factory=list)

    def clear(self) -> None:
        """Forget what the test's own setup logged (creating a secret logs its value)."""
        self.caplog.clear()
        self.capsys.readouterr()
        self.printed.clear()

    def text(self) -> str:
        """Every record so far (Powertools' JSON: message, extra keys, exception and stack),
        plus whatever was printed (EMF metrics)."""
        records = [logger.registered_formatter.format(record) for record in self.caplog.records]
        captured = self.capsys.readouterr()
        self.printed += [captured.out, captured.err]
        return "\n".join(records + self.printed)


@pytest.fixture(name="logs")
def logs_fixture(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> CapturedLogs:
    """Logs of every logger at DEBUG, ours and botocore's: no log level may reveal a secret."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=logger.name)  # Powertools' logger has its own level
    return CapturedLogs(caplog, capsys)


def assert_nowhere(*texts: Any, secrets: tuple[str, ...] = (SECRET, QUERY_SECRET)) -> None:
    for text in texts:
        dumped = text if isinstance(text, str) else json.dumps(text, default=str)
        for secret in secrets:
            assert secret not in dumped, f"{secret!r} leaked into: {dumped[:2000]}"


@dataclass
class EchoServer:
    """Answers `status` with the request's path and headers as its JSON body, as httpbin."""

    url: str
    status: int = 200
    # each request's header lines as sent, in order, names lowercased
    received: list[list[tuple[str, str]]] = field(default_factory=list)


@pytest.fixture(name="echo_server")
def echo_server_fixture() -> Iterator[EchoServer]:
    state = EchoServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            lines = [(key.lower(), value) for key, value in self.headers.items()]
            state.received.append(lines)
            body = json.dumps({"path": self.path, "headers": dict(lines)}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
