"""ApiFunction's routes of the exclusion calendars (issue #26): create, list, read, change,
delete (refused while schedules use one, unless ?detach=true), and what one removes (preview).
"""

from __future__ import annotations

from typing import Annotated, Any
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
_ON_A_CALENDAR = {
    "GetCalendar": "getCalendar",
    "UpdateCalendar": "updateCalendar",
    "DeleteCalendar": "deleteCalendar",
    "PreviewCalendar": "previewCalendar",
}


def _calendar_links(pointer: str, *, but: str | None = None) -> dict[str, Any]:
    """The operations that take a calendar's id from an answer (`pointer` into its body)."""
    return {
        name: {"operationId": operation, "parameters": {"calendar_id": f"$response.body#{pointer}"}}
        for name, operation in _ON_A_CALENDAR.items()
        if operation != but
    }


_CREATE = docs.limited(
    docs.ok(201, "Created", *docs.BODY_ERRORS, 409, links=_calendar_links("/id")),
    "The owner has 100 calendars",
    retry_after=False,
)
_LIST = docs.ok(200, "OK", 400, 503, links=_calendar_links("/items/0/id"))
_GET = docs.ok(200, "OK", 404, 503, links=_calendar_links("/id", but="getCalendar"))
_UPDATE = docs.ok(200, "OK", 404, 409, *docs.BODY_ERRORS, links=_calendar_links("/id"))
_PREVIEW = docs.ok(200, "OK", 404, 503)
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
    responses=_CREATE,
)
def create_calendar(body: CalendarCreate) -> Calendar:
    return calendar_service().create(caller_owner(), body)


@app.get(
    "/api/calendars",
    operation_id="listCalendars",
    summary="List calendars, newest first",
    responses=_LIST,
)
def list_calendars(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> CalendarPage:
    return calendar_service().list(caller_owner(), limit=limit, cursor=cursor)


@app.get(
    "/api/calendars/<calendar_id>",
    operation_id="getCalendar",
    summary="A calendar with its dates and how many schedules use it",
    responses=_GET,
)
def get_calendar(calendar_id: CalendarId) -> Calendar:
    return calendar_service().get(caller_owner(), calendar_id)


@app.patch(
    "/api/calendars/<calendar_id>",
    operation_id="updateCalendar",
    summary="Change a calendar (its dates are replaced whole); applies to fires claimed after",
    responses=_UPDATE,
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
    responses=_PREVIEW,
)
def preview_calendar(calendar_id: CalendarId) -> CalendarPreview:
    return calendar_service().preview(caller_owner(), calendar_id)
