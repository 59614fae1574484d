"""ReconcileFunction: repairs drift between Postgres and EventBridge, on a rate or on demand.

Invoked by an EventBridge rule (scheduled event) or `sam remote invoke ReconcileFunction`; the
event carries nothing it needs.
"""

from __future__ import annotations

from typing import Any

# Imported at init rather than by the first AWS client: every pass lists EventBridge's schedules,
# and Lambda runs init with the whole CPU.
import boto3  # noqa: F401
from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler import clients
from scheduler.eventbridge import EventBridgeSchedules
from scheduler.observability import capture_lambda_handler, logger, metrics
from scheduler.reconcile import reconcile


@logger.inject_lambda_context
@capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return reconcile(clients.store(), EventBridgeSchedules())
