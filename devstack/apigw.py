"""A local stand-in for API Gateway HTTP API: HTTP request -> payload v2.0 event -> Lambda handler.

`build_http_api_event` builds the event API Gateway would send (with the Lambda authorizer's
context, as the template deploys it); `WsgiGateway` is a WSGI app that asks the authorizer,
calls the handler and writes its response. Used by the local stack and by the API tests.

What API Gateway answers itself, before the function runs, for an HTTP API whose REQUEST Lambda
authorizer has the identity source `$request.header.Authorization` (template.yaml):

- the identity source missing or empty: 401 `{"message":"Unauthorized"}`, and the authorizer
  is not even called;
- the authorizer denies (`isAuthorized: false`): 403 `{"message":"Forbidden"}`;
- the authorizer fails (raises, times out): 500 `{"message":"Internal Server Error"}`;
- a body over the 10 MB payload limit: 413 `{"message":"Request Entity Too Large"}`;
- the function fails: 500 `{"message":"Internal Server Error"}`.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

Handler = Callable[[dict[str, Any], Any], Any]
# Authorization header -> the authorizer's context for the function, or None to deny.
Authorizer = Callable[[str], dict[str, Any] | None]
StartResponse = Callable[..., Any]

ACCOUNT_ID = "123456789012"
API_ID = "local"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
_UNAUTHORIZED = json.dumps({"message": "Unauthorized"}).encode()
_FORBIDDEN = json.dumps({"message": "Forbidden"}).encode()
_INTERNAL_ERROR = json.dumps({"message": "Internal Server Error"}).encode()
_TOO_LARGE = json.dumps({"message": "Request Entity Too Large"}).encode()
# Characters API Gateway leaves unescaped in rawPath.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def build_http_api_event(
    method: str,
    raw_path: str,
    raw_query_string: str,
    headers: dict[str, str],
    body: bytes | None,
    authorizer_context: dict[str, Any] | None,
    *,
    source_ip: str = "127.0.0.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event for the `$default` route."""
    moment = now or datetime.now(UTC)
    lowered = {name.lower(): value for name, value in headers.items()}
    cookie_header = lowered.pop("cookie", None)
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query_string, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query_string,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": lowered.get("host", "localhost").split(".")[0],
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(moment.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookie_header:
        event["cookies"] = [part.strip() for part in cookie_header.split(";") if part.strip()]
    if query:
        event["queryStringParameters"] = query
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    function_name: str = "ApiFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/ApiFunction"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def route_pattern(path: str) -> re.Pattern[str]:
    """An API Gateway route path as a regex: `{name}` is one segment, `{name+}` the rest."""
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(path))
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern))


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _raw_path(environ: dict[str, Any]) -> str:
    # PEP 3333 hands the path over decoded as latin-1; API Gateway passes it still escaped.
    decoded = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    return quote(decoded, safe=_PATH_SAFE) or "/"


class WsgiGateway:
    """A WSGI app that acts as API Gateway with a Lambda authorizer in front of one function."""

    def __init__(
        self,
        handler: Handler,
        authorize: Authorizer,
        public_routes: Collection[tuple[str, str]] = (),
    ) -> None:
        self.handler = handler
        self.authorize = authorize
        # (method, route path) pairs routed with no authorizer, like the template's
        # `Authorizer: NONE` routes: `GET /dashboard/{file}` admits any one file name
        self.public_routes = [(method, route_pattern(path)) for method, path in public_routes]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = _request_headers(environ)
        route = (environ.get("REQUEST_METHOD", "GET"), _raw_path(environ))
        context: dict[str, Any] | None = None
        if not any(
            route[0] == method and pattern.fullmatch(route[1])
            for method, pattern in self.public_routes
        ):
            authorization = headers.get("authorization", "").strip()
            if not authorization:  # the identity source is missing: no authorizer call
                return self._plain(start_response, HTTPStatus.UNAUTHORIZED, _UNAUTHORIZED)
            try:
                context = self.authorize(authorization)
            except Exception:  # a failed authorizer is a bare 500, as in AWS
                return self._plain(
                    start_response, HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR
                )
            if context is None:
                return self._plain(start_response, HTTPStatus.FORBIDDEN, _FORBIDDEN)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_PAYLOAD_BYTES:
            return self._plain(start_response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _TOO_LARGE)
        body = environ["wsgi.input"].read(length) if length > 0 else None
        event = build_http_api_event(
            environ.get("REQUEST_METHOD", "GET"),
            _raw_path(environ),
            environ.get("QUERY_STRING", ""),
            headers,
            body,
            context,
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
        )
        try:
            result = self.handler(event, LambdaContext())
        except Exception:  # API Gateway answers a crashed function with a bare 500
            return self._plain(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR)
        return self._write(start_response, result)

    @staticmethod
    def _plain(start_response: StartResponse, status: HTTPStatus, body: bytes) -> list[bytes]:
        start_response(
            f"{status.value} {status.phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    @staticmethod
    def _write(start_response: StartResponse, result: Any) -> list[bytes]:
        if not isinstance(result, dict) or "statusCode" not in result:
            # payload v2.0: a bare value is a 200 JSON response
            result = {"statusCode": 200, "body": json.dumps(result)}
        status = HTTPStatus(int(result["statusCode"]))
        raw_body = result.get("body") or ""
        body = (
            base64.b64decode(raw_body)
            if result.get("isBase64Encoded")
            else str(raw_body).encode("utf-8")
        )
        response_headers: list[tuple[str, str]] = []
        for name, value in (result.get("headers") or {}).items():
            if name.lower() != "content-length":
                response_headers.append((name, str(value)))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers.extend((name, str(value)) for value in values)
        response_headers.extend(("Set-Cookie", cookie) for cookie in result.get("cookies") or [])
        response_headers.append(("Content-Length", str(len(body))))
        start_response(f"{status.value} {status.phrase}", response_headers)
        return [body]
