"""E2E: the local Lambda service answers the Invoke API as AWS Lambda does (boto3 as the client)."""

from __future__ import annotations

import json

import boto3
import pytest

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
