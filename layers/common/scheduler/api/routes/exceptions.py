"""ApiFunction's routes of a schedule's exceptions: skip or move one fire time, list, remove.

What each may answer: scheduler.api.openapi_docs; what is accepted:
scheduler.api.schedule_exceptions.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import (
    IdempotencyKey,
    ScheduleId,
    app,
    audit_context,
    caller_owner,
    idempotent_request,
)
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.models.schedule_exceptions import ExceptionCreate, ExceptionList, ScheduleException
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules

ExceptionId = Annotated[UUID, Path(description="exception id")]


def exception_service() -> ExceptionService:
    return ExceptionService(ExceptionServiceQueries.over(database()), EventBridgeSchedules())


@app.post(
    "/api/schedules/<schedule_id>/exceptions",
    status_code=201,
    operation_id="addScheduleException",
    summary="Skip one fire time, or move it to another instant",
    responses=docs.ADD_EXCEPTION,
)
def add_exception(
    schedule_id: ScheduleId, body: ExceptionCreate, idempotency_key: IdempotencyKey = None
) -> ScheduleException:
    idempotent = idempotent_request("addScheduleException", idempotency_key, body)
    return exception_service().add_exception(
        caller_owner(), schedule_id, body, idempotent, audit_context()
    )


@app.get(
    "/api/schedules/<schedule_id>/exceptions",
    operation_id="listScheduleExceptions",
    summary="A schedule's exceptions, by occurrence",
    responses=docs.LIST_EXCEPTIONS,
)
def list_exceptions(schedule_id: ScheduleId) -> ExceptionList:
    return exception_service().list_exceptions(caller_owner(), schedule_id)


@app.delete(
    "/api/schedules/<schedule_id>/exceptions/<exception_id>",
    operation_id="removeScheduleException",
    summary="Remove an exception: the occurrence fires as the cron says",
    responses=docs.REMOVE_EXCEPTION,
)
def remove_exception(schedule_id: ScheduleId, exception_id: ExceptionId) -> Response[None]:
    exception_service().remove_exception(caller_owner(), schedule_id, exception_id, audit_context())
    return Response(status_code=204, content_type=None, body=None)
