"""What the Schedules API's OpenAPI document says each operation may answer, and where to go next.

The routes (functions/api/app.py) pass these as Powertools `responses=`; Powertools writes the
models' JSON Schemas into the document. Every secured operation may answer 401, 403 and 422.
401 and 403 come from API Gateway itself, before the function runs, in its own shape
`{"message": ...}` (devstack/apigw.py answers the same locally); the API answers a refused API
key with that same 401, and a credential that may not do something with ErrorBody's 403. Every
other error is ErrorBody.

Success responses carry OpenAPI links: which operation takes the id this answer holds (a new
schedule's `id` → get, change, delete, run it, its runs; a workflow's `id` → a schedule for
it; a workflow just created or changed → change or delete it too). Client generators and
stateful testers (schemathesis) follow them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import content_types

from scheduler.models.errors import ErrorBody, ForbiddenBody, GatewayUnauthorized
from scheduler.models.schedule_views import ScheduleView

# The statuses of an operation that reads a JSON body, besides its own.
BODY_ERRORS = (400, 413, 415, 422, 503)

GATEWAY_ERRORS: dict[int, Any] = {
    401: {
        "description": "Unauthorized: no Authorization header or an empty one (answered by API"
        " Gateway; the authorizer is not called), or an API key that is malformed, unknown,"
        " revoked or expired (answered by the API in the same shape)",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayUnauthorized}},
    },
    403: {
        "description": "Forbidden: the authorizer refused the token (invalid, expired, wrong"
        " audience or issuer; answered by API Gateway as {message}), or the credential may not"
        " do this (a read-only API key writing, key management without a service credential,"
        " a workflow for another owner than the credential's own;"
        " answered by the API as ErrorBody, code forbidden)",
        "content": {content_types.APPLICATION_JSON: {"model": ForbiddenBody}},
    },
}


def errors(*codes: int) -> dict[int, Any]:
    return {
        **GATEWAY_ERRORS,
        **{
            code: {
                "description": HTTPStatus(code).phrase,
                "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
            }
            for code in (422, *codes)
        },
    }


def ok(
    code: int, description: str, *error_codes: int, links: dict[str, Any] | None = None
) -> dict[int, Any]:
    success: dict[str, Any] = {"description": description}
    if links:
        success["links"] = links
    return {code: success, **errors(*error_codes)}


def limited(responses: dict[int, Any], description: str, *, retry_after: bool) -> dict[int, Any]:
    """`responses` plus the 429 of a per-owner limit (scheduler.policies.owner_limits)."""
    too_many: dict[str, Any] = {
        "description": description,
        "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
    }
    if retry_after:
        too_many["headers"] = {
            "Retry-After": {
                "description": "seconds until the owner may make the next such request",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return {**responses, 429: too_many}


# --- links: the operations that take an id from an answer (`pointer` into its body)

_ON_A_SCHEDULE = {
    "GetSchedule": "getSchedule",
    "UpdateSchedule": "updateSchedule",
    "DeleteSchedule": "deleteSchedule",
    "RunScheduleNow": "runScheduleNow",
    "ListRuns": "listRuns",
}


def _schedule_links(pointer: str, *, but: str | None = None) -> dict[str, Any]:
    return {
        name: {"operationId": operation, "parameters": {"schedule_id": f"$response.body#{pointer}"}}
        for name, operation in _ON_A_SCHEDULE.items()
        if operation != but
    }


def _workflow_links(pointer: str, *, but: str | None = None) -> dict[str, Any]:
    value = f"$response.body#{pointer}"
    links = {
        "GetWorkflow": {"operationId": "getWorkflow", "parameters": {"workflow_id": value}},
        # the rest of the new schedule's body is the client's
        "CreateSchedule": {"operationId": "createSchedule", "requestBody": {"workflowId": value}},
        "ListSchedules": {"operationId": "listSchedules", "parameters": {"workflowId": value}},
    }
    return {name: link for name, link in links.items() if link["operationId"] != but}


# --- each operation's answers

CREATE_SCHEDULE = limited(
    ok(
        201,
        "Created",
        *BODY_ERRORS,
        links={
            **_schedule_links("/id"),
            **_workflow_links("/workflowId", but="createSchedule"),
        },
    ),
    "The workflow's owner has MAX_SCHEDULES_PER_OWNER schedules (default 1000)",
    retry_after=False,
)
LIST_SCHEDULES = ok(
    200, "OK", 400, 422, 503, links=_schedule_links("/items/0/id", but="runScheduleNow")
)
GET_SCHEDULE = ok(
    200,
    "OK",
    404,
    503,
    links={
        **_schedule_links("/id", but="getSchedule"),
        **_workflow_links("/workflowId", but="listSchedules"),
    },
)
UPDATE_SCHEDULE = ok(200, "OK", 404, *BODY_ERRORS, links=_schedule_links("/id"))
# 200: updated, or already as the body says (the same PUT again); 201: created.
UPSERT_SCHEDULE = limited(
    {
        **ok(200, "Updated, or already as the body says", 409, *BODY_ERRORS),
        201: {
            "description": "Created",
            "content": {content_types.APPLICATION_JSON: {"model": ScheduleView}},
            "links": _schedule_links("/id"),
        },
    },
    "Creating it: the workflow's owner has MAX_SCHEDULES_PER_OWNER schedules (default 1000)",
    retry_after=False,
)
DELETE_SCHEDULE = {204: {"description": "Deleted", "content": {}}, **errors(404, 503)}
BULK_CHANGE = ok(200, "OK: the database is changed (or, dryRun, would be)", *BODY_ERRORS)
LIST_RUNS = ok(200, "OK", 400, 404, 422, 503)
LIST_SCHEDULE_EVENTS = ok(200, "OK", 400, 404, 422, 503)
GET_SCHEDULE_ACCOUNTING = ok(200, "OK", 400, 404, 422, 503)
LIST_AUDIT_EVENTS = ok(200, "OK", 400, 422, 503)
RUN_SCHEDULE_NOW = limited(
    ok(202, "Accepted", 404, 409, 503, links=_schedule_links("/scheduleId")),
    "The workflow's owner used up its run-now allowance: RUN_NOW_PER_MINUTE (default 30) at"
    " once, refilled at that many a minute; Retry-After says when the next one is due",
    retry_after=True,
)
BACKFILL_SCHEDULE = limited(
    ok(202, "Accepted", 400, 404, 409, 413, 415, 422, 503, links=_schedule_links("/scheduleId")),
    "The workflow's owner used up its backfill allowance: BACKFILL_PER_MINUTE (default 6) at"
    " once, refilled at that many a minute (Retry-After says when the next one is due); or"
    " MAX_ACTIVE_BACKFILLS_PER_OWNER (default 2) other workflows of the owner are backfilling"
    " (no Retry-After: wait for one of them to finish)",
    retry_after=True,
)
# 503 too: an API key is checked against the database before any route runs.
PREVIEW_CRON = ok(200, "OK", 400, 413, 415, 422, 503)
LIST_WORKFLOWS = ok(200, "OK", 400, 422, 503, links=_workflow_links("/items/0/id"))
GET_WORKFLOW = ok(200, "OK", 404, 503, links=_workflow_links("/id", but="getWorkflow"))


def _workflow_write_links(pointer: str) -> dict[str, Any]:
    """A workflow's id (of one just created or changed) → change or delete it."""
    value = {"workflow_id": f"$response.body#{pointer}"}
    return {
        "UpdateWorkflow": {"operationId": "updateWorkflow", "parameters": value},
        "DeleteWorkflow": {"operationId": "deleteWorkflow", "parameters": value},
    }


CREATE_WORKFLOW = ok(
    201, "Created", *BODY_ERRORS, links={**_workflow_links("/id"), **_workflow_write_links("/id")}
)
UPDATE_WORKFLOW = ok(
    200,
    "OK",
    404,
    *BODY_ERRORS,
    links={**_workflow_links("/id"), **_workflow_write_links("/id")},
)
DELETE_WORKFLOW = {
    204: {"description": "Deleted (with its schedules, given ?schedules=delete)", "content": {}},
    **errors(404, 503),
    409: {
        "description": "The workflow has schedules and ?schedules=delete was not given, or"
        " more than 50 of them (delete some first)",
        "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
    },
}


_ON_A_KEY = {"GetApiKey": "getApiKey", "RevokeApiKey": "revokeApiKey"}


def _key_links(pointer: str, *, but: str | None = None) -> dict[str, Any]:
    return {
        name: {"operationId": operation, "parameters": {"key_id": f"$response.body#{pointer}"}}
        for name, operation in _ON_A_KEY.items()
        if operation != but
    }


CREATE_API_KEY = ok(201, "Created; `key` is shown this once", *BODY_ERRORS, links=_key_links("/id"))
LIST_API_KEYS = ok(200, "OK", 400, 422, 503, links=_key_links("/items/0/id"))
GET_API_KEY = ok(200, "OK", 404, 503, links=_key_links("/id", but="getApiKey"))
REVOKE_API_KEY = {204: {"description": "Revoked", "content": {}}, **errors(404, 503)}

ADD_EXCEPTION = ok(201, "Created: the occurrence is skipped or moved", 404, 409, *BODY_ERRORS)
LIST_EXCEPTIONS = ok(200, "OK", 404, 503)
REMOVE_EXCEPTION = {204: {"description": "Removed", "content": {}}, **errors(404, 409, 503)}
