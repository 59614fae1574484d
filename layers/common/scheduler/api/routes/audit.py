"""ApiFunction's routes of the audit log: a schedule's events, and every event (service
credentials only).

What each may answer: scheduler.api.openapi_docs.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AwareDatetime

from scheduler.api import openapi_docs as docs
from scheduler.api.audit_events import list_audit_events, list_schedule_events
from scheduler.api.routes.routing import CursorParam, Limit, ScheduleId, app, caller, caller_owner
from scheduler.models.audit import AuditEventPage, AuditSubjectType
from scheduler.store.audit import AuditFilter, AuditQueries
from scheduler.store.db import database
from scheduler.store.pagination import DEFAULT_LIMIT
from scheduler.store.schedules import ScheduleQueries


@app.get(
    "/api/schedules/<schedule_id>/events",
    operation_id="listScheduleEvents",
    summary="The schedule's audit log: who changed what and when, newest first",
    responses=docs.LIST_SCHEDULE_EVENTS,
)
def list_schedule_events_route(
    schedule_id: ScheduleId, limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None
) -> AuditEventPage:
    db = database()
    return list_schedule_events(
        AuditQueries(db),
        ScheduleQueries(db),
        caller_owner(),
        schedule_id,
        limit=limit,
        cursor=cursor,
    )


@app.get(
    "/api/audit-events",
    operation_id="listAuditEvents",
    summary="Every audit event, newest first (service credentials only)",
    responses=docs.LIST_AUDIT_EVENTS,
)
def list_audit_events_route(
    subject_type: Annotated[AuditSubjectType | None, Query(alias="subjectType")] = None,
    subject_id: Annotated[UUID | None, Query(alias="subjectId")] = None,
    actor: Annotated[
        str | None,
        Query(max_length=200, description='e.g. "user:<id>", "api_key:<id>", "scheduler"'),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="events at or after this instant")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="events before this instant")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> AuditEventPage:
    filters = AuditFilter(
        subject_type=subject_type, subject_id=subject_id, actor=actor, since=since, until=until
    )
    return list_audit_events(
        AuditQueries(database()), caller(), filters, limit=limit, cursor=cursor
    )
