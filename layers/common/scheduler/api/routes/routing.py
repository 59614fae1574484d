"""The one resolver ApiFunction's routes register on, and what every route asks of a request:
the caller (its principal, whose rows it sees), the store and the schedules' use cases to work
on (made here, in one place), and the parameters the routes share.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from scheduler.api.resolver import http_api_resolver
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
from scheduler.api.workflows import WorkflowService
from scheduler.auth.principal import Principal
from scheduler.errors import Unauthorized
from scheduler.policies.idempotency import HEADER, IdempotentRequest
from scheduler.run.runner_client import invoke_runner_async
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.audit import AuditContext
from scheduler.store.db import database
from scheduler.store.pagination import MAX_LIMIT
from scheduler.sync.eventbridge import EventBridgeSchedules

app = http_api_resolver()

ScheduleId = Annotated[UUID, Path(description="schedule id")]
WorkflowId = Annotated[UUID, Path(description="workflow id")]
KeyId = Annotated[UUID, Path(description="API key id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CursorParam = Annotated[str | None, Query(max_length=512, description="nextCursor of a page")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        description=(
            "Makes a retry safe: a request with a key answered before (by this caller, in the"
            " last 24 hours) returns that answer and does nothing again; the same key with a"
            " different request is a 422 (docs: API, Idempotency-Key)."
        ),
    ),
]


def api_key_queries() -> ApiKeyQueries:
    return ApiKeyQueries(database())


def schedule_service() -> ScheduleService:
    return ScheduleService(
        ScheduleServiceQueries.over(database()), EventBridgeSchedules(), invoke_runner_async
    )


def workflow_service() -> WorkflowService:
    return WorkflowService(schedule_service())


def caller() -> Principal:
    principal: Principal | None = app.context.get("principal")
    if principal is None:  # only public routes run without one, and they never ask
        raise Unauthorized("no verified claims")
    return principal


def idempotent_request(operation: str, key: str | None, body: Any) -> IdempotentRequest | None:
    """The request's Idempotency-Key record, scoped to the caller (None without the header)."""
    return IdempotentRequest.of(caller().actor, key, operation, app.current_event.path, body)


def audit_context() -> AuditContext:
    """Who makes this request's change, and the request's id (API Gateway's), for its audit
    event."""
    request_id = app.current_event.request_context.request_id or None
    return AuditContext(caller().actor, request_id)


def repeated_query_values(name: str) -> list[str]:
    """Every value of a query parameter, in order, exactly as sent (commas included)."""
    raw = app.current_event.raw_query_string or ""
    return [value for key, value in parse_qsl(raw, keep_blank_values=True) if key == name]


def caller_owner() -> UUID | None:
    """Whose rows the caller sees and changes: exactly those of its token's or key's scope."""
    return caller().owner
