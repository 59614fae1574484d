"""The Powertools resolver behind the Schedules API, writing response models to JSON once.

Validation stays exactly as Powertools does it (requests and responses, the same errors). Only
the encoding changes: Powertools dumps a validated response model to Python dicts and lists,
which the resolver then encodes again with the json module, twice the work and most of the
framework's time for a page of 20 schedules. Here pydantic's Rust serializer writes the model
to JSON in one step (compact, UTF-8) and the resolver passes the string through untouched.

Request bodies are JSON or nothing: Powertools would also parse a form or multipart body (and
fail with a 500 on another type when the body is empty); here any Content-Type but JSON on a
route that reads a body is RequestUnsupportedContentType, which the app answers 415. A JSON
body nested deeper than Python's parser recurses (a 16 KiB body can nest 8,000 deep) is
MalformedRequest (400), not the RecursionError Powertools lets through.

This reaches into Powertools internals (two methods and two attributes, pinned at 3.37.0; the
API tests pin the behaviour), so an upgrade must keep them or drop this module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.middlewares import openapi_validation
from aws_lambda_powertools.event_handler.openapi.compat import ModelField
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType
from pydantic import BaseModel, TypeAdapter

from scheduler.errors import MalformedRequest


@cache
def _json_adapter(declared: Any) -> TypeAdapter[Any]:
    return TypeAdapter(declared)


class JsonRequestValidation(openapi_validation.OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a body only as JSON (or no Content-Type)."""

    def _get_body(self, app: Any) -> Any:
        content_type = app.current_event.headers.get("content-type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in ("", "application/json"):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("body",),
                        "msg": f"Unsupported content type: {media_type[:64]}",
                        "input": {},
                        "ctx": {},
                    }
                ],
            )
        try:
            return super()._get_body(app)
        except RecursionError as exc:
            raise MalformedRequest("the body is nested too deeply to read as JSON") from exc


class JsonResponseValidation(openapi_validation.OpenAPIResponseValidationMiddleware):
    """Powertools' response validation; a valid model body leaves it as a JSON string."""

    def _serialize_response_with_validation(
        self, *, field: ModelField, response_content: Any, **options: Any
    ) -> Any:
        value, errors = field.validate(value=response_content, loc=("response",))
        if errors or not isinstance(value, BaseModel):
            # The stock path raises the validation error the app maps, or encodes a non-model.
            return super()._serialize_response_with_validation(
                field=field, response_content=response_content, **options
            )
        # As the declared type: a subclass instance loses its extra fields, as before.
        return _json_adapter(field.type_).dump_json(value, by_alias=True).decode()


def http_api_resolver() -> APIGatewayHttpResolver:
    """An API Gateway HTTP API (payload v2) resolver validating requests and responses."""
    resolver = APIGatewayHttpResolver(enable_validation=True)
    # Read when each route builds its middleware stack, on its first request.
    resolver._request_validation_middleware = JsonRequestValidation()
    resolver._response_validation_middleware = JsonResponseValidation()
    return resolver
