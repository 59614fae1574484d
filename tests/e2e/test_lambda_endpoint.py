"""E2E: the local Lambda service answers the Invoke API as AWS Lambda does (boto3 as the client)."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import boto3
import pytest
import yaml
from botocore.config import Config

from devstack.lambda_endpoint import LocalLambda
from devstack.lambda_invocations import AsyncFailure, FunctionConfig
from devstack.local_functions import MAX_EVENT_AGE_DEFAULT_S, RUNNER_CONCURRENCY_DEFAULT
from devstack.stack import Stack
from tests.conftest import ROOT

GATED = "tests.e2e.gate_handler.lambda_handler"
_WAIT_S = 120.0  # generous: containers cold-start on a busy machine; nothing waits this long


def test_the_lambda_endpoint_speaks_the_invoke_api(stack: Stack) -> None:
    assert stack.lambdas is not None
    endpoint = json.loads(stack.state_file.read_text())["lambdaEndpoint"]
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")

    # A malformed runner event is answered, not crashed on
    answer = client.invoke(FunctionName="RunnerFunction", Payload=b'{"scheduleId": 1}')
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"outcome": "dropped"}

    # An unknown function is the service's ResourceNotFoundException
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")

    # An asynchronous invocation is accepted at once and run
    queued = client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:RunnerFunction",
        InvocationType="Event",
        Payload=b"{}",
    )
    assert queued["StatusCode"] == 202
    stack.lambdas.wait_in_flight(0)


def test_a_failed_async_invocation_is_retried_twice_with_the_same_request_id(
    tmp_path: Path,
) -> None:
    # Given a function that fails its first two invocations (Lambda retries an Event twice)
    log = tmp_path / "requests.log"
    flaky = FunctionConfig("Flaky", "tests.e2e.flaky_handler.lambda_handler", max_concurrency=1)
    env = {**os.environ, "FLAKY_LOG": str(log)}
    lambdas = LocalLambda([flaky], env=env, async_retry_delays_s=(0.1, 0.1))
    try:
        # When it is invoked asynchronously
        lambdas.invoke_async("Flaky", json.dumps({"fail": 2}).encode())
        lambdas.wait_in_flight(0, timeout_s=60)
    finally:
        lambdas.close()

    # Then it ran three times, as one invocation: the retries keep the request id
    request_ids = log.read_text().splitlines()
    assert len(request_ids) == 3
    assert len(set(request_ids)) == 1


def test_a_failed_async_invocation_goes_to_the_failure_destination_after_its_retries(
    tmp_path: Path,
) -> None:
    # Given a function that fails every invocation, and a failure destination
    log = tmp_path / "requests.log"
    flaky = FunctionConfig("Flaky", "tests.e2e.flaky_handler.lambda_handler", max_concurrency=1)
    failures: list[AsyncFailure] = []
    env = {**os.environ, "FLAKY_LOG": str(log)}
    lambdas = LocalLambda(
        [flaky], env=env, async_retry_delays_s=(0.1, 0.1), on_failure=failures.append
    )
    try:
        # When it is invoked asynchronously
        lambdas.invoke_async("Flaky", json.dumps({"fail": 99}).encode())
        lambdas.wait_in_flight(0, timeout_s=_WAIT_S)
    finally:
        lambdas.close()

    # Then after three attempts the event went to the destination with Lambda's record
    assert len(log.read_text().splitlines()) == 3
    (failure,) = failures
    record = failure.destination_record()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"fail": 99}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "attempt 3 fails on purpose"


# --- concurrency: a reserved concurrency bounds the runs at once, the rest wait their turn


class Gate:
    """The test's end of gate_handler: who has started, and letting them finish one by one."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._changed = threading.Condition()
        self.started: list[Any] = []  # the event ids, in the order their invocations started
        self._held: deque[socket.socket] = deque()
        self.peak_running = 0  # the most invocations started and not yet let go at once
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._arrive, args=(conn,), daemon=True).start()

    def _arrive(self, conn: socket.socket) -> None:
        line = conn.makefile("rb").readline()
        with self._changed:
            self.started.append(json.loads(line)["id"])
            self._held.append(conn)
            self.peak_running = max(self.peak_running, len(self._held))
            self._changed.notify_all()

    def wait_started(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.started) >= count, _WAIT_S):
                raise TimeoutError(f"{len(self.started)} of {count} invocations started")

    def release_one(self) -> None:
        with self._changed:
            conn = self._held.popleft()
        conn.sendall(b"go\n")
        conn.close()

    def close(self) -> None:
        self._listener.close()
        with self._changed:
            held, self._held = list(self._held), deque()
        for conn in held:
            conn.close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate()
    yield opened
    opened.close()


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a LocalLambda's Invoke API on a free port; returns a boto3 Lambda client."""
    servers: list[WSGIServer] = []

    def start(lambdas: LocalLambda) -> Any:
        server = make_server("127.0.0.1", 0, lambdas, server_class=_ThreadingWSGIServer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{server.server_port}",
            region_name="us-east-1",
            aws_access_key_id="devstack",
            aws_secret_access_key="devstack",
            config=Config(retries={"total_max_attempts": 1}),  # a 429 is seen, not retried
        )

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_async_invocations_beyond_the_reserved_concurrency_wait_and_all_run_once(
    gate: Gate, serve: Any
) -> None:
    # Given a function with a reserved concurrency of 2 whose invocations run until let go
    gated = FunctionConfig("Gated", GATED, reserved_concurrency=2)
    lambdas = LocalLambda([gated], env={**os.environ, "GATE_ADDR": gate.address})
    client = serve(lambdas)
    try:
        # When six events are invoked asynchronously (the last over the Invoke API)
        for event_id in range(5):
            lambdas.invoke_async("Gated", json.dumps({"id": event_id}).encode())
        gate.wait_started(2)
        queued = client.invoke(
            FunctionName="Gated", InvocationType="Event", Payload=json.dumps({"id": 5})
        )

        # Then two run and four wait: accepted (202), not refused
        assert queued["StatusCode"] == 202
        stats = lambdas.stats("Gated")
        assert (stats.running, stats.queued) == (2, 4)
        # ... and a synchronous invocation beyond the reservation is throttled, as Lambda does
        with pytest.raises(client.exceptions.TooManyRequestsException) as throttled:
            client.invoke(FunctionName="Gated", Payload=json.dumps({"id": "sync"}))
        assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert throttled.value.response["Reason"] == (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        )

        # When the running ones finish one at a time, each freed slot starts the next event
        for finished in range(1, 7):
            gate.release_one()
            gate.wait_started(min(6, 2 + finished))
        lambdas.wait_in_flight(0, timeout_s=_WAIT_S)
        final = lambdas.stats("Gated")
    finally:
        lambdas.close()

    # Then every event ran exactly once, never more than two at a time
    assert Counter(gate.started) == Counter(range(6))
    assert gate.peak_running == 2
    assert (final.running, final.queued, final.peak_running) == (0, 0, 2)


class _Clock:
    """The seconds the local Lambda's queue measures event ages in, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_queued_event_older_than_the_maximum_event_age_is_dead_lettered_not_run(
    gate: Gate,
) -> None:
    # Given a function with one slot, held, and a maximum event age of a minute
    clock = _Clock()
    failures: list[AsyncFailure] = []
    gated = FunctionConfig("Gated", GATED, reserved_concurrency=1, max_event_age_s=60)
    lambdas = LocalLambda(
        [gated],
        env={**os.environ, "GATE_ADDR": gate.address},
        on_failure=failures.append,
        clock=clock,
    )
    try:
        lambdas.invoke_async("Gated", json.dumps({"id": "held"}).encode())
        gate.wait_started(1)
        # When a second event waits for the slot longer than the maximum event age
        lambdas.invoke_async("Gated", json.dumps({"id": "late"}).encode())
        assert lambdas.stats("Gated").queued == 1
        clock.now += 61
        gate.release_one()
        lambdas.wait_in_flight(0, timeout_s=_WAIT_S)
    finally:
        lambdas.close()

    # Then it never ran, and went to the failure destination as aged out
    assert gate.started == ["held"]
    (failure,) = failures
    record = failure.destination_record()
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"id": "late"}
    assert "responsePayload" not in record


def test_the_stack_limits_the_runner_as_the_template_does(stack: Stack) -> None:
    text = (ROOT / "template.yaml").read_text()
    parameters = yaml.safe_load(text[text.index("\nParameters:") : text.index("\nRules:")])
    defaults = {name: spec.get("Default") for name, spec in parameters["Parameters"].items()}
    assert defaults["RunnerConcurrency"] == RUNNER_CONCURRENCY_DEFAULT
    assert defaults["MaxEventAgeSeconds"] == MAX_EVENT_AGE_DEFAULT_S
    assert stack.lambdas is not None
    runner = stack.lambdas.function("RunnerFunction").config
    assert runner.reserved_concurrency == stack.runner_concurrency == RUNNER_CONCURRENCY_DEFAULT
    assert runner.max_event_age_s == MAX_EVENT_AGE_DEFAULT_S
    assert runner.max_retry_attempts == 2
