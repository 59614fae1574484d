"""ApiFunction's routes of the schedules themselves: create, list, read, change, delete.

What each may answer, and the links between them: scheduler.api.openapi_docs.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import (
    CursorParam,
    IdempotencyKey,
    Limit,
    ScheduleId,
    app,
    audit_context,
    caller_owner,
    idempotent_request,
    repeated_query_values,
    schedule_service,
)
from scheduler.api.schedule_upsert import upsert_schedule
from scheduler.models.schedule_filters import (
    LABEL_FILTER_DESCRIPTION,
    LAST_RUN_STATUS_DESCRIPTION,
    Q_DESCRIPTION,
    LastRunStatus,
    schedule_filter_from_query,
)
from scheduler.models.schedule_identity import EXTERNAL_ID_DESCRIPTION, EXTERNAL_ID_PATTERN
from scheduler.models.schedule_views import ScheduleDetail, SchedulePage, ScheduleView
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate, ScheduleUpsert
from scheduler.store.pagination import DEFAULT_LIMIT

# Its length and charset are checked by the use case, whose 422 names it (a path parameter
# Powertools refuses is a 404 here: scheduler.api.http_errors).
ExternalId = Annotated[str, Path(description=EXTERNAL_ID_DESCRIPTION)]


@app.post(
    "/api/schedules",
    status_code=201,
    operation_id="createSchedule",
    summary="Create a schedule",
    responses=docs.CREATE_SCHEDULE,
)
def create_schedule(body: ScheduleCreate, idempotency_key: IdempotencyKey = None) -> ScheduleView:
    idempotent = idempotent_request("createSchedule", idempotency_key, body)
    return schedule_service().create_schedule(caller_owner(), body, idempotent, audit_context())


@app.get(
    "/api/schedules",
    operation_id="listSchedules",
    summary="List schedules, newest first",
    responses=docs.LIST_SCHEDULES,
)
def list_schedules(
    workflow_id: Annotated[
        UUID | None, Query(alias="workflowId", description="only the schedules of this workflow")
    ] = None,
    enabled: Annotated[
        bool | None, Query(description="only the enabled (true) or the paused (false) schedules")
    ] = None,
    external_id: Annotated[
        str | None,
        Query(
            alias="externalId",
            pattern=EXTERNAL_ID_PATTERN,
            description="only the schedule with this externalId",
        ),
    ] = None,
    label: Annotated[list[str] | None, Query(description=LABEL_FILTER_DESCRIPTION)] = None,
    q: Annotated[str | None, Query(description=Q_DESCRIPTION)] = None,
    last_run_status: Annotated[
        LastRunStatus | None, Query(alias="lastRunStatus", description=LAST_RUN_STATUS_DESCRIPTION)
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> SchedulePage:
    selected = schedule_filter_from_query(
        workflow_id=workflow_id,
        enabled=enabled,
        external_id=external_id,
        # read from the raw query string: the HTTP API event joins repeated parameters with
        # commas, and Powertools splits a list at every comma, a label value's own included
        labels=repeated_query_values("label") if label is not None else None,
        q=q,
        last_run_status=last_run_status,
    )
    return schedule_service().list_schedules(caller_owner(), selected, limit=limit, cursor=cursor)


@app.get(
    "/api/schedules/<schedule_id>",
    operation_id="getSchedule",
    summary="A schedule with its last run and next fire times",
    responses=docs.GET_SCHEDULE,
)
def get_schedule(schedule_id: ScheduleId) -> ScheduleDetail:
    return schedule_service().get_schedule(caller_owner(), schedule_id)


@app.patch(
    "/api/schedules/<schedule_id>",
    operation_id="updateSchedule",
    summary="Change any of a schedule's fields (the ones sent)",
    responses=docs.UPDATE_SCHEDULE,
)
def update_schedule(schedule_id: ScheduleId, body: ScheduleUpdate) -> ScheduleView:
    return schedule_service().update_schedule(caller_owner(), schedule_id, body, audit_context())


@app.delete(
    "/api/schedules/<schedule_id>",
    operation_id="deleteSchedule",
    summary="Delete a schedule and its EventBridge schedule(s)",
    responses=docs.DELETE_SCHEDULE,
)
def delete_schedule(schedule_id: ScheduleId) -> Response[None]:
    schedule_service().delete_schedule(caller_owner(), schedule_id, audit_context())
    return Response(status_code=204, content_type=None, body=None)


@app.put(
    "/api/schedules/by-external-id/<external_id>",
    operation_id="upsertScheduleByExternalId",
    summary="Create or update the schedule of an externalId (the body is the whole schedule)",
    description=(
        "Creates the schedule (201) when no schedule of the workflow's owner has this"
        " externalId, else makes it exactly the body (200): a field the body leaves out takes"
        " its default, as in createSchedule. Idempotent: the same PUT again changes nothing and"
        " answers 200 with the same body. The workflow of a schedule cannot change (409)."
    ),
    responses=docs.UPSERT_SCHEDULE,
)
def upsert_schedule_by_external_id(
    external_id: ExternalId, body: ScheduleUpsert
) -> Response[ScheduleView]:
    view, created = upsert_schedule(
        schedule_service(), caller_owner(), external_id, body, audit_context()
    )
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=view,
    )
