"""RunnerFunction: EventBridge Scheduler (or the API's run-now) invokes it once per fire time.

Malformed input is logged and dropped. A dependency failure before the workflow starts raises,
so Lambda's async retry delivers the fire again; after that the handler never raises.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler import clients
from scheduler.observability import capture_lambda_handler, logger, metrics
from scheduler.run.event import parse_event
from scheduler.run.runner import run_fire
from scheduler.run.runner_client import invoke_runner_async

# boto3 at init rather than at the first AWS client: every fire takes its DynamoDB lease,
# and Lambda runs init with the whole CPU.
clients.load_aws_sdk()


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fire = parse_event(event)
    if fire is None:
        return {"outcome": "dropped"}
    report = run_fire(
        fire,
        remaining_time_s=context.get_remaining_time_in_millis() / 1000,
        # the same for each of Lambda's retries of this invocation: they resume its claim
        invocation_id=context.aws_request_id,
        # the workflow's next waiting run is handed to this same function
        hand_on=partial(invoke_runner_async, function_arn=context.invoked_function_arn),
    )
    return {
        "outcome": report.outcome,
        "runId": None if report.run_id is None else str(report.run_id),
        # why it failed, or was skipped or ignored: for whoever reads the response (the local
        # stack's run lines; in AWS an async invocation's response goes nowhere)
        "reason": report.reason,
    }
