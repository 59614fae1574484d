"""Invoking RunnerFunction directly: run now (the API), backfill and hand-ons of waiting runs
(scheduler.run.queue), catch-up (the missed-fire check)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scheduler.clients import aws_client
from scheduler.config import get_settings
from scheduler.errors import RunnerUnavailable


def invoke_runner_async(payload: dict[str, Any], function_arn: str | None = None) -> None:
    """Queue one asynchronous RunnerFunction invocation (Lambda answers 202 once queued).
    `function_arn`: the runner's own, when it hands on (it cannot be told its own ARN)."""
    try:
        aws_client("lambda").invoke(
            FunctionName=function_arn or get_settings().runner_function_arn,
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise RunnerUnavailable(f"cannot invoke the runner: {exc}") from exc
