"""The Schedules API's one mapping of failures to HTTP answers: `{"error": {code, message}}`.

Domain errors, request validation errors, unknown routes and unexpected exceptions each become
one response here; functions/api/app.py registers these as the resolver's handlers. No answer
carries a stack trace; an unexpected exception is logged with the request id and answered 500.

The one exception to the shape is 401: behind API Gateway a request without verified claims
never reaches the function (the gateway answers `{"message": "Unauthorized"}` itself), so the
function's own 401, for an event that somehow lacks them, is that same body: clients see one
401 shape, the one the OpenAPI document describes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from scheduler.errors import (
    Conflict,
    DependencyUnavailable,
    DomainError,
    Forbidden,
    InvalidCursor,
    InvalidInput,
    LimitExceeded,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from scheduler.observability import logger

# Seconds a client should wait before retrying a 503 (a backend that failed).
UNAVAILABLE_RETRY_AFTER_S = 5


def error_response(
    status: HTTPStatus, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": error}),
        headers=(
            {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)}
            if status == HTTPStatus.SERVICE_UNAVAILABLE
            else None
        ),
    )


_STATUS_OF: list[tuple[type[DomainError], HTTPStatus]] = [
    (Unauthorized, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (PayloadTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (MalformedRequest, HTTPStatus.BAD_REQUEST),
    (InvalidCursor, HTTPStatus.BAD_REQUEST),
    (UnsupportedMediaType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    (NotFound, HTTPStatus.NOT_FOUND),
    (InvalidInput, HTTPStatus.UNPROCESSABLE_ENTITY),
    (Conflict, HTTPStatus.CONFLICT),
    (LimitExceeded, HTTPStatus.TOO_MANY_REQUESTS),
    (DependencyUnavailable, HTTPStatus.SERVICE_UNAVAILABLE),
]


def for_domain_error(exc: DomainError) -> Response[Any]:
    status = next((s for kind, s in _STATUS_OF if isinstance(exc, kind)), None)
    if status is None:
        return internal_error(exc)
    if status == HTTPStatus.UNAUTHORIZED:
        return Response(
            status_code=status.value,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps({"message": "Unauthorized"}),
        )
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        logger.warning("dependency unavailable", extra={"error": str(exc)})
        return error_response(status, exc.code, "a backend is unavailable; nothing was changed")
    response = error_response(status, exc.code, str(exc), getattr(exc, "details", None))
    if isinstance(exc, LimitExceeded) and exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(exc.retry_after_s)  # only where waiting helps
    return response


def for_validation_errors(exc: Exception, errors: Iterable[Mapping[str, Any]]) -> Response[Any]:
    """Powertools' request (or response) validation errors of `exc` as one answer."""
    errors = list(errors)
    if any(error.get("loc", ("",))[0] == "response" for error in errors):
        return internal_error(exc)  # our own output broke its model: a bug, not bad input
    if any(error.get("type") == "unsupported_content_type" for error in errors):
        return unsupported_media_type()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(HTTPStatus.BAD_REQUEST, "malformed_json", "the body is not JSON")
    if any(error.get("loc", ("",))[0] == "path" for error in errors):
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "not found")
    details = [
        {"loc": list(error.get("loc", ())), "msg": _readable(error), "type": error.get("type")}
        for error in errors
    ]
    message = _naming_the_field(details[0]) if details else "the request is not valid"
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_input", message, details)


# What pydantic puts before the message of a ValueError or an assert in a validator: the reason
# is ours, the prefix only says how it was raised.
_LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")
# pydantic's own words for these, in the API's (the field is named in front of each); a
# message of ours with the same type stays as written.
_PLAIN_WORDS = {
    ("missing", "Field required"): "required",
    ("extra_forbidden", "Extra inputs are not permitted"): "unknown field (not one of this "
    "request's fields)",
    (
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    ): "the body must be a JSON object",
}


def _readable(error: Mapping[str, Any]) -> str:
    """One validation error's message without the validation library's prefixes."""
    message = str(error.get("msg"))
    message = _PLAIN_WORDS.get((str(error.get("type")), message), message)
    for prefix in _LIBRARY_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _naming_the_field(detail: Mapping[str, Any]) -> str:
    """The first problem in words, led by the field it is about (`cron: ...`), when it is one
    field's: `loc` is where (body, query), then the field's JSON name and any index in it."""
    field = ".".join(str(part) for part in detail["loc"][1:])
    message = str(detail["msg"])
    if not field or message.startswith((f"{field}:", f"{field} ")):
        return message  # the body as a whole, or a message that names its field already
    return f"{field}: {message}"


def unsupported_media_type() -> Response[Any]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        UnsupportedMediaType.code,
        "send the body as application/json",
    )


RoutePatterns = list[tuple[re.Pattern[str], frozenset[str]]]


def route_patterns(paths: Mapping[str, Any]) -> RoutePatterns:
    """Every documented path (OpenAPI `paths`) as a regex, with its methods."""
    return [
        (
            re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
            frozenset(
                method.upper()
                for method in ("get", "post", "put", "patch", "delete")
                if getattr(item, method, None) is not None
            ),
        )
        for path, item in paths.items()
    ]


def for_unknown_route(path: str, patterns: RoutePatterns) -> Response[Any]:
    """404, or 405 with `Allow` when the path exists under other methods."""
    allowed = {m for pattern, methods in patterns if pattern.match(path) for m in methods}
    if allowed:
        response = error_response(
            HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed"
        )
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    return error_response(HTTPStatus.NOT_FOUND, "not_found", "not found")


def internal_error(exc: BaseException) -> Response[Any]:
    logger.exception("unexpected error", exc_info=exc)  # the request id is in every log line
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error; try again later"
    )
