"""The local stack's process environment: what the handlers read (DATABASE_URL,
AWS_ENDPOINT_URL_<SERVICE>, the issuer, Powertools' settings), set at start and restored at stop,
and the product's log routed to the console's file while the stack runs."""

from __future__ import annotations

import logging
import os

from devstack.apigw import ACCOUNT_ID
from devstack.demo import ISSUER
from devstack.lambda_invocations import function_arn
from devstack.local_functions import DLQ_NAME, MAX_EVENT_AGE_DEFAULT_S, REGION, RUNNER_FUNCTION

log = logging.getLogger("devstack")


class StackEnvironment:
    """Stack's environment handling; the values it uses are Stack's attributes."""

    def _set_environment(self, secret: str) -> None:
        assert self._lambda_server is not None
        env = {
            "DATABASE_URL": self.database_url,
            # Anything not listed goes to moto too: the local stack never reaches real AWS.
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ENDPOINT_URL_SCHEDULER": self.aws_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.aws_url,
            "AWS_ENDPOINT_URL_SQS": self.aws_url,
            "AWS_ENDPOINT_URL_LAMBDA": self._lambda_server.url,
            "AWS_ACCESS_KEY_ID": "devstack",
            "AWS_SECRET_ACCESS_KEY": "devstack",
            "AWS_SESSION_TOKEN": None,
            "AWS_SECURITY_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "JWT_SECRET": secret,
            "JWT_ISSUER": ISSUER,
            "JWKS_URL": None,
            "RUNNER_FUNCTION_ARN": function_arn(RUNNER_FUNCTION),
            "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/scheduler-invoke-runner",
            "SCHEDULE_DLQ_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{DLQ_NAME}",
            "SCHEDULE_MAX_EVENT_AGE_S": os.environ.get(
                "SCHEDULE_MAX_EVENT_AGE_S", str(MAX_EVENT_AGE_DEFAULT_S)
            ),
            "ALLOW_PRIVATE_HTTP_TARGETS": "true",
            "POWERTOOLS_SERVICE_NAME": "workflow-scheduler",
            "POWERTOOLS_METRICS_NAMESPACE": "WorkflowScheduler",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # EMF metrics are JSON blobs on stdout: noise on a terminal, nothing reads them here.
            "POWERTOOLS_METRICS_DISABLED": "true",
            # The template's LogLevel default: the records go to a file, the terminal shows
            # only those at WARNING or above (devstack.console).
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"),
        }
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        from scheduler import clients

        clients.reset()

    def _route_product_log(self) -> None:
        """The product code this process runs (the start-up reconcile, the retention pass)
        logs as the functions do: to the console, not straight to stdout."""
        from scheduler.observability import logger as product_logger

        handler = product_logger.registered_handler
        if isinstance(handler, logging.StreamHandler) and self.console is not None:
            self._product_log_stream = handler.setStream(self.console.record_stream("stack"))

    def _restore_product_log(self) -> None:
        from scheduler.observability import logger as product_logger

        handler = product_logger.registered_handler
        if isinstance(handler, logging.StreamHandler) and self._product_log_stream is not None:
            handler.setStream(self._product_log_stream)
        self._product_log_stream = None

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
