"""Schemathesis against the OpenAPI document: no 5xx, no response outside the documented schema.

Requests go through the local API Gateway stand-in (devstack.apigw) with a real signed token,
so the handler sees claims exactly as behind API Gateway's JWT authorizer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from scheduler import clients
from scheduler.eventbridge import EventBridgeSchedules
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.apigw import WsgiGateway
from functions.api.app import TITLE, VERSION, app, lambda_handler
from functions.authorizer.app import authorize

SECRET = "schemathesis-secret-of-sufficient-length-0123456789"
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")

schema = schemathesis.openapi.from_dict(
    json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
)


@pytest.fixture
def gateway(
    aws: None, clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[WsgiGateway, str]]:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    clients.get_settings.cache_clear()
    EventBridgeSchedules().ensure_group()
    store = clients.store()
    workflow = store.create_workflow(ALICE, "report")
    store.create_schedule(
        ALICE, workflow_id=workflow["id"], cron="0 7 * * *", timezone="UTC", enabled=True
    )
    token = jwt.encode(
        {
            "sub": str(ALICE),
            "role": "authenticated",
            "aud": "authenticated",
            "exp": int(time.time()) + 3600,
        },
        SECRET,
        algorithm="HS256",
    )
    yield WsgiGateway(lambda_handler, authorize), token
    clients.get_settings.cache_clear()


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_honours_its_openapi_document(
    case: schemathesis.Case, gateway: tuple[WsgiGateway, str]
) -> None:
    wsgi_app, token = gateway
    case.call_and_validate(
        app=wsgi_app,
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
