"""The runtime inside one local Lambda container (a process): import the handler, then serve.

Started by `devstack.lambda_containers` as `python -m devstack.lambda_runtime FD NAME HANDLER
TIMEOUT_S MEMORY_MB`; FD is its end of a socket pair carrying one invocation at a time.

What the function writes (Powertools' JSON records on stdout, anything on stderr) goes over the
same socket pair, a message per line, as Lambda sends a function's output to CloudWatch Logs:
the stack decides where it is shown (devstack.console), never the container's own terminal.
Messages to the stack: `("log", json_line)`, `("ready",)`, `("result", error, body)`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from devstack.apigw import LambdaContext


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
    return json.dumps(body).encode()


class _Channel:
    """The container's end of the socket pair; sends from any thread, one at a time."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self.conn.send(message)


class LineStream(io.TextIOBase):
    """A text stream handing each complete, non-blank line written to it to `on_line`
    (thread-safe; a partial line waits for its end)."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._on_line(line)
        return len(text)


def _output(channel: _Channel, stream: str, function_name: str) -> LineStream:
    """sys.stdout or sys.stderr of the container: each line goes to the stack as a JSON
    record, as it is (a Powertools record) or wrapped (any other text)."""

    def send(line: str) -> None:
        try:
            is_record = isinstance(json.loads(line), dict)
        except ValueError:
            is_record = False
        if not is_record:
            fields = {"timestamp": record_time(), "stream": stream, "function_name": function_name}
            line = json.dumps({**fields, "message": line})
        with contextlib.suppress(OSError):  # the stack went away: nowhere left to write
            channel.send(("log", line))

    return LineStream(send)


class _JsonFormatter(logging.Formatter):
    """Records of loggers other than Powertools' (a library's, a warning), in its shape."""

    def __init__(self, function_name: str) -> None:
        super().__init__()
        self._function_name = function_name

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": record_time(record.created),
            "logger": record.name,
            "function_name": self._function_name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception_name"] = record.exc_info[0].__name__
            fields["exception"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


def record_time(at: float | None = None) -> str:
    """A record's timestamp as Powertools writes it (UTC, milliseconds)."""
    moment = time.time() if at is None else at
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment))
        + f",{int(moment % 1 * 1000):03d}+0000"
    )


def _capture_output(channel: _Channel, function_name: str) -> None:
    """Before the handler is imported: Powertools binds its handler to sys.stdout then."""
    sys.stdout = _output(channel, "stdout", function_name)
    sys.stderr = _output(channel, "stderr", function_name)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonFormatter(function_name))
    logging.getLogger().addHandler(handler)  # what Lambda's own root handler catches
    logging.captureWarnings(True)

    def thread_crashed(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and args.exc_value is not None:
            logging.getLogger("devstack.lambda_runtime").error(
                "a thread of the function crashed",
                exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
            )

    threading.excepthook = thread_crashed


def serve(conn: Connection, name: str, handler_path: str, timeout_s: float, memory_mb: int) -> None:
    channel = _Channel(conn)
    _capture_output(channel, name)
    init_error: bytes | None = None
    try:
        module_name, _, attribute = handler_path.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # Lambda reports a broken module on every invocation
        init_error = error_payload("Runtime.ImportModuleError", f"{handler_path}: {exc}")
    channel.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the stack went away
            return
        if message is None:
            return
        request_id, payload = message
        if init_error is not None:
            channel.send(("result", "Unhandled", init_error))
            continue
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=memory_mb,
            timeout_s=timeout_s,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
        )
        try:
            result = handler(json.loads(payload) if payload else {}, context)
            channel.send(("result", None, json.dumps(result).encode()))
        except Exception as exc:
            stack = traceback.format_tb(exc.__traceback__)
            channel.send(
                ("result", "Unhandled", error_payload(type(exc).__name__, str(exc), stack))
            )


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the stack, which stops us
    fd, name, handler_path, timeout_s, memory_mb = argv[1:6]
    serve(Connection(int(fd)), name, handler_path, float(timeout_s), int(memory_mb))


if __name__ == "__main__":
    main(sys.argv)
