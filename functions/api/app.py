"""ApiFunction: the Schedules API (API Gateway HTTP API, payload v2.0) over the use cases.

Routes parse and call one use case; errors are mapped to HTTP once, at the bottom. Before
routing, every request must carry verified claims (API Gateway's authorizer put them in the
event) and a body of at most 16 KiB.
"""

from __future__ import annotations

import base64
import binascii
import pathlib
import re
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

# Every schedule the API shows is described in words; scheduler.cron loads the describer only
# where one is made, so the API loads it here, at init (Lambda runs init with the whole CPU).
import cron_descriptor  # noqa: F401
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler.api import dashboard, http_errors
from scheduler.api import openapi_docs as docs
from scheduler.api.resolver import http_api_resolver
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries, preview_cron
from scheduler.auth import key_service
from scheduler.auth.principal import Principal, credential_from_authorizer
from scheduler.errors import (
    DomainError,
    MalformedRequest,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from scheduler.models.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage
from scheduler.models.runs import BackfillAccepted, BackfillRequest, RunAccepted, RunPage
from scheduler.models.schedules import (
    CronPreview,
    CronPreviewRequest,
    ScheduleCreate,
    ScheduleDetail,
    SchedulePage,
    ScheduleUpdate,
    ScheduleView,
    Workflow,
    WorkflowPage,
)
from scheduler.observability import capture_lambda_handler, logger
from scheduler.run.runner_client import invoke_runner_async
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.db import database
from scheduler.store.pagination import DEFAULT_LIMIT, MAX_LIMIT
from scheduler.sync.eventbridge import EventBridgeSchedules

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

MAX_BODY_BYTES = 16 * 1024
# The API's documentation and the dashboard's files are public (no authorizer on these routes in
# template.yaml either): API Gateway route keys, `{file}` being one path segment.
DOCS_ROUTE = ("GET", "/api/docs")
PUBLIC_ROUTES = frozenset(
    {
        DOCS_ROUTE,
        ("GET", "/api/openapi.json"),
        ("GET", "/dashboard"),
        ("GET", "/dashboard/{file}"),
    }
)
_DASHBOARD_FILE = re.compile(r"/dashboard/[^/]+")
# The dashboard's HTML, CSS and ES modules, shipped beside this module (functions/Makefile).
DASHBOARD_DIR = pathlib.Path(__file__).with_name("dashboard")
# What a read-only key may call: reads, and the cron preview (a POST that changes nothing).
# Anything else, a route added later included, is refused (403) before routing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = frozenset({"/api/cron/preview"})
TITLE = "Workflow Scheduler API"
VERSION = "1.0.0"
DESCRIPTION = """Cron schedules for the workflows your app keeps in Supabase.

**Authentication.** Send `Authorization: Bearer <credential>` on every request:
- a signed-in user's Supabase access token (`bearerAuth`): the user's own workflows only;
- a backend's API key `wsk_...` (`apiKeyAuth`): every tenant, or one owner's workflows, read-only
  or not. The first key comes from `make api-key` (straight in the database); service keys issue
  more with `POST /api/keys`. Revoking one (`DELETE /api/keys/{key_id}`) takes effect at its next
  request.

Supabase retires the legacy `service_role` JWT at the end of 2026 (its new `sb_secret_...` keys
work only at Supabase's own gateway): a `service_role` token still works here while a project has
one, but is deprecated; move backends to API keys."""
# Either credential, on every secured operation.
SECURITY_REQUIREMENTS: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]

app = http_api_resolver()


# Powertools' OpenAPI models cost ~100 ms of import (compiled) and only the documentation and
# an unknown route's answer use them: they are loaded there, not at every cold start.
@cache
def _security_schemes() -> dict[str, SecurityScheme]:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {
        "bearerAuth": HTTPBearer(bearerFormat="JWT", description="Supabase access token"),
        "apiKeyAuth": HTTPBearer(
            bearerFormat="wsk_",
            description="API key (`Authorization: Bearer wsk_...`) for backends: POST /api/keys,"
            " or `make api-key` for the first one. Supabase's legacy service_role JWT still"
            " works as bearerAuth while a project has it, but is deprecated.",
        ),
    }


@cache
def _enable_docs() -> None:
    """Powertools' Swagger UI at /api/docs, registered by the first request for it."""
    app.enable_swagger(
        path=DOCS_ROUTE[1],
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=_security_schemes(),
        security=SECURITY_REQUIREMENTS,
    )


ScheduleId = Annotated[UUID, Path(description="schedule id")]
KeyId = Annotated[UUID, Path(description="API key id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CursorParam = Annotated[str | None, Query(max_length=512, description="nextCursor of a page")]


def _service() -> ScheduleService:
    return ScheduleService(
        ScheduleServiceQueries.over(database()), EventBridgeSchedules(), invoke_runner_async
    )


def _principal() -> Principal:
    principal: Principal | None = app.context.get("principal")
    if principal is None:  # only public routes run without one, and they never ask
        raise Unauthorized("no verified claims")
    return principal


def _owner() -> UUID | None:
    """Whose rows the caller sees and changes: exactly those of its token's or key's scope."""
    return _principal().owner


# --- routes (what each may answer, and the links between them: scheduler.api.openapi_docs)


@app.post(
    "/api/schedules",
    status_code=201,
    operation_id="createSchedule",
    summary="Create a schedule",
    responses=docs.CREATE_SCHEDULE,
)
def create_schedule(body: ScheduleCreate) -> ScheduleView:
    return _service().create_schedule(_owner(), body)


@app.get(
    "/api/schedules",
    operation_id="listSchedules",
    summary="List schedules, newest first",
    responses=docs.LIST_SCHEDULES,
)
def list_schedules(
    workflow_id: Annotated[UUID | None, Query(alias="workflowId")] = None,
    enabled: Annotated[bool | None, Query()] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> SchedulePage:
    return _service().list_schedules(
        _owner(), workflow_id=workflow_id, enabled=enabled, limit=limit, cursor=cursor
    )


@app.get(
    "/api/schedules/<schedule_id>",
    operation_id="getSchedule",
    summary="A schedule with its last run and next fire times",
    responses=docs.GET_SCHEDULE,
)
def get_schedule(schedule_id: ScheduleId) -> ScheduleDetail:
    return _service().get_schedule(_owner(), schedule_id)


@app.patch(
    "/api/schedules/<schedule_id>",
    operation_id="updateSchedule",
    summary="Change cron, timezone and/or enabled",
    responses=docs.UPDATE_SCHEDULE,
)
def update_schedule(schedule_id: ScheduleId, body: ScheduleUpdate) -> ScheduleView:
    return _service().update_schedule(_owner(), schedule_id, body)


@app.delete(
    "/api/schedules/<schedule_id>",
    operation_id="deleteSchedule",
    summary="Delete a schedule and its EventBridge schedule(s)",
    responses=docs.DELETE_SCHEDULE,
)
def delete_schedule(schedule_id: ScheduleId) -> Response[None]:
    _service().delete_schedule(_owner(), schedule_id)
    return Response(status_code=204, content_type=None, body=None)


@app.get(
    "/api/schedules/<schedule_id>/runs",
    operation_id="listRuns",
    summary="Run history, newest first",
    responses=docs.LIST_RUNS,
)
def list_runs(
    schedule_id: ScheduleId, limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None
) -> RunPage:
    return _service().list_runs(_owner(), schedule_id, limit=limit, cursor=cursor)


@app.post(
    "/api/schedules/<schedule_id>/run",
    status_code=202,
    operation_id="runScheduleNow",
    summary="Run now (asynchronously, through the runner)",
    responses=docs.RUN_SCHEDULE_NOW,
)
def run_schedule_now(schedule_id: ScheduleId) -> RunAccepted:
    return _service().run_now(_owner(), schedule_id)


@app.post(
    "/api/schedules/<schedule_id>/backfill",
    status_code=202,
    operation_id="backfillSchedule",
    summary="Backfill: run the schedule's fire times of an interval, oldest first, one at a time",
    responses=docs.BACKFILL_SCHEDULE,
)
def backfill_schedule(schedule_id: ScheduleId, body: BackfillRequest) -> BackfillAccepted:
    return _service().backfill(_owner(), schedule_id, body)


@app.post(
    "/api/keys",
    status_code=201,
    operation_id="createApiKey",
    summary="Issue an API key (service credentials only); the key is shown once",
    responses=docs.CREATE_API_KEY,
)
def create_api_key(body: ApiKeyCreate) -> ApiKeyCreated:
    return key_service.create_key(ApiKeyQueries(database()), _principal(), body)


@app.get(
    "/api/keys",
    operation_id="listApiKeys",
    summary="API keys, newest first, without their secrets (service credentials only)",
    responses=docs.LIST_API_KEYS,
)
def list_api_keys(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> ApiKeyPage:
    return key_service.list_keys(
        ApiKeyQueries(database()), _principal(), limit=limit, cursor=cursor
    )


@app.get(
    "/api/keys/<key_id>",
    operation_id="getApiKey",
    summary="One API key, without its secret (service credentials only)",
    responses=docs.GET_API_KEY,
)
def get_api_key(key_id: KeyId) -> ApiKey:
    return key_service.get_key(ApiKeyQueries(database()), _principal(), key_id)


@app.delete(
    "/api/keys/<key_id>",
    operation_id="revokeApiKey",
    summary="Revoke an API key and every key it issued; their next request is refused",
    responses=docs.REVOKE_API_KEY,
)
def revoke_api_key(key_id: KeyId) -> Response[None]:
    key_service.revoke_key(ApiKeyQueries(database()), _principal(), key_id)
    return Response(status_code=204, content_type=None, body=None)


@app.post(
    "/api/cron/preview",
    operation_id="previewCron",
    summary="Validate and explain a cron expression",
    responses=docs.PREVIEW_CRON,
)
def preview(body: CronPreviewRequest) -> CronPreview:
    return preview_cron(body, datetime.now(UTC))


@app.get(
    "/api/workflows",
    operation_id="listWorkflows",
    summary="The caller's workflows",
    responses=docs.LIST_WORKFLOWS,
)
def list_workflows(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> WorkflowPage:
    return _service().list_workflows(_owner(), limit=limit, cursor=cursor)


@app.get(
    "/api/workflows/<workflow_id>",
    operation_id="getWorkflow",
    summary="One workflow with its state",
    responses=docs.GET_WORKFLOW,
)
def get_workflow(workflow_id: Annotated[UUID, Path()]) -> Workflow:
    return _service().get_workflow(_owner(), workflow_id)


@app.get("/dashboard", include_in_schema=False)
def dashboard_page() -> Response[str]:
    return _dashboard_response(dashboard.page(DASHBOARD_DIR))


@app.get("/dashboard/<file_name>", include_in_schema=False)
def dashboard_asset(file_name: str) -> Response[str]:
    return _dashboard_response(dashboard.asset(DASHBOARD_DIR, file_name))


def _dashboard_response(found: dashboard.DashboardFile) -> Response[str]:
    return Response(
        status_code=200, content_type=found.content_type, body=found.body, headers=found.headers()
    )


@app.get("/api/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=_security_schemes(),
        security=SECURITY_REQUIREMENTS,
    )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document)


# --- the single error mapping (scheduler.api.http_errors), registered with the resolver


@app.exception_handler(DomainError)
def domain_error(exc: DomainError) -> Response[Any]:
    return http_errors.for_domain_error(exc)


@app.exception_handler(RequestValidationError)
def validation_error(exc: RequestValidationError) -> Response[Any]:
    return http_errors.for_validation_errors(exc, exc.errors())


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[Any]:
    return http_errors.unsupported_media_type()  # even with no body: the route reads only JSON


@cache
def _route_patterns() -> http_errors.RoutePatterns:
    return http_errors.route_patterns(
        app.get_openapi_schema(title=TITLE, version=VERSION).paths or {}
    )


@app.not_found
def route_not_found(exc: NotFoundError) -> Response[Any]:
    return http_errors.for_unknown_route(app.current_event.path, _route_patterns())


@app.exception_handler(Exception)
def unexpected_error(exc: Exception) -> Response[Any]:
    return http_errors.internal_error(exc)


# --- entry point


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body))
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8"))


def _admit(event: dict[str, Any]) -> Principal | None:
    """What holds before routing: verified claims or a valid key (API Gateway guarantees the
    first; keys are checked here), a read-only key only reading, a body within limits."""
    method = event.get("requestContext", {}).get("http", {}).get("method")
    path = event.get("rawPath")
    if (method, path) in PUBLIC_ROUTES or (
        method == "GET" and _DASHBOARD_FILE.fullmatch(path or "")
    ):
        if (method, path) == DOCS_ROUTE:
            _enable_docs()
        return None
    credential = credential_from_authorizer(event.get("requestContext", {}).get("authorizer"))
    principal = (
        credential
        if isinstance(credential, Principal)
        else key_service.authenticate(ApiKeyQueries(database()), credential)
    )
    if method not in READ_METHODS and not (method == "POST" and path in READ_POSTS):
        principal.require_write()
    if not event.get("body"):
        return principal  # reads, deletes, run-now: no body to check
    if _body_size(event) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(event["body"]).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("the body is not UTF-8 JSON") from exc
    return principal


@logger.inject_lambda_context
# The response is the caller's data, and serializing it into every trace costs on each request.
@capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # What correlation_paths.API_GATEWAY_HTTP names, read directly: the JMESPath lookup costs
    # more than the rest of the logger's per-request work.
    logger.set_correlation_id(event.get("requestContext", {}).get("requestId"))
    try:
        principal = _admit(event)
    except Exception as exc:  # rejected before routing, as API Gateway would
        response = domain_error(exc) if isinstance(exc, DomainError) else unexpected_error(exc)
        return {
            "statusCode": response.status_code,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": response.body,
            "isBase64Encoded": False,
        }
    app.append_context(principal=principal)
    return app.resolve(event, context)
