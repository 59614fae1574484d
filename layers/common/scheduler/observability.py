"""Logger, Metrics and Tracer: created once per process, shared by every module."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE.
logger = Logger()
metrics = Metrics(namespace="WorkflowScheduler")
tracer = Tracer()


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
