"""Invoking RunnerFunction directly (run now): the one boto3 Lambda call of the API."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scheduler.clients import aws_client
from scheduler.config import get_settings
from scheduler.errors import RunnerUnavailable


def invoke_runner_async(payload: dict[str, Any]) -> None:
    """Queue one asynchronous RunnerFunction invocation (Lambda answers 202 once queued)."""
    try:
        aws_client("lambda").invoke(
            FunctionName=get_settings().runner_function_arn,
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise RunnerUnavailable(f"cannot invoke the runner: {exc}") from exc
