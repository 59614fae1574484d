"""ApiFunction's routes of a schedule's runs: the run history, run now, backfill.

What each may answer, and the links between them: scheduler.api.openapi_docs.
"""

from __future__ import annotations

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
    schedule_service,
)
from scheduler.models.runs import BackfillAccepted, BackfillRequest, RunAccepted, RunPage
from scheduler.store.pagination import DEFAULT_LIMIT


@app.get(
    "/api/schedules/<schedule_id>/runs",
    operation_id="listRuns",
    summary="Run history, newest first",
    responses=docs.LIST_RUNS,
)
def list_runs(
    schedule_id: ScheduleId, limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None
) -> RunPage:
    return schedule_service().list_runs(caller_owner(), schedule_id, limit=limit, cursor=cursor)


@app.post(
    "/api/schedules/<schedule_id>/run",
    status_code=202,
    operation_id="runScheduleNow",
    summary="Run now (asynchronously, through the runner)",
    responses=docs.RUN_SCHEDULE_NOW,
)
def run_schedule_now(
    schedule_id: ScheduleId, idempotency_key: IdempotencyKey = None
) -> RunAccepted:
    idempotent = idempotent_request("runScheduleNow", idempotency_key, None)
    return schedule_service().run_now(caller_owner(), schedule_id, idempotent, audit_context())


@app.post(
    "/api/schedules/<schedule_id>/backfill",
    status_code=202,
    operation_id="backfillSchedule",
    summary="Backfill: run the schedule's fire times of an interval, oldest first, one at a time",
    responses=docs.BACKFILL_SCHEDULE,
)
def backfill_schedule(
    schedule_id: ScheduleId, body: BackfillRequest, idempotency_key: IdempotencyKey = None
) -> BackfillAccepted:
    idempotent = idempotent_request("backfillSchedule", idempotency_key, body)
    return schedule_service().backfill(
        caller_owner(), schedule_id, body, idempotent, audit_context()
    )
