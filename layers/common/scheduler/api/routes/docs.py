"""ApiFunction's documentation (public): the OpenAPI document at /api/openapi.json and Swagger UI
at /api/docs, with the API's title, description and security schemes.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Response, content_types

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

from scheduler.api.routes.routing import app

DOCS_ROUTE = ("GET", "/api/docs")
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
def enable_docs() -> None:
    """Powertools' Swagger UI at /api/docs, registered by the first request for it."""
    app.enable_swagger(
        path=DOCS_ROUTE[1],
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=_security_schemes(),
        security=SECURITY_REQUIREMENTS,
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
