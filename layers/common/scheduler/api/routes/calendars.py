"""ApiFunction's routes of the exclusion calendars (issue #26): create, list, read, change,
delete (refused while schedules use one, unless ?detach=true), and what one removes (preview).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from scheduler.api import openapi_docs as docs
from scheduler.api.calendars import CalendarService
from scheduler.api.routes.routing import CursorParam, Limit, app, audit_context, caller_owner
from scheduler.models.calendars import (
    Calendar,
    CalendarCreate,
    CalendarPage,
    CalendarPreview,
    CalendarUpdate,
)
from scheduler.store.db import database
from scheduler.store.pagination import DEFAULT_LIMIT

CalendarId = Annotated[UUID, Path(description="calendar id")]
_CALENDAR = docs.errors(404, 503)
_DETACH = (
    "true: remove the calendar from every schedule that uses it (an audit event each), in the"
    " delete's transaction; false (default): a calendar in use is not deleted (409 naming them)"
)


def calendar_service() -> CalendarService:
    return CalendarService.over(database())


@app.post(
    "/api/calendars",
    status_code=201,
    operation_id="createCalendar",
    summary="Create an exclusion calendar (named dates in a timezone)",
    responses={201: {"description": "Created"}, **docs.errors(*docs.BODY_ERRORS, 409, 429)},
)
def create_calendar(body: CalendarCreate) -> Calendar:
    return calendar_service().create(caller_owner(), body)


@app.get(
    "/api/calendars",
    operation_id="listCalendars",
    summary="List calendars, newest first",
    responses=docs.errors(400, 503),
)
def list_calendars(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> CalendarPage:
    return calendar_service().list(caller_owner(), limit=limit, cursor=cursor)


@app.get(
    "/api/calendars/<calendar_id>",
    operation_id="getCalendar",
    summary="A calendar with its dates and how many schedules use it",
    responses=_CALENDAR,
)
def get_calendar(calendar_id: CalendarId) -> Calendar:
    return calendar_service().get(caller_owner(), calendar_id)


@app.patch(
    "/api/calendars/<calendar_id>",
    operation_id="updateCalendar",
    summary="Change a calendar (its dates are replaced whole); applies to fires claimed after",
    responses=docs.errors(*docs.BODY_ERRORS, 404, 409),
)
def update_calendar(calendar_id: CalendarId, body: CalendarUpdate) -> Calendar:
    return calendar_service().update(caller_owner(), calendar_id, body)


@app.delete(
    "/api/calendars/<calendar_id>",
    operation_id="deleteCalendar",
    summary="Delete a calendar; one in use only with detach=true",
    responses={204: {"description": "Deleted", "content": {}}, **docs.errors(404, 409, 503)},
)
def delete_calendar(
    calendar_id: CalendarId,
    detach: Annotated[bool, Query(description=_DETACH)] = False,
) -> Response[None]:
    calendar_service().delete(caller_owner(), calendar_id, detach=detach, audit=audit_context())
    return Response(status_code=204, content_type=None, body=None)


@app.get(
    "/api/calendars/<calendar_id>/preview",
    operation_id="previewCalendar",
    summary="Per schedule using the calendar, the next fire times it removes",
    responses=_CALENDAR,
)
def preview_calendar(calendar_id: CalendarId) -> CalendarPreview:
    return calendar_service().preview(caller_owner(), calendar_id)
