"""What the Schedules API's OpenAPI document says each operation may answer.

The routes (functions/api/app.py) pass these as Powertools `responses=`; Powertools writes the
models' JSON Schemas into the document. Every secured operation may answer 401 and 422.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import content_types

from scheduler.models import ErrorBody

# The statuses of an operation that reads a JSON body, besides its own.
BODY_ERRORS = (400, 413, 415, 422, 503)


def errors(*codes: int) -> dict[int, Any]:
    return {
        code: {
            "description": HTTPStatus(code).phrase,
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
        for code in (401, 422, *codes)
    }


def ok(code: int, description: str, *error_codes: int) -> dict[int, Any]:
    return {code: {"description": description}, **errors(*error_codes)}
