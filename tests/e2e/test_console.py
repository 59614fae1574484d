"""E2E: what a function writes in its local Lambda container reaches the stack's console: whole
into the JSON log file, and as one readable line per warning, error and run on the terminal."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.console import Console
from devstack.lambda_endpoint import LocalLambda
from devstack.lambda_invocations import FunctionConfig

_WAIT_S = 120.0
_CLOCK = r"\d\d:\d\d:\d\d"


@pytest.fixture(autouse=True)
def no_schedules_left() -> None:
    """These tests run no stack: the shared one's cleanup does not apply."""
    return None


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_functions_records_go_to_the_file_and_its_warnings_to_one_line_each(
    tmp_path: Path,
) -> None:
    # Given the console of a stack, told of every invocation of a function that logs a lot
    said: list[str] = []
    console = Console(tmp_path / "logs", said.append, runner_function="RunnerFunction")
    noisy = FunctionConfig("Noisy", "tests.e2e.noisy_handler.lambda_handler")
    lambdas = LocalLambda([noisy], env=dict(os.environ), on_invocation=console.invocation)
    try:
        # When it is invoked and fails
        result = lambdas.invoke("Noisy", json.dumps({"marker": "m-1"}).encode())
    finally:
        lambdas.close()
        console.close()
    assert result.function_error == "Unhandled"

    # Then the terminal got one line per warning or error, the exception named, no traceback
    assert [re.sub(_CLOCK, "T", line) for line in said] == [
        "T  WARNING  Noisy  something looks off: first line of the error",
        "T  ERROR  Noisy  a step crashed (ZeroDivisionError)",
        "T  WARNING  Noisy  a library warns",
        "T  ERROR  Noisy  RuntimeError: the handler fails on purpose",
    ]
    # and the file every record, whole: the INFO one, the traceback, the plain text, the failure
    records = _records(console.lambda_log)
    by_message = {record["message"]: record for record in records}
    assert by_message["starting"]["marker"] == "m-1"
    assert by_message["starting"]["function_name"] == "Noisy"
    assert "Traceback" in by_message["a step crashed"]["exception"]
    assert by_message["something looks off"]["error"] == "first line of the error\nsecond line"
    assert by_message["printed text"]["stream"] == "stdout"
    assert by_message["text on stderr"]["stream"] == "stderr"
    assert by_message["a library warns"]["level"] == "WARNING"
    failure = next(r for r in records if r["message"].startswith("the invocation failed"))
    assert failure["errorType"] == "RuntimeError"
    assert failure["stackTrace"]  # the traceback Lambda logs, kept in the file


def test_a_run_that_keeps_failing_says_each_attempt_then_that_it_was_missed(
    tmp_path: Path,
) -> None:
    # Given a "runner" that fails every invocation, its failures told to the console too
    said: list[str] = []
    console = Console(
        tmp_path / "logs", said.append, runner_function="Flaky", workflow_name=lambda _id: "wf"
    )
    flaky = FunctionConfig("Flaky", "tests.e2e.flaky_handler.lambda_handler", max_concurrency=1)
    env = {**os.environ, "FLAKY_LOG": str(tmp_path / "requests.log")}
    lambdas = LocalLambda(
        [flaky],
        env=env,
        async_retry_delays_s=(0.1, 0.1),
        on_failure=console.gave_up,
        on_invocation=console.invocation,
    )
    event = {
        "fail": 99,
        "scheduleId": "7359d378-092b-4a68-aa1b-0dcaa6672908",
        "workflowId": "afeb4258-938e-4f05-bb04-cda4100b6fcf",
    }
    try:
        # When a fire of it is invoked asynchronously
        lambdas.invoke_async("Flaky", json.dumps(event).encode())
        lambdas.wait_in_flight(0, timeout_s=_WAIT_S)
    finally:
        lambdas.close()
        console.close()

    # Then each attempt is one line, and so is Lambda giving up
    shown = [re.sub(r"\d+ ms", "N ms", re.sub(_CLOCK, "T", line)) for line in said]
    assert shown == [
        "T  run  7359d378  wf  error  N ms  RuntimeError: attempt 1 fails on purpose"
        " (attempt 1, Lambda retries it)",
        "T  run  7359d378  wf  error  N ms  RuntimeError: attempt 2 fails on purpose"
        " (attempt 2, Lambda retries it)",
        "T  run  7359d378  wf  error  N ms  RuntimeError: attempt 3 fails on purpose",
        "T  run  7359d378  wf  missed  RetriesExhausted after 3 attempt(s)",
    ]
