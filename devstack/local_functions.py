"""The functions of the local stack as template.yaml configures them (handlers, concurrency, async
retries, event age), and the Scheduler API client of the local engine."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from devstack.lambda_invocations import FunctionConfig

API_FUNCTION = "ApiFunction"
RUNNER_FUNCTION = "RunnerFunction"
RECONCILE_FUNCTION = "ReconcileFunction"
REGION = "us-east-1"
DLQ_NAME = "workflow-scheduler-schedule-dlq"  # the template's ScheduleDeadLetterQueue
# The template's defaults: RunnerConcurrency (RUNNER_CONCURRENCY overrides it here) and
# MaxEventAgeSeconds (SCHEDULE_MAX_EVENT_AGE_S), so the local stack queues fires as AWS does.
RUNNER_CONCURRENCY_DEFAULT = 10
MAX_EVENT_AGE_DEFAULT_S = 21_600


def runner_concurrency_from_environment() -> int:
    """RUNNER_CONCURRENCY, else the template's default; a positive number either way."""
    text = os.environ.get("RUNNER_CONCURRENCY") or str(RUNNER_CONCURRENCY_DEFAULT)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"RUNNER_CONCURRENCY must be a whole number >= 1, not {text!r}")
    return value


def template_functions(runner_concurrency: int, max_event_age_s: float) -> list[FunctionConfig]:
    """The functions as template.yaml configures them (concurrency, async retries, age)."""
    functions = [
        # No reservation is made for the API here (the template's ApiConcurrency is 10): the
        # local bound is this machine's, and a request beyond it waits instead of failing.
        FunctionConfig(API_FUNCTION, "functions.api.app.lambda_handler", timeout_s=29),
        FunctionConfig(
            RUNNER_FUNCTION,
            "functions.runner.app.lambda_handler",
            timeout_s=300,
            reserved_concurrency=runner_concurrency,
            max_event_age_s=max_event_age_s,
            max_retry_attempts=2,
        ),
    ]
    if importlib.util.find_spec("functions.reconcile.app") is not None:
        functions.append(
            FunctionConfig(
                RECONCILE_FUNCTION,
                "functions.reconcile.app.lambda_handler",
                timeout_s=300,
                reserved_concurrency=1,
                max_event_age_s=900,
                max_retry_attempts=0,
            )
        )
    return functions


def engine_scheduler_client() -> Any:
    """A Scheduler API client for the engine's frequent listings, made cheap to parse: the
    timestamps stay epoch numbers (the engine compares them and converts only what changed)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    parsers = session.get_component("response_parser_factory")
    parsers.set_parser_defaults(timestamp_parser=lambda value: value)
    config = Config(retries={"mode": "standard"}, parameter_validation=False)
    return boto3.Session(botocore_session=session).client("scheduler", config=config)
