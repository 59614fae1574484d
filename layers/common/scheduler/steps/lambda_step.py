"""The workflow `lambda` step: its model, its executor, and the synchronous Lambda invocation
it makes (the only Lambda API call)."""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from pydantic import Field

from scheduler import clients
from scheduler.errors import StepFailed
from scheduler.steps.engine import RunContext, StepModel, register_step

_MAX_RESULT_CHARS = 2000


class LambdaStep(StepModel):
    type: Literal["lambda"]
    function_arn: str = Field(
        alias="functionArn", pattern=r"^arn:aws[a-z-]*:lambda:", max_length=256
    )
    payload: Any = None


@register_step("lambda", LambdaStep)
def execute_lambda_step(step: LambdaStep, run: RunContext) -> dict[str, Any]:
    """Invoke the function and wait, never past the run's deadline; the event is the run, the
    schedule (id, externalId, input, scheduledTime) and the step's own payload, as defined (no
    placeholder is replaced in it: the function reads the values from `schedule`)."""
    wait_s = run.remaining_s()
    if wait_s <= 0:
        raise StepFailed("not started: the run's time ran out")
    payload = {
        "run": run.as_payload(),
        "schedule": run.schedule_payload(),
        "payload": step.payload,
    }
    return invoke_function(step.function_arn, payload, wait_s=wait_s)


def invoke_function(function_arn: str, payload: dict[str, Any], *, wait_s: float) -> dict[str, Any]:
    """Invoke `function_arn` and wait for it, `wait_s` at most; StepFailed if the call or the
    function fails, or the wait is up."""
    client = clients.step_lambda_client(wait_s)
    try:
        response = client.invoke(
            FunctionName=function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload, default=str).encode(),
        )
        body = response["Payload"].read().decode("utf-8", errors="replace")[:_MAX_RESULT_CHARS]
    except ReadTimeoutError as exc:  # Invoke cannot be cancelled: the function may run on
        raise StepFailed(
            f"lambda invoke of {function_arn}: timed out after {client.meta.config.read_timeout}s"
            " (the function may still be running)"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise StepFailed(f"lambda invoke of {function_arn} failed: {code}") from exc
    except BotoCoreError as exc:  # its class only: a ParamValidationError quotes the payload
        raise StepFailed(f"lambda invoke of {function_arn} failed: {type(exc).__name__}") from None
    if response.get("FunctionError"):
        raise StepFailed(f"function {function_arn} failed: {body}")
    return {"statusCode": response.get("StatusCode"), "response": body}
