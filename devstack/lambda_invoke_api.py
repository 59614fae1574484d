"""Lambda's Invoke API over HTTP (WSGI), what `sam local start-lambda` serves: `POST
/2015-03-31/functions/{name}/invocations` with InvocationType RequestResponse, Event or DryRun,
Lambda's payload limits, and its errors (unknown function, too large, not JSON, 429 beyond a
reserved concurrency) in Lambda's shape.

A mixin: devstack.lambda_endpoint.LocalLambda is the WSGI application, and provides what this
calls (`function`, `invoke`, `enqueue`).
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from devstack.lambda_invocations import FunctionNotFound, TooManyRequests

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
_MAX_ASYNC_PAYLOAD = 256 * 1024


class InvokeApi:
    """The Invoke API of the functions of the class it is mixed into (LocalLambda)."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return _error(
                start_response,
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                "Unknown operation",
            )
        name = match["name"]
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            function = self.function(name)
        except FunctionNotFound as exc:
            return _error(
                start_response, HTTPStatus.NOT_FOUND, "ResourceNotFoundException", str(exc)
            )
        limit = _MAX_ASYNC_PAYLOAD if invocation_type == "Event" else _MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            return _error(
                start_response,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for {invocation_type} invocations",
            )
        try:
            json.loads(payload or b"{}")
        except ValueError:
            return _error(
                start_response,
                HTTPStatus.BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json",
            )
        if invocation_type == "DryRun":
            return _respond(start_response, HTTPStatus.NO_CONTENT, b"", [])
        if invocation_type == "Event":
            request_id = self.enqueue(function.config.name, payload)
            return _respond(
                start_response, HTTPStatus.ACCEPTED, b"", [("x-amzn-RequestId", request_id)]
            )
        if invocation_type != "RequestResponse":
            return _error(
                start_response,
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValueException",
                f"Unsupported invocation type {invocation_type}",
            )
        try:
            result = self.invoke(function.config.name, payload)
        except TooManyRequests as exc:
            return _error(
                start_response,
                HTTPStatus.TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                str(exc),
                reason=exc.reason,
            )
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        return _respond(start_response, HTTPStatus.OK, result.payload, headers)


def _respond(
    start_response: Any, status: HTTPStatus, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    headers = [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(f"{status.value} {status.phrase}", headers)
    return [body]


def _error(
    start_response: Any,
    status: HTTPStatus,
    error_type: str,
    message: str,
    *,
    reason: str | None = None,
) -> list[bytes]:
    fields = {"Type": "User", "message": message} | ({"Reason": reason} if reason else {})
    body = json.dumps(fields).encode()
    return _respond(start_response, status, body, [("x-amzn-ErrorType", error_type)])
