"""A local Lambda service: the Invoke API over HTTP (what `sam local start-lambda` offers).

Each function runs in warm "containers": processes that import the handler once and then
serve one invocation at a time, as Lambda's execution environments do. Process-wide state of
the handler code (its database connection, its clients) is never shared by two concurrent
invocations, exactly as in AWS.

Concurrency is bounded as Lambda bounds it. A function with a reserved concurrency (the
template's ReservedConcurrentExecutions) runs at most that many invocations at once: a
`RequestResponse` invocation beyond it is answered 429 TooManyRequestsException, and an
`Event` invocation (answered 202 at once) waits in the function's own queue until a slot
frees. A function without one runs at most `max_concurrency` at once, the local machine's
bound, and a synchronous invocation beyond it waits for a slot. A queued event starts as soon
as a slot frees (Lambda backs off up to 5 minutes between its throttled retries); one that
waited longer than the function's maximum event age is not run but reported as a failure, as
is one whose function failed on every attempt (a raise, a timeout, a crash: retried after 1
and 2 minutes with the same request id, as Lambda does).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
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
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


_LAMBDA_MAX_EVENT_AGE_S = 21_600.0  # Lambda's default (and maximum) for async events


@dataclass(frozen=True)
class FunctionConfig:
    name: str  # the function's name, e.g. the template's logical id "RunnerFunction"
    handler: str  # dotted path of the handler callable
    timeout_s: float = 30.0
    memory_mb: int = 512
    # Without a reservation: the most invocations this machine runs at once (more wait).
    max_concurrency: int = 4
    # ReservedConcurrentExecutions: the most at once; a sync invocation beyond it gets 429.
    reserved_concurrency: int | None = None
    # EventInvokeConfig: how long an async event may wait, and retries of a failed one.
    max_event_age_s: float = _LAMBDA_MAX_EVENT_AGE_S
    max_retry_attempts: int = 2

    @property
    def concurrency(self) -> int:
        """The most invocations of the function running at once."""
        if self.reserved_concurrency is not None:
            return self.reserved_concurrency
        return self.max_concurrency


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the function raised or timed out
    # What the function wrote while it ran (after its container's start-up output, if this
    # was its first invocation): one JSON record per line, as CloudWatch Logs would get them.
    logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """One run of a function, as its observer (the stack's console) hears of it."""

    function_name: str
    request_id: str
    payload: bytes
    result: InvocationResult
    duration_s: float
    attempt: int = 1  # of an Event invocation, counting Lambda's retries
    retrying: bool = False  # it failed and Lambda runs it again


@dataclass(frozen=True)
class AsyncFailure:
    """An Event invocation Lambda gave up on: what its on-failure destination receives."""

    function_name: str
    request_id: str
    payload: bytes
    condition: str  # "RetriesExhausted" or "EventAgeExceeded", as in Lambda's record
    attempts: int  # how many times the function ran (0: the event aged out in the queue)
    response: InvocationResult | None  # the last attempt's answer, if it ran

    def destination_record(self) -> dict[str, Any]:
        """The JSON record Lambda sends to an OnFailure destination (SQS, SNS, ...)."""
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requestContext": {
                "requestId": self.request_id,
                "functionArn": f"{function_arn(self.function_name)}:$LATEST",
                "condition": self.condition,
                "approximateInvokeCount": self.attempts,
            },
            "requestPayload": _json_or_text(self.payload),
        }
        if self.response is not None:
            record["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": self.response.function_error,
            }
            record["responsePayload"] = _json_or_text(self.response.payload)
        return record


@dataclass(frozen=True)
class FunctionStats:
    running: int  # invocations running now
    queued: int  # Event invocations waiting for a slot or for their retry
    peak_running: int  # the most running at once since the service started


class FunctionNotFound(LookupError):
    pass


class TooManyRequests(RuntimeError):
    """A sync invocation beyond the function's reserved concurrency (Lambda's 429)."""

    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"


OnFailure = Callable[[AsyncFailure], None]
OnInvocation = Callable[[Invocation], None]


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return payload.decode(errors="replace")


@dataclass(order=True)
class _Event:
    """An Event invocation in its function's queue: ordered by when it may run next."""

    not_before: float
    seq: int
    payload: bytes = field(compare=False)
    request_id: str = field(compare=False)
    received_at: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


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
        self._logs: list[str] = []  # written since the last invocation's result was taken

    def _receive(self, deadline: float) -> tuple[Any, ...] | None:
        """The container's next message that is not a log line (those are kept), or None
        when the deadline passed first."""
        while True:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                return None
            message = self._conn.recv()
            if message[0] != "log":
                return tuple(message)
            self._logs.append(message[1])

    def _taking_logs(self, payload: bytes, error: str | None) -> InvocationResult:
        logs, self._logs = tuple(self._logs), []
        return InvocationResult(payload, error, logs)

    def wait_ready(self, timeout_s: float = _INIT_TIMEOUT_S) -> bool:
        if not self._ready:
            try:
                message = self._receive(time.monotonic() + timeout_s)
                self._ready = message == ("ready",)
            except (EOFError, OSError):  # died while importing the handler
                self._ready = False
        return self._ready

    def invoke(
        self, payload: bytes, timeout_s: float, request_id: str
    ) -> tuple[InvocationResult, bool]:
        """The result, and whether this container can serve again."""
        if not self.wait_ready():
            failed = error_payload("Runtime.InitError", "the runtime failed to start")
            return self._taking_logs(failed, "Unhandled"), False
        try:
            self._conn.send((request_id, payload))
            message = self._receive(time.monotonic() + timeout_s)
            if message is None:
                text = f"{request_id} Task timed out after {timeout_s:.2f} seconds"
                return self._taking_logs(error_payload("TimeoutError", text), "Unhandled"), False
            _, error, body = message
        except (EOFError, OSError):
            text = "the runtime exited before returning a result"
            return self._taking_logs(error_payload("Runtime.ExitError", text), "Unhandled"), False
        return self._taking_logs(body, error), True

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
    """One function's warm containers, and its concurrency and async queue (kept by
    LocalLambda under its lock)."""

    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self.config = config
        self._env = env
        self._idle: list[_Container] = []
        self._all: list[_Container] = []
        self._lock = threading.Lock()
        self._closed = False
        self.running = 0
        self.peak_running = 0
        self.queue: list[_Event] = []  # a heap

    def warm_up(self) -> _Container:
        container = _Container(self.config, self._env)
        with self._lock:
            self._all.append(container)
            self._idle.append(container)
        return container

    def run(self, payload: bytes, request_id: str) -> InvocationResult:
        """Run one invocation in an idle (or a new) container; the caller holds a slot."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.config.name} is shut down")
            container = self._idle.pop() if self._idle else None
        if container is None:
            container = _Container(self.config, self._env)
            with self._lock:
                self._all.append(container)
        result, reusable = container.invoke(payload, self.config.timeout_s, request_id)
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
        on_failure: OnFailure | None = None,
        on_invocation: OnInvocation | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`env` is the functions' environment (as the template's Environment gives them);
        `async_retry_delays_s`, the waits before each retry of a failed Event invocation (the
        last repeats); `on_failure`, the destination of the Event invocations given up on;
        `on_invocation`, told of every run of a function, its output included (where Lambda
        would send it to CloudWatch Logs); `clock`, the seconds the queue's delays and event
        ages are measured in."""
        self._functions = {config.name: _Function(config, env) for config in functions}
        self._retry_delays_s = async_retry_delays_s or (0.0,)
        self._on_failure = on_failure
        self._on_invocation = on_invocation
        self._clock = clock
        self._seq = itertools.count()
        self._cond = threading.Condition()  # guards every function's slots and queue
        self._closing = False
        self._in_flight = 0  # Event invocations queued or running
        workers = sum(f.config.concurrency for f in self._functions.values())
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-event")
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="lambda-dispatcher", daemon=True
        )
        self._dispatcher.start()

    def function(self, name_or_arn: str) -> _Function:
        function = self._functions.get(function_name_of(name_or_arn))
        if function is None:
            raise FunctionNotFound(f"Function not found: {name_or_arn}")
        return function

    def stats(self, name_or_arn: str) -> FunctionStats:
        function = self.function(name_or_arn)
        with self._cond:
            return FunctionStats(function.running, len(function.queue), function.peak_running)

    def warm_up(self, names: Iterable[str]) -> None:
        """Start one container for each named function and wait for them (in parallel)."""
        containers = [self.function(name).warm_up() for name in names]
        for container in containers:
            container.wait_ready()

    # --- synchronous invocations

    def invoke(self, name_or_arn: str, payload: bytes) -> InvocationResult:
        """InvocationType RequestResponse; beyond a reserved concurrency, TooManyRequests."""
        function = self.function(name_or_arn)
        with self._cond:
            if function.config.reserved_concurrency is not None:
                if function.running >= function.config.concurrency:
                    raise TooManyRequests("Rate Exceeded.")
            else:
                self._cond.wait_for(
                    lambda: self._closing or function.running < function.config.concurrency
                )
            if self._closing:
                raise RuntimeError(f"{function.config.name} is shut down")
            self._take_slot(function)
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        try:
            result = function.run(payload, request_id)
        finally:
            self._give_back_slot(function)
        self._observe(
            Invocation(
                function.config.name, request_id, payload, result, time.monotonic() - started
            )
        )
        return result

    def _observe(self, invocation: Invocation) -> None:
        if self._on_invocation is not None:
            try:
                self._on_invocation(invocation)
            except Exception:  # showing an invocation must never fail it
                log.exception("%s: the invocation observer failed", invocation.function_name)

    def invoke_json(self, name_or_arn: str, event: Any) -> Any:
        """Invoke with a JSON event; the function's error becomes an exception."""
        result = self.invoke(name_or_arn, json.dumps(event).encode())
        if result.function_error:
            raise RuntimeError(f"{name_or_arn} failed: {result.payload.decode(errors='replace')}")
        return json.loads(result.payload)

    def _take_slot(self, function: _Function) -> None:
        function.running += 1
        function.peak_running = max(function.peak_running, function.running)

    def _give_back_slot(self, function: _Function) -> None:
        with self._cond:
            function.running -= 1
            self._cond.notify_all()

    # --- asynchronous invocations: a queue per function, one dispatcher

    def invoke_async(self, name_or_arn: str, payload: bytes) -> None:
        """InvocationType Event: queued, never refused for concurrency."""
        self.enqueue(name_or_arn, payload)

    def enqueue(self, name_or_arn: str, payload: bytes) -> str:
        """`invoke_async`, answering the invocation's request id."""
        function = self.function(name_or_arn)
        request_id = str(uuid.uuid4())  # the same for every retry, as in Lambda
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{function.config.name} is shut down")
            now = self._clock()
            heapq.heappush(function.queue, _Event(now, next(self._seq), payload, request_id, now))
            self._in_flight += 1
            self._cond.notify_all()
        return request_id

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                starts, failures, wake_at = self._due(self._clock())
                if not starts and not failures:
                    timeout = None if wake_at is None else max(0.0, wake_at - self._clock())
                    self._cond.wait(timeout)
                    continue
            for failure in failures:
                self._event_done(failure)
            for function, event in starts:
                try:
                    future = self._executor.submit(self._run_event, function, event)
                except RuntimeError:  # shutting down: the event is dropped with the rest
                    self._give_back_slot(function)
                    self._event_done()
                else:
                    future.add_done_callback(functools.partial(self._if_cancelled, function))

    def _if_cancelled(self, function: _Function, future: Future[None]) -> None:
        """An event cancelled at close before it ran gives back its slot and its count."""
        if future.cancelled():
            self._give_back_slot(function)
            self._event_done()

    def _due(
        self, now: float
    ) -> tuple[list[tuple[_Function, _Event]], list[AsyncFailure], float | None]:
        """Under the lock: the events to start now (their slots taken), those aged out, and
        when to look again."""
        starts: list[tuple[_Function, _Event]] = []
        failures: list[AsyncFailure] = []
        wake_at: float | None = None
        for function in self._functions.values():
            max_age = function.config.max_event_age_s
            if any(now - e.received_at >= max_age for e in function.queue):
                kept = [e for e in function.queue if now - e.received_at < max_age]
                failures += [
                    self._failure(function, e, "EventAgeExceeded")
                    for e in function.queue
                    if now - e.received_at >= max_age
                ]
                function.queue = kept
                heapq.heapify(function.queue)
            while function.queue and function.running < function.config.concurrency:
                if function.queue[0].not_before > now:
                    break
                self._take_slot(function)
                starts.append((function, heapq.heappop(function.queue)))
            # Look again when a retry is due or an event ages out; a slot given back wakes
            # the dispatcher by itself.
            for event in function.queue:
                due = event.received_at + max_age
                if event.not_before > now:
                    due = min(due, event.not_before)
                wake_at = due if wake_at is None else min(wake_at, due)
        return starts, failures, wake_at

    def _run_event(self, function: _Function, event: _Event) -> None:
        name = function.config.name
        event.attempts += 1
        started = time.monotonic()
        try:
            result = function.run(event.payload, event.request_id)
        except Exception:  # the function was shut down under it
            log.exception("%s could not be invoked", name)
            self._event_done()
            return
        finally:
            self._give_back_slot(function)
        retrying = bool(result.function_error) and (
            event.attempts <= function.config.max_retry_attempts
        )
        self._observe(
            Invocation(
                name,
                event.request_id,
                event.payload,
                result,
                time.monotonic() - started,
                attempt=event.attempts,
                retrying=retrying,
            )
        )
        answer = result.payload.decode(errors="replace")
        if not result.function_error:
            log.debug("%s returned %s", name, answer)
            self._event_done()
            return
        log.debug("%s failed (attempt %d): %s", name, event.attempts, answer)
        if retrying:
            with self._cond:
                if not self._closing:
                    delays = self._retry_delays_s
                    event.not_before = self._clock() + delays[min(event.attempts, len(delays)) - 1]
                    heapq.heappush(function.queue, event)
                    self._cond.notify_all()
                    return
            log.warning("%s retry %d dropped: the stack is stopping", name, event.attempts)
            self._event_done()
            return
        self._event_done(self._failure(function, event, "RetriesExhausted", result))

    def _failure(
        self,
        function: _Function,
        event: _Event,
        condition: str,
        response: InvocationResult | None = None,
    ) -> AsyncFailure:
        return AsyncFailure(
            function.config.name,
            event.request_id,
            event.payload,
            condition,
            event.attempts,
            response,
        )

    def _report(self, failure: AsyncFailure) -> None:
        # an error only when no destination takes the failure (and says it its own way)
        log.log(
            logging.DEBUG if self._on_failure else logging.ERROR,
            "%s gave up on %s (%s after %d attempt(s))",
            failure.function_name,
            failure.request_id,
            failure.condition,
            failure.attempts,
        )
        if self._on_failure is not None:
            try:
                self._on_failure(failure)
            except Exception:  # as DestinationDeliveryFailures: logged, not raised
                log.exception("%s: the failure destination refused a record", failure.function_name)

    def _event_done(self, failure: AsyncFailure | None = None) -> None:
        if failure is not None:
            self._report(failure)
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def wait_in_flight(self, at_most: int = 0, timeout_s: float = 30.0) -> None:
        """Wait until no more than `at_most` Event invocations are queued or running."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight <= at_most, timeout_s):
                raise TimeoutError(f"{self._in_flight} invocations still queued or running")

    def close(self, grace_s: float = 3.0) -> None:
        """Stop taking work, drop the queued events, give running invocations `grace_s`,
        then end every container."""
        deadline = time.monotonic() + grace_s
        with self._cond:
            self._closing = True
            dropped = sum(len(f.queue) for f in self._functions.values())
            for function in self._functions.values():
                function.queue = []
            self._in_flight -= dropped
            self._cond.notify_all()
        if dropped:
            log.warning("%d queued invocation(s) dropped: the stack is stopping", dropped)
        self._dispatcher.join(grace_s)
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight <= 0, grace_s)
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
            request_id = self.enqueue(function.config.name, payload)
            return _respond(
                start_response, HTTPStatus.ACCEPTED, b"", [("x-amzn-RequestId", request_id)]
            )
        if invocation_type != "RequestResponse":
            return _error(
                start_response,
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValueException",
                f"Unsupported invocation type {invocation_type}",
            )
        try:
            result = self.invoke(function.config.name, payload)
        except TooManyRequests as exc:
            return _error(
                start_response,
                HTTPStatus.TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                str(exc),
                reason=exc.reason,
            )
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


def _error(
    start_response: Any,
    status: HTTPStatus,
    error_type: str,
    message: str,
    *,
    reason: str | None = None,
) -> list[bytes]:
    fields = {"Type": "User", "message": message} | ({"Reason": reason} if reason else {})
    body = json.dumps(fields).encode()
    return _respond(start_response, status, body, [("x-amzn-ErrorType", error_type)])
