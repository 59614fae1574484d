"""Logger, Metrics and Tracer: created once per process, shared by every module."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE.
logger = Logger()
metrics = Metrics(namespace="WorkflowScheduler")
tracer = Tracer()
