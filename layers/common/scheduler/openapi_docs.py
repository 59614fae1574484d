"""What the Schedules API's OpenAPI document says each operation may answer.

The routes (functions/api/app.py) pass these as Powertools `responses=`; Powertools writes the
models' JSON Schemas into the document. Every secured operation may answer 401, 403 and 422.
401 and 403 come from API Gateway itself, before the function runs, in its own shape
`{"message": ...}` (devstack/apigw.py answers the same locally); every other error is ErrorBody.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import content_types

from scheduler.models import ErrorBody, GatewayForbidden, GatewayUnauthorized

# The statuses of an operation that reads a JSON body, besides its own.
BODY_ERRORS = (400, 413, 415, 422, 503)


GATEWAY_ERRORS: dict[int, Any] = {
    401: {
        "description": "Unauthorized: no Authorization header, or an empty one (answered by API"
        " Gateway; the authorizer is not called)",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayUnauthorized}},
    },
    403: {
        "description": "Forbidden: the authorizer refused the token (invalid, expired, wrong"
        " audience or issuer; answered by API Gateway)",
        "content": {content_types.APPLICATION_JSON: {"model": GatewayForbidden}},
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


def ok(code: int, description: str, *error_codes: int) -> dict[int, Any]:
    return {code: {"description": description}, **errors(*error_codes)}


def limited(responses: dict[int, Any], description: str, *, retry_after: bool) -> dict[int, Any]:
    """`responses` plus the 429 of a per-owner limit (scheduler.limits)."""
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
