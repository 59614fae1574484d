"""Process-wide clients, created lazily on first use (so a cold start pays only for what it uses).

boto3 itself is imported by the first AWS client made: the API's reads never make one, and
boto3 is a fifth of the API's cold import.

Every AWS client honours the standard `AWS_ENDPOINT_URL_<SERVICE>` variables, which is all
that points the code at moto locally. Tests call `reset()` after changing the environment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from scheduler.config import get_settings

# A workflow's `lambda` step runs the user's function: never retried by the SDK (a retry would
# run its side effects twice) and waiting as long as a Lambda can run (15 minutes) at most.
STEP_LAMBDA_MAX_WAIT_S = 900
# A workflow's secret is read within the run's time left, and 5 s at most per attempt.
SECRET_READ_MAX_WAIT_S = 5


def load_aws_sdk() -> None:
    """Import boto3 now, at a handler's init, for a function whose every invocation calls AWS:
    Lambda runs init with the whole CPU, the first invocation may not have it."""
    import boto3  # noqa: F401


@cache
def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Adaptive mode retries throttling with client-side rate limiting, not just backoff. Short
    # timeouts keep even the retries of a slow call well inside ApiFunction's 30 s limit, so an
    # API write can still undo its half when a dependency stalls.
    config = Config(
        retries={"mode": "adaptive", "max_attempts": 3}, connect_timeout=2, read_timeout=5
    )
    return boto3.client(service, config=config)


def step_lambda_client(wait_s: float = STEP_LAMBDA_MAX_WAIT_S) -> Any:
    """The Lambda client of workflow steps, waiting `wait_s` at most for the function's answer.

    botocore's timeouts are per client, not per call: one client per wait, in whole seconds
    rounded up (so a wait may pass `wait_s` by under a second, plus the connect).
    """
    return _step_lambda_client(max(1, math.ceil(min(wait_s, STEP_LAMBDA_MAX_WAIT_S))))


@lru_cache(maxsize=4)  # the runs of a warm runner mostly start their steps with the same time left
def _step_lambda_client(wait_s: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=min(2, wait_s),
        read_timeout=wait_s,
    )
    return boto3.client("lambda", config=config)


def secrets_client(wait_s: float = SECRET_READ_MAX_WAIT_S) -> Any:
    """The Secrets Manager client of workflow secrets: one attempt, waiting `wait_s` at most
    (whole seconds rounded up, as for `step_lambda_client`); workflow_secrets retries."""
    return _secrets_client(max(1, math.ceil(min(wait_s, SECRET_READ_MAX_WAIT_S))))


@lru_cache(maxsize=SECRET_READ_MAX_WAIT_S)
def _secrets_client(wait_s: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1}, connect_timeout=min(2, wait_s), read_timeout=wait_s
    )
    return boto3.client("secretsmanager", config=config)


@cache
def events_client() -> Any:
    """The EventBridge client of alerts: 2 attempts (a throttle is retried once), 1 s to
    connect and 2 s to read each, so a publish takes alerts.MAX_PUBLISH_S at most."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=2
    )
    return boto3.client("events", config=config)


# What other layers keep per process (the database connection, the secrets cache), each
# forgotten by the hook its module registered with on_reset.
_RESET_HOOKS: list[Callable[[], None]] = []


def on_reset(forget: Callable[[], None]) -> None:
    """Have `reset()` call `forget`: for a module above this one that keeps a process-wide
    object (the platform imports no layer above it, so they come to it)."""
    _RESET_HOOKS.append(forget)


def reset() -> None:
    """Forget every client and the settings (tests change the environment between cases)."""
    for forget in _RESET_HOOKS:
        forget()
    for cached in (
        aws_client,
        _step_lambda_client,
        _secrets_client,
        events_client,
        get_settings,
    ):
        cached.cache_clear()
