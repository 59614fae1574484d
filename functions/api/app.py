"""ApiFunction: the Schedules API (API Gateway HTTP API, payload v2.0) over the use cases.

The Lambda entry, thin: before routing, every request must carry verified claims (API Gateway's
authorizer put them in the event) and a body of at most 16 KiB (a workflow's create or change:
272 KiB); then the one resolver (scheduler.api.routes.routing.app) routes it to a route of
scheduler.api.routes, each module a group (schedules, bulk changes, runs, API keys, cron
preview, workflows, documentation) that parses and calls one use case, or to the dashboard's
files beside this module; errors are mapped to HTTP once, at the bottom.
"""

from __future__ import annotations

import base64
import binascii
import pathlib
import re
from functools import cache
from typing import Any

# Every schedule the API shows is described in words; scheduler.cron loads the describer only
# where one is made, so the API loads it here, at init (Lambda runs init with the whole CPU).
import cron_descriptor  # noqa: F401
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler.api import dashboard, http_errors
from scheduler.auth import key_service
from scheduler.auth.principal import Principal, credential_from_authorizer
from scheduler.errors import (
    DomainError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from scheduler.observability import capture_lambda_handler, logger
from scheduler.steps.definitions import MAX_DEFINITION_BYTES

# The routes register on the one resolver as their modules are imported, in this order: the
# order of the OpenAPI document's paths.
# isort: off
from scheduler.api.routes.routing import api_key_queries, app
from scheduler.api.routes import schedules, bulk, runs, keys, cron, workflows, audit  # noqa: F401
from scheduler.api.routes import accounting  # noqa: F401
from scheduler.api.routes import exceptions  # noqa: F401
from scheduler.api.routes import calendars  # noqa: F401
from scheduler.api.routes.docs import DOCS_ROUTE, TITLE, VERSION, enable_docs

# isort: on

# The dashboard's HTML, CSS and ES modules, shipped beside this module (functions/Makefile).
DASHBOARD_DIR = pathlib.Path(__file__).with_name("dashboard")


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


MAX_BODY_BYTES = 16 * 1024
# A workflow's definition may be as large as the runner loads (262,144 bytes), plus its name and
# the JSON around it: the body of a workflow's create or change may be that large.
MAX_WORKFLOW_BODY_BYTES = MAX_DEFINITION_BYTES + 16 * 1024
_WORKFLOW_WRITE = re.compile(r"/api/workflows(/[^/]+)?")
# A calendar's 1,000 date ranges are about 45 KB of JSON.
MAX_CALENDAR_BODY_BYTES = 64 * 1024
_CALENDAR_WRITE = re.compile(r"/api/calendars(/[^/]+)?")
# The API's documentation and the dashboard's files are public (no authorizer on these routes in
# template.yaml either): API Gateway route keys, `{file}` being one path segment.
PUBLIC_ROUTES = frozenset(
    {
        DOCS_ROUTE,
        ("GET", "/api/openapi.json"),
        ("GET", "/dashboard"),
        ("GET", "/dashboard/{file}"),
    }
)
_DASHBOARD_FILE = re.compile(r"/dashboard/[^/]+")
# What a read-only key may call: reads, and the cron preview (a POST that changes nothing).
# Anything else, a route added later included, is refused (403) before routing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = frozenset({"/api/cron/preview"})


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
            enable_docs()
        return None
    credential = credential_from_authorizer(event.get("requestContext", {}).get("authorizer"))
    principal = (
        credential
        if isinstance(credential, Principal)
        else key_service.authenticate(api_key_queries(), credential)
    )
    if method not in READ_METHODS and not (method == "POST" and path in READ_POSTS):
        principal.require_write()
    if not event.get("body"):
        return principal  # reads, deletes, run-now: no body to check
    limit = MAX_BODY_BYTES
    if method in ("POST", "PATCH") and _WORKFLOW_WRITE.fullmatch(path or ""):
        limit = MAX_WORKFLOW_BODY_BYTES
    elif method in ("POST", "PATCH") and _CALENDAR_WRITE.fullmatch(path or ""):
        limit = MAX_CALENDAR_BODY_BYTES
    if _body_size(event) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit // 1024} KiB")
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
