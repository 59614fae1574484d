"""ApiFunction's routes of bulk changes: pause or resume every schedule matching a filter.

What each may answer: scheduler.api.openapi_docs. The use case: scheduler.api.bulk_changes.
"""

from __future__ import annotations

from scheduler.api import openapi_docs as docs
from scheduler.api.bulk_changes import BulkChanges, BulkChangeServiceQueries
from scheduler.api.routes.routing import (
    IdempotencyKey,
    app,
    audit_context,
    caller_owner,
    idempotent_request,
)
from scheduler.config import get_settings
from scheduler.models.bulk_changes import BulkChangeResult, BulkPause, BulkResume
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.shards import invoke_drain

_DESCRIPTION = (
    " every schedule the filter matches (the list's filter: GET /api/schedules), all or none in"
    " one transaction, at most `limit`; a schedule already so is left as it is. The database"
    " is changed when this answers; EventBridge follows within the request for as many as fit"
    " its time, and within minutes for the rest (`eventbridgePending`). Safe to retry, with or"
    " without an Idempotency-Key. `dryRun` only counts."
)


def bulk_changes() -> BulkChanges:
    arn = get_settings().reconcile_function_arn
    return BulkChanges(
        BulkChangeServiceQueries.over(database()),
        EventBridgeSchedules(),
        start_drain=(lambda: invoke_drain(arn)) if arn else None,
    )


@app.post(
    "/api/schedules/bulk-pause",
    operation_id="bulkPauseSchedules",
    summary="Pause every schedule matching a filter, with a note",
    description="Pauses" + _DESCRIPTION + " A paused schedule does not run from the commit on.",
    responses=docs.BULK_CHANGE,
)
def bulk_pause(body: BulkPause, idempotency_key: IdempotencyKey = None) -> BulkChangeResult:
    idempotent = idempotent_request("bulkPauseSchedules", idempotency_key, body)
    return bulk_changes().pause(caller_owner(), body, idempotent, audit_context())


@app.post(
    "/api/schedules/bulk-resume",
    operation_id="bulkResumeSchedules",
    summary="Resume every paused schedule matching a filter",
    description="Resumes"
    + _DESCRIPTION
    + " A schedule whose stored cron or timezone can no longer be scheduled stays paused"
    " (`skipped`).",
    responses=docs.BULK_CHANGE,
)
def bulk_resume(body: BulkResume, idempotency_key: IdempotencyKey = None) -> BulkChangeResult:
    idempotent = idempotent_request("bulkResumeSchedules", idempotency_key, body)
    return bulk_changes().resume(caller_owner(), body, idempotent, audit_context())
