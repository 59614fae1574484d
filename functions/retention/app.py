"""RetentionFunction: deletes run history older than RUN_HISTORY_DAYS, Idempotency-Key records
older than a day (scheduler.policies.idempotency), audit events older than
AUDIT_RETENTION_DAYS and schedules' exceptions whose time passed more than RUN_HISTORY_DAYS ago,
on a rate or on demand.

Invoked by an EventBridge rule (scheduled event) or `sam remote invoke RetentionFunction`; the
event carries nothing it needs. A pass stops well before the function's timeout and the next
one continues.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler.config import get_settings
from scheduler.observability import capture_lambda_handler, logger, metrics
from scheduler.policies.idempotency import delete_expired_keys
from scheduler.policies.retention import (
    delete_expired_audit_events,
    delete_expired_exceptions,
    delete_expired_runs,
    pass_budget_s,
)
from scheduler.store.audit import AuditQueries
from scheduler.store.db import database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.history import HistoryQueries
from scheduler.store.idempotency import IdempotencyQueries


@logger.inject_lambda_context
@capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int | bool]:
    summary = delete_expired_runs(
        HistoryQueries(database()),
        keep_days=get_settings().run_history_days,
        budget_s=pass_budget_s(context.get_remaining_time_in_millis()),
    )
    # After the runs, in what is left of the same budget (a batch each while it lasts).
    summary["idempotency_keys_deleted"] = delete_expired_keys(
        IdempotencyQueries(database()),
        now=datetime.now(UTC),
        more=lambda: pass_budget_s(context.get_remaining_time_in_millis()) > 0,
    )
    summary["audit_events_deleted"] = delete_expired_audit_events(
        AuditQueries(database()),
        keep_days=get_settings().audit_retention_days,
        now=datetime.now(UTC),
        more=lambda: pass_budget_s(context.get_remaining_time_in_millis()) > 0,
    )
    summary["exceptions_deleted"] = delete_expired_exceptions(
        ExceptionQueries(database()),
        keep_days=get_settings().run_history_days,
        now=datetime.now(UTC),
        more=lambda: pass_budget_s(context.get_remaining_time_in_millis()) > 0,
    )
    return summary
