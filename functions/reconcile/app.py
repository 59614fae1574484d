"""ReconcileFunction: repairs drift between Postgres and EventBridge, on a rate or on demand.

The scheduled event (or `sam remote invoke ReconcileFunction` with any event without `shard`)
coordinates a pass: it fails abandoned runs, runs the missed-fire check
(scheduler.policies.missed_fires), and starts RECONCILE_SHARDS shard invocations of this function,
or runs the only shard itself, then pings HEARTBEAT_URL if set
(scheduler.policies.heartbeat). A shard event ({"shard": "3", ...}) runs that shard; one that runs
out of time invokes this function again with where it stopped. A drain event ({"drain":
"pending"}, from a bulk pause or resume that left EventBridge updates pending) only drains them
(scheduler.sync.pending).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler import clients
from scheduler.config import get_settings
from scheduler.observability import capture_lambda_handler, logger, metrics
from scheduler.policies.periodic_pass import (
    PeriodicPassQueries,
    drain_invocation,
    run_invocation,
)
from scheduler.run.runner_client import invoke_runner_async
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.pending import DRAIN_EVENT_KEY, DRAIN_PENDING
from scheduler.sync.shards import ShardTask, invoke_shard

# boto3 at init rather than at the first AWS client: every pass lists EventBridge's schedules,
# and Lambda runs init with the whole CPU.
clients.load_aws_sdk()


@logger.inject_lambda_context
@capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    if event.get(DRAIN_EVENT_KEY) == DRAIN_PENDING:  # started by a bulk change's request
        return drain_invocation(
            PeriodicPassQueries.over(database()),
            EventBridgeSchedules(),
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    settings = get_settings()
    return run_invocation(
        PeriodicPassQueries.over(database()),
        EventBridgeSchedules(),
        ShardTask.from_event(event),
        shards=settings.reconcile_shards,
        start=partial(invoke_shard, context.invoked_function_arn),
        remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        hand_on=invoke_runner_async,
        heartbeat_url=settings.heartbeat_ping_url,
    )
