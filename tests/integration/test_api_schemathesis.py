"""Schemathesis against the OpenAPI document: no 5xx, no answer outside the documented schema.

Requests go through the local API Gateway stand-in (devstack.apigw) and the real authorizer
code with a real signed token, so the handler sees claims exactly as behind API Gateway, and a
request the gateway refuses gets exactly API Gateway's answer, which the document describes.

Three runs, each deterministic (derandomized, no example database) and bounded:
- every operation on its own, with generated input;
- every operation without a token, with an empty one, with ones the authorizer refuses;
- stateful: sequences that follow the document's links (a new schedule's id to get, change,
  run and delete it; a workflow's id to a new schedule of it), checking on the way that a
  deleted schedule is gone and a created one is there.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import re
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import ValidationError
from scheduler import clients, cron
from scheduler.api.routes.docs import TITLE, VERSION
from scheduler.api.routes.routing import app
from scheduler.models.schedules import ScheduleUpdate
from scheduler.sync.eventbridge import EventBridgeSchedules
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from devstack.apigw import WsgiGateway
from functions.api.app import PUBLIC_ROUTES, lambda_handler
from functions.authorizer.app import authorize
from tests.integration.test_api import lambda_endpoint  # noqa: F401  (fixture)
from tests.queries import process_queries

SECRET = "schemathesis-secret-of-sufficient-length-0123456789"
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Only the health checks about speed: this machine is shared and slow, the API is not.
SLOW_MACHINE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

# What a client would send: generated crons and timezones are mostly noise (the stateless run
# covers those), so the stateful run swaps most invalid ones for one of these, picked from the
# generated text (a checksum, not hash(): the same on every run), to reach further states.
VALID_CRONS = ["0 7 * * *", "*/15 9-17 * * MON-FRI", "0 9 1 * MON", "30 2 * 3 L0", "0 0 29 2 *"]
VALID_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
WORKFLOWS = [uuid.UUID("00000000-0000-4000-8000-0000000f1001"), uuid.UUID(int=0xF1002)]
# A one-time schedule's `at` (a whole minute, a day ahead of whenever the test runs).
VALID_AT = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:00Z")

schema = schemathesis.openapi.from_dict(
    json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
)


# The stateful run follows the schedules' links as a user would; the key routes answer a user
# 403 and would only spend its steps (tests/integration/test_api_keys.py covers them, and the
# stateless run checks their documented answers), and so would backfill, whose every generated
# interval is refused or empty (tests/integration/test_backfill.py covers it), and the workflows'
# writes, whose generated definitions are nearly all refused and whose deletes of the fixture's
# workflows (409: they have schedules) took the steps that reach a run now
# (tests/integration/test_api_workflows.py covers them), and the upsert by externalId, a second
# way to the same schedules that took the steps too (tests/integration/test_schedule_identity.py),
# and the bulk pause / resume, which no link leads to and whose pause of every schedule turns the
# run nows after it into 409s (tests/integration/test_bulk_changes.py covers them).
# The calendars too: their links lead among themselves (test_calendars_api.py covers them).
# And a schedule's exceptions and accounting: with them in, no derandomized sequence reached a
# run now's 202 any more (test_schedule_exceptions.py and test_accounting.py cover them); and
# its audit events, which outlive the schedule on purpose (who deleted it), where the stateful
# checks expect a deleted resource's 404 (test_audit_events.py covers them).
schedules_schema = schema.exclude(
    path_regex=r"^/api/keys|/backfill$|^/api/calendars|/exceptions|/accounting$|/events$"
).exclude(
    operation_id=[
        "createWorkflow",
        "updateWorkflow",
        "deleteWorkflow",
        "upsertScheduleByExternalId",
        "bulkPauseSchedules",
        "bulkResumeSchedules",
    ]
)


def _token(**claims: Any) -> str:
    return jwt.encode(
        {
            "sub": str(ALICE),
            "role": "authenticated",
            "aud": "authenticated",
            "exp": int(time.time()) + 3600,
            **claims,
        },
        SECRET,
        algorithm="HS256",
    )


@pytest.fixture
def gateway(
    aws: None,
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
    lambda_endpoint: list[dict[str, Any]],  # run now reaches a runner stand-in
) -> Iterator[tuple[WsgiGateway, str]]:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    clients.get_settings.cache_clear()
    EventBridgeSchedules().ensure_group()
    _seed(clean_db)
    yield WsgiGateway(lambda_handler, authorize, PUBLIC_ROUTES), _token()
    clients.get_settings.cache_clear()
    _seed(clean_db, rows=False)


def _seed(database_url: str, *, rows: bool = True) -> None:
    """Empty the tables, then (with `rows`) two workflows of Alice's with a schedule each."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "truncate workflows, schedules, schedule_runs, owner_rate_buckets, calendars cascade"
        )
    if not rows:
        return
    queries = process_queries()
    for workflow_id, timezone, enabled in zip(
        WORKFLOWS, ("UTC", "Europe/Berlin"), (True, False), strict=True
    ):
        queries.db.execute(
            "insert into workflows (id, owner_id, name) values (%s, %s, 'report')",
            (workflow_id, ALICE),
        )
        queries.schedules.create_schedule(
            ALICE, workflow_id=workflow_id, cron="0 7 * * *", timezone=timezone, enabled=enabled
        )


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=SLOW_MACHINE,
)
def test_api_honours_its_openapi_document(
    case: schemathesis.Case, gateway: tuple[WsgiGateway, str]
) -> None:
    wsgi_app, token = gateway
    case.call_and_validate(
        app=wsgi_app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )


REFUSED = [
    (None, 401),
    ("", 401),
    ("Bearer not-a-token", 403),
    ("Basic YWxpY2U6c2VjcmV0", 403),
    (f"Bearer {_token(exp=int(time.time()) - 3600)}", 403),
    (f"Bearer {_token(aud='another-app')}", 403),
]


@schema.parametrize()
@settings(
    max_examples=2,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=SLOW_MACHINE,
)
def test_requests_the_gateway_refuses_get_the_documented_answers(
    case: schemathesis.Case, gateway: tuple[WsgiGateway, str]
) -> None:
    wsgi_app, _ = gateway
    for authorization, status in REFUSED:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = case.call(app=wsgi_app, headers=headers)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == status, (authorization, response.text)


def _known_workflow(value: str) -> str:
    if uuid.UUID(value) not in WORKFLOWS:
        raise ValueError("not a workflow of the fixture's")
    return value


def _mostly_valid(body: Any, *, creating: bool = False) -> None:
    """Three in four invalid crons, timezones and workflow ids of a generated body become valid
    ones (a new schedule of a known workflow is what most of the links start from)."""
    if not isinstance(body, dict):
        return
    _mostly_cron_or_at(body, creating=creating)
    for field, valid, check in (
        ("cron", VALID_CRONS, cron.to_eventbridge),
        ("timezone", VALID_ZONES, cron.validate_timezone),
        ("workflowId", [str(w) for w in WORKFLOWS], _known_workflow),
    ):
        value = body.get(field)
        if not isinstance(value, str):
            continue
        try:
            check(value)
        except ValueError:
            pick = zlib.crc32(value.encode("utf-8", "surrogatepass"))
            if pick % 4:
                body[field] = valid[pick % len(valid)]
    # A paused schedule cannot be run now: most new ones are enabled, as most users' are.
    if body.get("enabled") is False and zlib.crc32(repr(sorted(body)).encode()) % 4:
        body["enabled"] = True
    # Optional fields that would get the body refused are mostly left out instead.
    for field in (
        "startAt",
        "endAt",
        "flexibleWindowMinutes",
        "note",
        "input",
        "name",
        "externalId",
        "pauseAfterFailures",
        "labels",
        "dstPolicy",
        "excludeCalendars",
    ):
        pick = zlib.crc32(repr(body.get(field)).encode("utf-8", "surrogatepass"))
        if field in body and not _acceptable(field, body) and pick % 4:
            del body[field]


def _mostly_cron_or_at(body: dict[str, Any], *, creating: bool) -> None:
    """A generated `at` (noise, or beside a cron: refused) becomes, one time in four, a valid
    one-time schedule's (without cron or window), else is mostly left out; a create left with
    neither cron nor at mostly gets a cron (as the schema required before `at` existed)."""
    if "at" in body:
        pick = zlib.crc32(repr(body["at"]).encode("utf-8", "surrogatepass"))
        if pick % 4 == 1:
            body["at"] = VALID_AT
            for field in ("cron", "startAt", "endAt"):
                body.pop(field, None)
        elif pick % 4:
            del body["at"]
    if creating and "cron" not in body and "at" not in body:
        pick = zlib.crc32(repr(sorted(body)).encode("utf-8", "surrogatepass"))
        if pick % 4:
            body["cron"] = VALID_CRONS[pick % len(VALID_CRONS)]


def _mostly_unfiltered(query: Any) -> None:
    """Three in four generated search filters of a list are left out: a generated label or text
    matches no schedule, and an empty page has no first item for the links to follow (the
    stateless run and tests/integration/test_schedule_search.py cover the filters)."""
    if not isinstance(query, dict):
        return
    for name in ("label", "q", "lastRunStatus"):
        pick = zlib.crc32(repr(query.get(name)).encode("utf-8", "surrogatepass"))
        if name in query and pick % 4:
            del query[name]


def _acceptable(field: str, body: dict[str, Any]) -> bool:
    """Whether the body's `field` alone (with the window's other end) would be accepted."""
    value = body[field]
    if field == "excludeCalendars":  # a drawn calendar id is nobody's: refused (422)
        return value is None or value == []
    if field in ("input", "name", "externalId", "pauseAfterFailures", "labels", "dstPolicy"):
        try:  # as the API's own model takes it
            ScheduleUpdate.model_validate({field: value})
        except ValidationError:
            return False
        return True
    if field == "flexibleWindowMinutes":
        return type(value) is int and 0 <= value <= 1440
    if field == "note":
        return value is None or (
            isinstance(value, str)
            and len(value) <= 500
            and value.isprintable()
            and bool(value.strip())
        )
    moments = {}
    for end in ("startAt", "endAt"):
        text = body.get(end)
        if text is None:
            continue
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                return False
            moments[end] = moment.astimezone(UTC)
        except (TypeError, ValueError, OverflowError):
            return False
    end_at = moments.get("endAt")
    if end_at is not None and end_at <= datetime.now(UTC) + timedelta(days=1):
        return False
    start_at = moments.get("startAt")
    return start_at is None or end_at is None or start_at + timedelta(days=1) < end_at


class Answers:
    """A WSGI app in front of the gateway that counts (method, route, status) answers."""

    def __init__(self, app: WsgiGateway) -> None:
        self.app = app
        self.seen: Counter[tuple[str, str, int]] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        route = re.sub(r"/[0-9a-f-]{36}(?=/|$)", "/{id}", environ.get("PATH_INFO", ""))

        def counting(status: str, headers: Any, *rest: Any) -> Any:
            self.seen[(environ["REQUEST_METHOD"], route, int(status[:3]))] += 1
            return start_response(status, headers, *rest)

        return self.app(environ, counting)


def test_api_statefully_follows_its_links(gateway: tuple[WsgiGateway, str], clean_db: str) -> None:
    gateway_app, token = gateway
    wsgi_app = Answers(gateway_app)

    class ApiWorkflows(schedules_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario from the same state: what a replayed scenario draws depends on the
            # answers it got (links follow them), so they must be the same every time.
            _seed(clean_db)

        def before_call(self, case: schemathesis.Case) -> None:
            if case.operation.label in (
                "POST /api/schedules",
                "PATCH /api/schedules/{schedule_id}",
            ):
                _mostly_valid(case.body, creating=case.operation.label == "POST /api/schedules")
            if case.operation.label == "GET /api/schedules":
                _mostly_unfiltered(case.query)
            if case.headers and "idempotency-key" in case.headers:
                # a client sends a new key with each new request (a drawn key, "0" in every
                # scenario, would make each later create a replay or a 422 reusing it)
                case.headers["idempotency-key"] = str(uuid.uuid4())

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": wsgi_app, "headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response,
                checks=[*CHECKS, use_after_free, ensure_resource_availability],
                headers={"Authorization": f"Bearer {token}"},
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    ApiWorkflows.run(
        settings=settings(
            max_examples=50,
            # 10, not 8: with the bulk operations in the document (excluded above) the
            # derandomized sequences of 8 steps no longer reached a run now's 202
            stateful_step_count=10,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=SLOW_MACHINE,
        )
    )

    # and the sequences reached real schedules through the links: each was created, read,
    # changed, run and deleted at least once (a run that only met 404s and 422s proves little)
    reached = {key for key, count in wsgi_app.seen.items() if count}
    for answer in [
        ("POST", "/api/schedules", 201),
        ("GET", "/api/schedules/{id}", 200),
        ("PATCH", "/api/schedules/{id}", 200),
        ("POST", "/api/schedules/{id}/run", 202),
        ("GET", "/api/schedules/{id}/runs", 200),
        ("DELETE", "/api/schedules/{id}", 204),
        ("GET", "/api/workflows/{id}", 200),
    ]:
        # the whole tally in the message (an assertion's repr is cut short)
        assert answer in reached, f"{answer} never answered; answered: {sorted(reached)}"
