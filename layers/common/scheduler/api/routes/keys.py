"""ApiFunction's routes of the API keys (service credentials only): issue, list, read, revoke.

What each may answer, and the links between them: scheduler.api.openapi_docs.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import (
    CursorParam,
    KeyId,
    Limit,
    api_key_queries,
    app,
    audit_context,
    caller,
)
from scheduler.auth import key_service
from scheduler.models.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage
from scheduler.store.pagination import DEFAULT_LIMIT


@app.post(
    "/api/keys",
    status_code=201,
    operation_id="createApiKey",
    summary="Issue an API key (service credentials only); the key is shown once",
    responses=docs.CREATE_API_KEY,
)
def create_api_key(body: ApiKeyCreate) -> ApiKeyCreated:
    return key_service.create_key(api_key_queries(), caller(), body, audit_context())


@app.get(
    "/api/keys",
    operation_id="listApiKeys",
    summary="API keys, newest first, without their secrets (service credentials only)",
    responses=docs.LIST_API_KEYS,
)
def list_api_keys(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> ApiKeyPage:
    return key_service.list_keys(api_key_queries(), caller(), limit=limit, cursor=cursor)


@app.get(
    "/api/keys/<key_id>",
    operation_id="getApiKey",
    summary="One API key, without its secret (service credentials only)",
    responses=docs.GET_API_KEY,
)
def get_api_key(key_id: KeyId) -> ApiKey:
    return key_service.get_key(api_key_queries(), caller(), key_id)


@app.delete(
    "/api/keys/<key_id>",
    operation_id="revokeApiKey",
    summary="Revoke an API key and every key it issued; their next request is refused",
    responses=docs.REVOKE_API_KEY,
)
def revoke_api_key(key_id: KeyId) -> Response[None]:
    key_service.revoke_key(api_key_queries(), caller(), key_id, audit_context())
    return Response(status_code=204, content_type=None, body=None)
