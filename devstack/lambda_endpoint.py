"""A local Lambda service: the Invoke API over HTTP (what `sam local start-lambda` offers).

Each function runs in warm "containers": processes that import the handler once and then
serve one invocation at a time, as Lambda's execution environments do. Process-wide state of
the handler code (its database connection, its clients) is never shared by two concurrent
invocations, exactly as in AWS. `InvocationType=Event` answers 202 and runs the function on a
worker thread, retrying a function error (a raise, a timeout, a crash) twice after 1 and 2
minutes with the same request id, as Lambda does; `RequestResponse` answers 200 with the
function's result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from devstack.apigw import ACCOUNT_ID
from devstack.lambda_runtime import error_payload

log = logging.getLogger("devstack.lambda")

REGION = "us-east-1"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
_MAX_ASYNC_PAYLOAD = 256 * 1024
_ROOT = Path(__file__).resolve().parents[1]
_PYTHONPATH = [str(_ROOT / "layers" / "common"), str(_ROOT)]  # as /opt/python and the task root
_INIT_TIMEOUT_S = 60.0  # a cold start imports the handler; generous for a busy 2-core machine


@dataclass(frozen=True)
class FunctionConfig:
    name: str  # the function's name, e.g. the template's logical id "RunnerFunction"
    handler: str  # dotted path of the handler callable
    timeout_s: float = 30.0
    memory_mb: int = 512
    max_concurrency: int = 4


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the function raised or timed out


class FunctionNotFound(LookupError):
    pass


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def function_name_of(name_or_arn: str) -> str:
    """`name`, `name:qualifier`, `123:function:name` or a full ARN -> the bare name."""
    if ":function:" in name_or_arn:
        name_or_arn = name_or_arn.split(":function:", 1)[1]
    return name_or_arn.split(":", 1)[0]


class _Container:
    """One process running `devstack.lambda_runtime`, talking over a socket pair."""

    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self._conn, child_conn = multiprocessing.Pipe()
        child_fd = child_conn.fileno()
        env = {**env, "PYTHONPATH": os.pathsep.join(_PYTHONPATH)}
        command = [
            sys.executable,
            "-m",
            "devstack.lambda_runtime",
            str(child_fd),
            config.name,
            config.handler,
            str(config.timeout_s),
            str(config.memory_mb),
        ]
        self.process = subprocess.Popen(command, pass_fds=[child_fd], env=env, cwd=_ROOT)  # noqa: S603
        child_conn.close()
        self._ready = False

    def wait_ready(self, timeout_s: float = _INIT_TIMEOUT_S) -> bool:
        if not self._ready:
            try:
                self._ready = self._conn.poll(timeout_s) and self._conn.recv() == "ready"
            except (EOFError, OSError):  # died while importing the handler
                self._ready = False
        return self._ready

    def invoke(
        self, payload: bytes, timeout_s: float, request_id: str
    ) -> tuple[InvocationResult, bool]:
        """The result, and whether this container can serve again."""
        if not self.wait_ready():
            failed = error_payload("Runtime.InitError", "the runtime failed to start")
            return InvocationResult(failed, "Unhandled"), False
        try:
            self._conn.send((request_id, payload))
            if not self._conn.poll(timeout_s):
                message = f"{request_id} Task timed out after {timeout_s:.2f} seconds"
                return InvocationResult(error_payload("TimeoutError", message), "Unhandled"), False
            error, body = self._conn.recv()
        except (EOFError, OSError):
            message = "the runtime exited before returning a result"
            return InvocationResult(error_payload("Runtime.ExitError", message), "Unhandled"), False
        return InvocationResult(body, error), True

    def ask_to_exit(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)

    def close(self, grace_s: float) -> None:
        self.ask_to_exit()
        for end in (self.process.terminate, self.process.kill):
            try:
                self.process.wait(grace_s)
                break
            except subprocess.TimeoutExpired:
                end()
                grace_s = 1.0
        self._conn.close()


class _Function:
    """One function's warm containers; at most `max_concurrency` invocations at once."""

    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self.config = config
        self._env = env
        self._idle: list[_Container] = []
        self._all: list[_Container] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._closed = False

    def warm_up(self) -> _Container:
        container = _Container(self.config, self._env)
        with self._lock:
            self._all.append(container)
            self._idle.append(container)
        return container

    def invoke(self, payload: bytes, request_id: str | None = None) -> InvocationResult:
        """Run one invocation; `request_id` is kept by Lambda's retries of an async one."""
        with self._slots:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self.config.name} is shut down")
                container = self._idle.pop() if self._idle else None
            if container is None:
                container = _Container(self.config, self._env)
                with self._lock:
                    self._all.append(container)
            result, reusable = container.invoke(
                payload, self.config.timeout_s, request_id or str(uuid.uuid4())
            )
            with self._lock:
                if reusable and not self._closed:
                    self._idle.append(container)
                    container = None
                elif container in self._all:
                    self._all.remove(container)
            if container is not None:
                container.close(0)  # a timed-out or crashed container is discarded, as in Lambda
            return result

    def close(self, grace_s: float) -> None:
        with self._lock:
            self._closed = True
            containers, self._all, self._idle = self._all, [], []
        for container in containers:
            container.ask_to_exit()  # all at once: they wind down in parallel
        deadline = time.monotonic() + grace_s
        for container in containers:
            container.close(max(0.0, deadline - time.monotonic()))


class LocalLambda:
    """The functions of the stack by name, invocable directly or through the Invoke HTTP API."""

    def __init__(
        self,
        functions: Iterable[FunctionConfig],
        env: dict[str, str],
        *,
        async_retry_delays_s: tuple[float, ...] = (60.0, 120.0),
    ) -> None:
        """`env` is the functions' environment (as the template's Environment gives them);
        `async_retry_delays_s`, the waits before each retry of a failed Event invocation."""
        self._functions = {config.name: _Function(config, env) for config in functions}
        self._retry_delays_s = async_retry_delays_s
        self._closing = threading.Event()
        workers = sum(f.config.max_concurrency for f in self._functions.values())
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-event")
        self._in_flight = 0
        self._idle = threading.Condition()

    def function(self, name_or_arn: str) -> _Function:
        function = self._functions.get(function_name_of(name_or_arn))
        if function is None:
            raise FunctionNotFound(f"Function not found: {name_or_arn}")
        return function

    def warm_up(self, names: Iterable[str]) -> None:
        """Start one container for each named function and wait for them (in parallel)."""
        containers = [self.function(name).warm_up() for name in names]
        for container in containers:
            container.wait_ready()

    def invoke(self, name_or_arn: str, payload: bytes) -> InvocationResult:
        """InvocationType RequestResponse."""
        return self.function(name_or_arn).invoke(payload)

    def invoke_json(self, name_or_arn: str, event: Any) -> Any:
        """Invoke with a JSON event; the function's error becomes an exception."""
        result = self.invoke(name_or_arn, json.dumps(event).encode())
        if result.function_error:
            raise RuntimeError(f"{name_or_arn} failed: {result.payload.decode(errors='replace')}")
        return json.loads(result.payload)

    def invoke_async(self, name_or_arn: str, payload: bytes) -> None:
        """InvocationType Event: queued, run on a worker thread; failures are logged."""
        function = self.function(name_or_arn)
        with self._idle:
            self._in_flight += 1
        try:
            future = self._executor.submit(self._run_event, function, payload)
        except RuntimeError:  # shutting down
            self._finished()
            raise
        future.add_done_callback(lambda _: self._finished())  # also when cancelled at stop

    def _run_event(self, function: _Function, payload: bytes) -> None:
        request_id = str(uuid.uuid4())  # the same for every retry, as in Lambda
        name = function.config.name
        for retry, delay_s in enumerate((0.0, *self._retry_delays_s)):
            if retry and self._closing.wait(delay_s):
                log.warning("%s retry %d dropped: the stack is stopping", name, retry)
                return
            try:
                result = function.invoke(payload, request_id)
            except Exception:
                log.exception("%s could not be invoked", name)
                return
            answer = result.payload.decode(errors="replace")
            if not result.function_error:
                log.info("%s returned %s", name, answer)
                return
            log.error("%s failed (attempt %d): %s", name, retry + 1, answer)

    def _finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_in_flight(self, at_most: int = 0, timeout_s: float = 30.0) -> None:
        """Wait until no more than `at_most` Event invocations are queued or running."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight <= at_most, timeout_s):
                raise TimeoutError(f"{self._in_flight} invocations still running")

    def close(self, grace_s: float = 3.0) -> None:
        """Stop taking work, give running invocations `grace_s`, then end every container."""
        self._closing.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight <= 0, grace_s)
        for function in self._functions.values():
            function.close(max(0.5, deadline - time.monotonic()))

    # --- the Invoke API over HTTP (WSGI)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return _error(
                start_response,
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                "Unknown operation",
            )
        name = match["name"]
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            function = self.function(name)
        except FunctionNotFound as exc:
            return _error(
                start_response, HTTPStatus.NOT_FOUND, "ResourceNotFoundException", str(exc)
            )
        limit = _MAX_ASYNC_PAYLOAD if invocation_type == "Event" else _MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            return _error(
                start_response,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for {invocation_type} invocations",
            )
        try:
            json.loads(payload or b"{}")
        except ValueError:
            return _error(
                start_response,
                HTTPStatus.BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json",
            )
        if invocation_type == "DryRun":
            return _respond(start_response, HTTPStatus.NO_CONTENT, b"", [])
        if invocation_type == "Event":
            self.invoke_async(function.config.name, payload)
            return _respond(start_response, HTTPStatus.ACCEPTED, b"", [])
        if invocation_type != "RequestResponse":
            return _error(
                start_response,
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValueException",
                f"Unsupported invocation type {invocation_type}",
            )
        result = function.invoke(payload)
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        return _respond(start_response, HTTPStatus.OK, result.payload, headers)


def _respond(
    start_response: Any, status: HTTPStatus, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    headers = [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(f"{status.value} {status.phrase}", headers)
    return [body]


def _error(start_response: Any, status: HTTPStatus, error_type: str, message: str) -> list[bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return _respond(start_response, status, body, [("x-amzn-ErrorType", error_type)])
