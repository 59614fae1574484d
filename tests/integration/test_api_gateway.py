"""What a client gets before the function runs: the local gateway answers as API Gateway does
for an HTTP API with a REQUEST Lambda authorizer on `$request.header.Authorization`, and the
OpenAPI document describes exactly those answers.

- no (or an empty) Authorization header: 401 `{"message":"Unauthorized"}`, authorizer not called
- the authorizer denies: 403 `{"message":"Forbidden"}`
- the authorizer fails: 500 `{"message":"Internal Server Error"}`
The function is called for none of them. Real authorizer code with a real signed token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from scheduler import clients
from scheduler.api.routes.docs import TITLE, VERSION
from scheduler.api.routes.routing import app
from scheduler.sync.eventbridge import EventBridgeSchedules
from werkzeug.test import Client

from devstack.apigw import WsgiGateway
from functions.api.app import PUBLIC_ROUTES, lambda_handler
from functions.authorizer.app import authorize

SECRET = "gateway-test-secret-of-sufficient-length-0123456789"
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


def _token(**overrides: Any) -> str:
    claims = {
        "sub": str(ALICE),
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 3600,
        **overrides,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


class Calls:
    """The function and the authorizer, counting their invocations."""

    def __init__(self) -> None:
        self.handler = 0
        self.authorizer = 0

    def handle(self, event: dict[str, Any], context: Any) -> Any:
        self.handler += 1
        return lambda_handler(event, context)

    def authorize(self, authorization: str) -> dict[str, Any] | None:
        self.authorizer += 1
        return authorize(authorization)


@pytest.fixture
def calls(aws: None, clean_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    clients.get_settings.cache_clear()
    EventBridgeSchedules().ensure_group()
    yield Calls()
    clients.get_settings.cache_clear()


def _client(calls: Calls) -> Client:
    return Client(WsgiGateway(calls.handle, calls.authorize, PUBLIC_ROUTES))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "   "}, id="blank"),
    ],
)
def test_a_request_without_the_identity_source_is_401_and_calls_nothing(
    calls: Calls, headers: dict[str, str]
) -> None:
    response = _client(calls).get("/api/schedules", headers=headers)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == UNAUTHORIZED
    assert (calls.authorizer, calls.handler) == (0, 0)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer not-a-token", id="garbage"),
        pytest.param("Basic YWxpY2U6c2VjcmV0", id="other-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param(f"Bearer {_token(exp=int(time.time()) - 3600)}", id="expired"),
        pytest.param(f"Bearer {_token(aud='someone-else')}", id="wrong-audience"),
        pytest.param(
            f"Bearer {jwt.encode({'sub': str(ALICE), 'exp': 2**31}, 'another-secret-of-sufficient-length-0123456789', algorithm='HS256')}",  # noqa: E501
            id="other-key",
        ),
    ],
)
def test_a_token_the_authorizer_refuses_is_403_and_never_reaches_the_function(
    calls: Calls, authorization: str
) -> None:
    response = _client(calls).post(
        "/api/schedules", headers={"Authorization": authorization}, json={"cron": "* * * * *"}
    )

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == FORBIDDEN
    assert (calls.authorizer, calls.handler) == (1, 0)


def test_a_failing_authorizer_is_a_bare_500(calls: Calls) -> None:
    def crash(_: str) -> dict[str, Any] | None:
        raise RuntimeError("JWKS unreachable")

    client = Client(WsgiGateway(calls.handle, crash, PUBLIC_ROUTES))

    response = client.get("/api/schedules", headers={"Authorization": f"Bearer {_token()}"})

    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal Server Error"}
    assert calls.handler == 0


def test_a_valid_token_reaches_the_function_and_public_routes_need_none(calls: Calls) -> None:
    client = _client(calls)

    listed = client.get("/api/schedules", headers={"Authorization": f"Bearer {_token()}"})
    document = client.get("/api/openapi.json")

    assert listed.status_code == 200
    assert listed.get_json() == {"items": [], "nextCursor": None}
    assert document.status_code == 200
    assert calls.authorizer == 1  # not for the public route
    assert calls.handler == 2


def test_the_openapi_document_gives_every_secured_operation_the_gateway_answers() -> None:
    document = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    schemas = document["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    # every operation of the API: a new one must be added here and get the gateway's answers
    assert len(operations) == 33  # 23, accounting, exceptions 3, calendars 6 (issue #26)

    def schema_of(ref: str) -> dict[str, Any]:
        return schemas[ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]

    for path, method, operation in operations:
        responses = operation["responses"]
        unauthorized = schema_of(responses["401"]["content"]["application/json"]["schema"]["$ref"])
        forbidden = schema_of(responses["403"]["content"]["application/json"]["schema"]["$ref"])
        # A 403 is the gateway's refusal of a token, or the API's refusal of what a valid
        # credential may not do (a read-only key writing), in its own ErrorBody.
        gateway_forbidden, api_forbidden = (schema_of(s["$ref"]) for s in forbidden["anyOf"])
        assert api_forbidden == schemas["ErrorBody"]
        for schema, body in ((unauthorized, UNAUTHORIZED), (gateway_forbidden, FORBIDDEN)):
            # exactly the gateway's body: one property, this one value, nothing else
            assert schema["required"] == ["message"], (path, method)
            assert schema["additionalProperties"] is False
            assert schema["properties"]["message"]["const"] == body["message"]
        # every other error is the API's own ErrorBody
        for status, response in responses.items():
            if status.startswith(("4", "5")) and status not in ("401", "403"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (path, method, status)
