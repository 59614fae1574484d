"""What `make run` shows: one readable line per API request, per run and per warning or error.

The functions' own output (Powertools' JSON records, tracebacks included) goes whole to
`<data dir>/logs/lambda.jsonl`, one record per line, as CloudWatch Logs keeps it in AWS; the
terminal gets a line per record at WARNING or above, never a traceback. The stack's own log
(devstack.*) goes to `<data dir>/logs/devstack.log` with its tracebacks, and to the terminal
one line per record.

    14:02:07  GET /api/schedules/7359d378…  200  12 ms
    14:03:00  run  7359d378  Demo: ping the local stack  succeeded  340 ms
    14:04:00  WARNING  RunnerFunction  workflow run failed: step 1 (http): ... returned 404
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devstack.lambda_invocations import AsyncFailure, Invocation
from devstack.lambda_runtime import LineStream, record_time

Say = Callable[[str], None]
WorkflowName = Callable[[str], str | None]
StartResponse = Callable[..., Any]

LOG_DIR = "logs"
LAMBDA_LOG = "lambda.jsonl"
STACK_LOG = "devstack.log"
_SHOWN_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
# The demo workflows' http steps call these: the run's own line says how that went.
_UNSHOWN_PATHS = frozenset({"/demo/hook", "/demo/slow"})
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_MAX_TEXT = 200


def first_line(value: object, limit: int = _MAX_TEXT) -> str:
    """The first non-blank line of a text, cut to `limit` characters."""
    line = next((part.strip() for part in str(value).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def short_id(value: object) -> str:
    """A UUID's first 8 hex digits: enough to tell schedules apart on a terminal."""
    return str(value)[:8] if _UUID.fullmatch(str(value)) else str(value)


def _clock(at: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _join(*parts: str | None) -> str:
    return "  ".join(part for part in parts if part)


def request_line(method: str, path: str, status: str, duration_s: float) -> str:
    shown = _UUID.sub(lambda match: match[0][:8] + "…", path)
    return _join(_clock(), f"{method} {first_line(shown)}", status, _ms(duration_s))


def record_line(record: dict[str, Any]) -> str | None:
    """A Powertools record at WARNING or above as one line (its `error` detail, and the
    exception's name in place of its traceback); None for the others."""
    level = str(record.get("level") or "").upper()
    if level not in _SHOWN_LEVELS:
        return None
    text = first_line(record.get("message"))
    if record.get("error"):
        text += f": {first_line(record['error'])}"
    if record.get("exception_name"):
        text += f" ({record['exception_name']})"
    return _join(_clock(), level, str(record.get("function_name") or ""), text)


def run_line(
    event: Any,
    workflow_name: str | None,
    outcome: str,
    duration_s: float | None,
    detail: str | None = None,
) -> str:
    """A runner invocation: which schedule (and workflow), how it ended, how long it took."""
    event = event if isinstance(event, dict) else {}
    what = "run now" if event.get("trigger") == "manual" else "run"
    return _join(
        _clock(),
        what,
        short_id(event.get("scheduleId", "?")),
        workflow_name,
        outcome,
        None if duration_s is None else _ms(duration_s),
        first_line(detail).removeprefix(f"{outcome}: ") if detail else None,
    )


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return None


class Console:
    """The stack's terminal and its log file. Thread-safe: requests, runs and the alert
    thread all report here."""

    def __init__(
        self,
        log_dir: Path,
        say: Say,
        *,
        runner_function: str,
        workflow_name: WorkflowName = lambda _id: None,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.lambda_log = log_dir / LAMBDA_LOG
        self._file = self.lambda_log.open("a", encoding="utf-8")
        self._say = say
        self._runner = runner_function
        self._workflow_name = workflow_name
        self._names: dict[str, str] = {}  # the host app owns workflows; their names stay put
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    # --- the functions

    def invocation(self, invocation: Invocation) -> None:
        """Write the invocation's records to the file; say its warnings, and its run."""
        result = invocation.result
        records = list(result.logs)
        lines = [line for line in (_shown(r, invocation.function_name) for r in records) if line]
        failure = _json(result.payload) if result.function_error else None
        if result.function_error:  # said once below, by the run's line or its own
            records.append(json.dumps(self._failure_record(invocation, failure)))
        if invocation.function_name == self._runner:
            lines.append(self._run_line(invocation, failure))
        elif result.function_error:
            lines.append(_join(_clock(), "ERROR", invocation.function_name, _error_text(failure)))
        self._write(records)
        for line in lines:
            self._say(line)

    def records(self, lines: Iterable[str], source: str) -> None:
        """JSON records the stack's own process logged with the product's code (its
        start-up reconcile and retention pass), `source` naming it on the terminal."""
        lines = list(lines)
        self._write(lines)
        for shown in filter(None, (_shown(line, source) for line in lines)):
            self._say(shown)

    def record_stream(self, source: str) -> io.TextIOBase:
        """A text stream for a logging handler: each line it is given goes to `records`."""
        return LineStream(lambda line: self.records([line], source))

    def _write(self, records: list[str]) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.writelines(record + "\n" for record in records)
                self._file.flush()

    def gave_up(self, failure: AsyncFailure) -> None:
        """An Event invocation Lambda dropped (retries exhausted, or too old to run)."""
        if failure.function_name != self._runner:
            self._say(
                _join(_clock(), "ERROR", failure.function_name, f"gave up: {failure.condition}")
            )
            return
        event = _json(failure.payload)
        why = f"{failure.condition} after {failure.attempts} attempt(s)"
        self._say(run_line(event, self._name_of(event), "missed", None, why))

    def _run_line(self, invocation: Invocation, failure: Any) -> str:
        event = _json(invocation.payload)
        name = self._name_of(event)
        if invocation.result.function_error:
            retry = (
                f"attempt {invocation.attempt}, Lambda retries it" if invocation.retrying else ""
            )
            detail = _error_text(failure) + (f" ({retry})" if retry else "")
            return run_line(event, name, "error", invocation.duration_s, detail)
        answer = _json(invocation.result.payload)
        answer = answer if isinstance(answer, dict) else {}
        outcome = str(answer.get("outcome") or "?")
        return run_line(event, name, outcome, invocation.duration_s, answer.get("reason"))

    def _name_of(self, event: Any) -> str | None:
        workflow_id = str(event.get("workflowId", "")) if isinstance(event, dict) else ""
        if not workflow_id:
            return None
        with self._lock:
            if workflow_id in self._names:
                return self._names[workflow_id]
            name = self._workflow_name(workflow_id)
            if name is not None:
                self._names[workflow_id] = name
            return name

    @staticmethod
    def _failure_record(invocation: Invocation, failure: Any) -> dict[str, Any]:
        """What Lambda's runtime logs for a handler that raised (or timed out), as a record."""
        failure = failure if isinstance(failure, dict) else {}
        return {
            "level": "ERROR",
            "message": f"the invocation failed: {_error_text(failure)}",
            "timestamp": record_time(),
            "function_name": invocation.function_name,
            "function_request_id": invocation.request_id,
            "attempt": invocation.attempt,
            "errorType": failure.get("errorType"),
            "errorMessage": failure.get("errorMessage"),
            "stackTrace": failure.get("stackTrace"),
        }

    # --- the gateway

    def wsgi(self, app: Any) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
        """`app` saying a line per request it answers."""

        def logged(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            started = time.monotonic()
            status: list[str] = []

            def start(status_line: str, headers: Any, exc_info: Any = None) -> Any:
                status.append(status_line.split(" ", 1)[0])
                return start_response(status_line, headers, exc_info)

            body = app(environ, start)
            path = environ.get("PATH_INFO", "")
            if path not in _UNSHOWN_PATHS:
                query = environ.get("QUERY_STRING", "")
                shown = f"{path}?{query}" if query else path
                method = environ.get("REQUEST_METHOD", "GET")
                elapsed = time.monotonic() - started
                self._say(request_line(method, shown, status[0] if status else "-", elapsed))
            return body

        return logged


def _shown(line: str, function_name: str) -> str | None:
    record = _json(line.encode())
    if not isinstance(record, dict):
        return None
    return record_line({"function_name": function_name, **record})


def _error_text(failure: Any) -> str:
    failure = failure if isinstance(failure, dict) else {}
    kind = failure.get("errorType") or "Error"
    return f"{kind}: {first_line(failure.get('errorMessage') or '')}"


class _ReadableFormatter(logging.Formatter):
    """The stack's own records, one line each: the exception named, its traceback left out."""

    def format(self, record: logging.LogRecord) -> str:
        text = first_line(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {first_line(exc)})"
        level = "" if record.levelno == logging.INFO else record.levelname
        return _join(_clock(record.created), level, text)


def configure_logging(log_dir: Path) -> Path:
    """`make run`'s logging: readable lines on the terminal, everything in devstack.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(_ReadableFormatter())
    path = log_dir / STACK_LOG
    file = logging.FileHandler(path, encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[terminal, file], force=True)
    logging.getLogger("devstack").setLevel(logging.INFO)
    return path
