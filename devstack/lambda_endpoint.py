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

This module keeps the functions by name, their concurrency, and the queue and retries of Event
invocations; what it speaks of (configurations, invocations, failures, ARNs) is in
devstack.lambda_invocations, the warm containers in devstack.lambda_containers, and the Invoke
API over HTTP in devstack.lambda_invoke_api.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from devstack.lambda_containers import _Event, _Function
from devstack.lambda_invocations import (
    AsyncFailure,
    FunctionConfig,
    FunctionNotFound,
    FunctionStats,
    Invocation,
    InvocationResult,
    OnFailure,
    OnInvocation,
    TooManyRequests,
    function_name_of,
)
from devstack.lambda_invoke_api import InvokeApi

log = logging.getLogger("devstack.lambda")


class LocalLambda(InvokeApi):
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
