"""Logger, Metrics and tracing: created once per process, shared by every module."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE.
logger = Logger()
metrics = Metrics(namespace="WorkflowScheduler")


def tracing_enabled() -> bool:
    """Powertools' own rule for its Tracer: on inside Lambda (its task root is set), unless
    POWERTOOLS_TRACE_DISABLED says otherwise or a local emulator runs the code."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    emulated = os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV)
    return bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV)) and not emulated


@cache
def tracer() -> Tracer:
    """Powertools' Tracer. Made on first use only: making one loads the X-Ray SDK (~150 ms
    compiled, most of it the botocore client its sampler builds) even when tracing is off."""
    from aws_lambda_powertools import Tracer

    return Tracer()


def capture_lambda_handler(
    handler: Callable[..., Any] | None = None, *, capture_response: bool = True
) -> Any:
    """`Tracer.capture_lambda_handler` where traces are sent; elsewhere the handler unchanged,
    so a process that does not trace never loads the X-Ray SDK. Decided at import, as the
    Tracer decides it when made."""
    if handler is None:
        return lambda function: capture_lambda_handler(function, capture_response=capture_response)
    if not tracing_enabled():
        return handler
    return tracer().capture_lambda_handler(handler, capture_response=capture_response)


class _NoSecretValues(logging.Filter):
    """Drops botocore's DEBUG log of a response body holding a secret's value: at DEBUG it
    logs every body, and a log level an operator sets must not put a secret in the logs (the
    database URL, the JWT secret, a workflow's secrets: every Secrets Manager read)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        message = record.getMessage()
        return "SecretString" not in message and "SecretBinary" not in message


logging.getLogger("botocore.parsers").addFilter(_NoSecretValues())
