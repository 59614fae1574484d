"""What the local Lambda service (devstack.lambda_endpoint) speaks of: a function's configuration,
one invocation and its result, an Event invocation given up on (with the record its on-failure
destination receives), a function's running and queued counts, the errors of an invocation, and
functions' names and ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.apigw import ACCOUNT_ID

REGION = "us-east-1"
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


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def function_name_of(name_or_arn: str) -> str:
    """`name`, `name:qualifier`, `123:function:name` or a full ARN -> the bare name."""
    if ":function:" in name_or_arn:
        name_or_arn = name_or_arn.split(":function:", 1)[1]
    return name_or_arn.split(":", 1)[0]
