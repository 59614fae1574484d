"""E2E: the local Lambda service answers the Invoke API as AWS Lambda does (boto3 as the client)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from devstack.lambda_endpoint import FunctionConfig, LocalLambda
from devstack.stack import Stack


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
