"""API keys on real Postgres: issue, list, use, scope, revoke, and refuse.

Requests go the way API Gateway sends them: the real authorizer's `authorize` turns the
Authorization header into its context (which API Gateway may cache and reuse), and ApiFunction's
handler gets that context. Keys are made through the API by the service role, as a backend's
operator would after `make api-key`.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from scheduler import clients

from devstack.apigw import LambdaContext
from functions.authorizer.app import authorize
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)

UNAUTHORIZED = {"message": "Unauthorized"}
KEY_FORM = re.compile(r"wsk_[0-9a-f]{32}_[0-9a-f]{64}")


class Gateway:
    """API Gateway in front of ApiFunction, with the real authorizer."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def verdict(self, key: str) -> dict[str, Any]:
        context = authorize(f"Bearer {key}")
        assert context is not None, "an API key always goes on to the function"
        return context

    def call(
        self, key: str, method: str, path: str, *, verdict: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        """`verdict`: an earlier authorizer answer, as API Gateway's cache would reuse it."""
        event = self.api.event(method, path, claims=None, **kw)
        event["requestContext"]["authorizer"] = {"lambda": verdict or self.verdict(key)}
        response = self.api.handler(event, LambdaContext())
        body = response.get("body")
        return response["statusCode"], json.loads(body) if body else None


@pytest.fixture
def gateway(api: Api) -> Gateway:
    return Gateway(api)


def _issue(api: Api, **fields: Any) -> dict[str, Any]:
    status, body = api.call(
        "POST", "/api/keys", body={"name": "worker", **fields}, claims=SERVICE_CLAIMS
    )
    assert status == 201, body
    return body


def _key_rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("select * from api_keys order by created_at").fetchall()


def _schedule_ids(gateway: Gateway, key: str) -> set[str]:
    status, body = gateway.call(key, "GET", "/api/schedules")
    assert status == 200, body
    return {item["id"] for item in body["items"]}


# --- lifecycle


def test_a_key_is_shown_once_and_only_its_secrets_hash_is_stored(api: Api, clean_db: str) -> None:
    created = _issue(api, name="billing worker")

    assert KEY_FORM.fullmatch(created["key"])
    assert created["id"] == str(uuid.UUID(hex=created["key"][4:36]))
    assert created["name"] == "billing worker"
    assert created["ownerId"] is None
    assert created["readOnly"] is False
    assert created["createdBy"] == "service_role"
    assert created["lastUsedAt"] is None
    assert created["revokedAt"] is None
    [row] = _key_rows(clean_db)
    secret = created["key"].split("_")[2]
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert not any(secret in str(value) for value in row.values())
    # Never again: not in the listing, not in the key's own page.
    status, page = api.call("GET", "/api/keys", claims=SERVICE_CLAIMS)
    assert status == 200
    assert [item["id"] for item in page["items"]] == [created["id"]]
    assert "key" not in page["items"][0]
    status, one = api.call("GET", f"/api/keys/{created['id']}", claims=SERVICE_CLAIMS)
    assert status == 200
    assert {k: v for k, v in created.items() if k != "key"} == one
    assert secret not in json.dumps([page, one])


def test_keys_list_newest_first_in_pages(api: Api) -> None:
    ids = [_issue(api, name=f"key {n}")["id"] for n in range(3)]

    status, first = api.call("GET", "/api/keys", query="limit=2", claims=SERVICE_CLAIMS)
    assert status == 200
    status, rest = api.call(
        "GET", "/api/keys", query=f"limit=2&cursor={first['nextCursor']}", claims=SERVICE_CLAIMS
    )
    assert status == 200
    assert [i["id"] for i in first["items"] + rest["items"]] == ids[::-1]
    assert rest["nextCursor"] is None


def test_a_key_for_every_tenant_acts_on_every_tenant_and_may_issue_keys(
    api: Api, gateway: Gateway, workflows: dict[str, uuid.UUID]
) -> None:
    alices = _create(api, workflows["alice"])
    created = _issue(api)
    key = created["key"]
    body = {"workflowId": str(workflows["bob"]), "cron": "0 7 * * *"}
    status, bobs = gateway.call(key, "POST", "/api/schedules", body=body)
    assert status == 201, bobs

    assert _schedule_ids(gateway, key) == {alices["id"], bobs["id"]}
    status, issued = gateway.call(key, "POST", "/api/keys", body={"name": "child"})
    assert status == 201, issued
    assert issued["createdBy"] == f"api_key:{created['id']}"


def test_an_owner_key_sees_exactly_what_that_owners_token_sees(
    api: Api, gateway: Gateway, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    alices = _create(api, workflows["alice"])
    bobs = _create(Api(claims={"sub": str(BOB), "role": "authenticated"}), workflows["bob"])
    key = _issue(api, ownerId=str(ALICE))["key"]

    assert _schedule_ids(gateway, key) == {alices["id"]}
    assert gateway.call(key, "GET", f"/api/schedules/{alices['id']}")[0] == 200
    for method, path, body in (
        ("GET", f"/api/schedules/{bobs['id']}", None),
        ("PATCH", f"/api/schedules/{bobs['id']}", {"enabled": False}),
        ("DELETE", f"/api/schedules/{bobs['id']}", None),
        ("POST", f"/api/schedules/{bobs['id']}/run", None),
        ("GET", f"/api/schedules/{bobs['id']}/runs", None),
        ("GET", f"/api/workflows/{workflows['bob']}", None),
        ("POST", "/api/schedules", {"workflowId": str(workflows["bob"]), "cron": "0 7 * * *"}),
    ):
        kwargs = {} if body is None else {"body": body}
        status, answer = gateway.call(key, method, path, **kwargs)
        assert status in (404, 422), (method, path, answer)  # 422: a workflowId not in scope
        assert (status, answer) == api.call(method, path, **kwargs)  # as Alice's token
    status, page = gateway.call(key, "GET", "/api/workflows")
    assert {w["id"] for w in page["items"]} == {str(workflows["alice"]), str(workflows["alice2"])}
    # Not a service credential: it manages no keys.
    for method, path in (("GET", "/api/keys"), ("POST", "/api/keys")):
        status, answer = gateway.call(key, method, path, body={"name": "escalate"})
        assert status == 403, answer
        assert answer["error"]["code"] == "forbidden"
    assert len(_key_rows(clean_db)) == 1


def test_a_read_only_key_reads_and_never_writes(
    api: Api, gateway: Gateway, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    schedule = _create(api, workflows["alice"])
    key = _issue(api, readOnly=True)["key"]
    with psycopg.connect(clean_db) as conn:
        before = conn.execute("select * from schedules").fetchall()

    assert _schedule_ids(gateway, key) == {schedule["id"]}
    assert gateway.call(key, "GET", f"/api/schedules/{schedule['id']}/runs")[0] == 200
    status, preview = gateway.call(key, "POST", "/api/cron/preview", body={"cron": "0 7 * * *"})
    assert status == 200, preview
    assert preview["valid"]
    assert gateway.call(key, "GET", "/api/keys")[0] == 200  # an every-tenant key may list keys
    for method, path, body in (
        ("POST", "/api/schedules", {"workflowId": str(workflows["alice"]), "cron": "0 8 * * *"}),
        ("PATCH", f"/api/schedules/{schedule['id']}", {"enabled": False}),
        ("DELETE", f"/api/schedules/{schedule['id']}", None),
        ("POST", f"/api/schedules/{schedule['id']}/run", None),
        ("POST", "/api/keys", {"name": "escalate"}),
        ("DELETE", f"/api/keys/{key[4:36]}", None),
    ):
        kwargs = {} if body is None else {"body": body}
        status, answer = gateway.call(key, method, path, **kwargs)
        assert status == 403, (method, path, answer)
        assert answer == {"error": {"code": "forbidden", "message": "this API key is read-only"}}
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("select * from schedules").fetchall() == before
        assert conn.execute("select count(*) from schedule_runs").fetchone() == (0,)
    [row] = _key_rows(clean_db)
    assert row["revoked_at"] is None


def test_a_users_token_manages_no_keys(api: Api, clean_db: str) -> None:
    for method, path, body in (
        ("POST", "/api/keys", {"name": "mine"}),
        ("GET", "/api/keys", None),
        ("GET", f"/api/keys/{uuid.uuid4()}", None),
        ("DELETE", f"/api/keys/{uuid.uuid4()}", None),
    ):
        kwargs = {} if body is None else {"body": body}
        status, answer = api.call(method, path, **kwargs)
        assert status == 403, (method, path, answer)
    assert _key_rows(clean_db) == []


# --- revocation


def test_a_revoked_key_is_refused_at_its_next_request_even_through_a_cached_verdict(
    api: Api, gateway: Gateway, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    created = _issue(api)
    key = created["key"]
    cached = gateway.verdict(key)  # what API Gateway caches for ReauthorizeEvery seconds
    assert gateway.call(key, "GET", "/api/schedules", verdict=cached)[0] == 200

    status, _ = api.call("DELETE", f"/api/keys/{created['id']}", claims=SERVICE_CLAIMS)
    assert status == 204

    assert gateway.call(key, "GET", "/api/schedules", verdict=cached) == (401, UNAUTHORIZED)
    assert gateway.call(key, "GET", "/api/schedules") == (401, UNAUTHORIZED)
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    assert gateway.call(key, "POST", "/api/schedules", body=body) == (401, UNAUTHORIZED)
    [row] = _key_rows(clean_db)
    revoked_at = row["revoked_at"]
    assert revoked_at is not None
    # Revoking again changes nothing; the listing shows when it was revoked.
    assert api.call("DELETE", f"/api/keys/{created['id']}", claims=SERVICE_CLAIMS)[0] == 204
    assert _key_rows(clean_db)[0]["revoked_at"] == revoked_at
    status, one = api.call("GET", f"/api/keys/{created['id']}", claims=SERVICE_CLAIMS)
    assert datetime.fromisoformat(one["revokedAt"]) == revoked_at
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("select count(*) from schedules").fetchone() == (0,)


def test_revoking_an_unknown_key_is_404(api: Api) -> None:
    unknown = uuid.uuid4()
    status, body = api.call("DELETE", f"/api/keys/{unknown}", claims=SERVICE_CLAIMS)
    assert status == 404
    assert body["error"]["message"] == f"API key {unknown} not found"
    assert api.call("GET", f"/api/keys/{unknown}", claims=SERVICE_CLAIMS)[0] == 404
    assert api.call("GET", "/api/keys/not-an-id", claims=SERVICE_CLAIMS)[0] == 404


# --- refused keys


def test_malformed_unknown_wrong_and_expired_keys_are_401(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    real = _issue(api)["key"]
    expiring = _issue(api, expiresAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    with psycopg.connect(clean_db) as conn:
        conn.execute(
            "update api_keys set expires_at = now() - interval '1 second' where id = %s",
            (expiring["id"],),
        )
    refused = [
        "wsk_",
        "wsk_not-a-key",
        real[:-1],
        real + "0",
        real.upper().replace("WSK_", "wsk_"),
        real.replace("_", "-", 2).replace("wsk-", "wsk_"),
        f"wsk_{uuid.uuid4().hex}_{'0' * 64}",  # unknown id
        real[:37] + ("1" if real[37] == "0" else "0") + real[38:],  # the right id, a wrong secret
        expiring["key"],
    ]
    for key in refused:
        assert gateway.call(key, "GET", "/api/schedules") == (401, UNAUTHORIZED), key
    # The real key still works, and the refusals recorded no use.
    assert gateway.call(real, "GET", "/api/schedules")[0] == 200
    assert [r["last_used_at"] is None for r in _key_rows(clean_db)] == [False, True]


def test_an_expiring_key_works_until_it_expires(api: Api, gateway: Gateway, clean_db: str) -> None:
    created = _issue(api, expiresAt=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    assert gateway.call(created["key"], "GET", "/api/schedules")[0] == 200
    with psycopg.connect(clean_db) as conn:
        conn.execute("update api_keys set expires_at = now() where id = %s", (created["id"],))
    assert gateway.call(created["key"], "GET", "/api/schedules") == (401, UNAUTHORIZED)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "k", "ownerId": "alice"},
        {"name": "k", "readOnly": "yes"},
        {"name": "k", "expiresAt": "2020-01-01T00:00:00Z"},
        {"name": "k", "expiresAt": "2999-01-01T00:00:00"},  # no offset: which zone?
        {"name": "k", "expiresAt": "tomorrow"},
        {"name": "k", "scope": "admin"},
    ],
)
def test_a_bad_key_request_is_422_and_issues_nothing(
    api: Api, clean_db: str, body: dict[str, Any]
) -> None:
    status, answer = api.call("POST", "/api/keys", body=body, claims=SERVICE_CLAIMS)
    assert status == 422, answer
    assert answer["error"]["code"] == "invalid_input"
    assert _key_rows(clean_db) == []


def test_last_use_is_recorded_at_most_once_a_minute(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    key = _issue(api)["key"]
    gateway.call(key, "GET", "/api/schedules")
    first = _key_rows(clean_db)[0]["last_used_at"]
    gateway.call(key, "GET", "/api/schedules")
    assert first is not None
    assert _key_rows(clean_db)[0]["last_used_at"] == first  # within the minute: no write
    with psycopg.connect(clean_db) as conn:
        conn.execute("update api_keys set last_used_at = now() - interval '61 seconds'")
    gateway.call(key, "GET", "/api/schedules")
    assert _key_rows(clean_db)[0]["last_used_at"] > first


def test_a_key_checked_while_the_database_is_down_is_503_not_401(
    api: Api, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _issue(api)["key"]
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("DB_CONNECT_BUDGET_S", "0")
    clients.reset()

    status, body = gateway.call(key, "GET", "/api/schedules")

    assert status == 503, body
    assert body["error"]["code"] == "unavailable"


def test_no_log_line_holds_key_material(
    api: Api,
    gateway: Gateway,
    workflows: dict[str, uuid.UUID],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = _issue(api)
    key = created["key"]
    revoked = _issue(api)
    api.call("DELETE", f"/api/keys/{revoked['id']}", claims=SERVICE_CLAIMS)
    gateway.call(key, "GET", "/api/schedules")
    gateway.call(key, "POST", "/api/schedules", body={"workflowId": "bad", "cron": "nope"})
    gateway.call(revoked["key"], "GET", "/api/schedules")
    gateway.call(key[:-1], "GET", "/api/schedules")

    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "API key refused" in logged  # the refusal is logged, by key id
    for material in (key, revoked["key"]):
        secret = material.split("_")[2]
        for fragment in (material, secret, hashlib.sha256(secret.encode()).hexdigest()):
            assert fragment not in logged


# --- input the database could not hold, a database without the table


# 9999-12-31T23:59:59-01:00 is 10000-01-01T00:59:59Z: Python reads it (year 9999 locally) and
# Postgres would store it, but no client could read it back ("timestamp too large").
AFTER_YEAR_9999_IN_UTC = "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "k", "expiresAt": AFTER_YEAR_9999_IN_UTC},
        {"name": "nul\x00byte"},  # Postgres text cannot hold NUL
        {"name": "\x00"},
        {"name": "tab\tin name"},
        {"name": "\u200b"},  # only a zero-width space: blank
    ],
)
def test_input_the_database_cannot_hold_is_422_and_the_listing_still_works(
    api: Api, clean_db: str, body: dict[str, Any]
) -> None:
    kept = _issue(api, name="fine")

    status, answer = api.call("POST", "/api/keys", body=body, claims=SERVICE_CLAIMS)

    assert status == 422, answer
    assert answer["error"]["code"] == "invalid_input"
    status, page = api.call("GET", "/api/keys", claims=SERVICE_CLAIMS)
    assert status == 200, page
    assert [item["id"] for item in page["items"]] == [kept["id"]]


def test_the_database_refuses_an_expiry_no_client_could_read(clean_db: str) -> None:
    with psycopg.connect(clean_db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """insert into api_keys (id, secret_sha256, name, created_by, expires_at)
               values (gen_random_uuid(), sha256('x'), 'k', 'test', '10000-01-01 00:59:59+00')"""
        )


def test_a_key_checked_without_the_api_keys_table_is_answered_500_and_logged(
    api: Api, gateway: Gateway, clean_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = _issue(api)["key"]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("alter table api_keys rename to api_keys_hidden")
    try:
        status, body = gateway.call(key, "GET", "/api/schedules")
    finally:
        with psycopg.connect(clean_db, autocommit=True) as conn:
            conn.execute("alter table api_keys_hidden rename to api_keys")

    # a deployment without the migration: the API's own 500, logged, not a crashed invocation
    assert status == 500, body
    assert body["error"]["code"] == "internal_error"
    assert "unexpected error" in caplog.text


# --- what a key issues


def test_a_key_that_expires_issues_only_keys_that_expire_by_then(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    parent = _issue(api, expiresAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    expires = datetime.fromisoformat(parent["expiresAt"])

    status, child = gateway.call(parent["key"], "POST", "/api/keys", body={"name": "forever"})
    assert status == 201, child
    assert datetime.fromisoformat(child["expiresAt"]) == expires  # inherited
    sooner = (expires - timedelta(minutes=30)).isoformat()
    status, child = gateway.call(
        parent["key"], "POST", "/api/keys", body={"name": "n", "expiresAt": sooner}
    )
    assert status == 201, child
    later = (expires + timedelta(days=1)).isoformat()
    status, answer = gateway.call(
        parent["key"], "POST", "/api/keys", body={"name": "n", "expiresAt": later}
    )
    assert status == 422, answer
    assert "can only issue keys that expire by then" in answer["error"]["message"]
    assert len(_key_rows(clean_db)) == 3


def test_revoking_a_key_revokes_every_key_it_issued(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    leaked = _issue(api, name="leaked")
    bystander = _issue(api, name="bystander")
    status, child = gateway.call(leaked["key"], "POST", "/api/keys", body={"name": "child"})
    assert status == 201, child
    status, grandchild = gateway.call(child["key"], "POST", "/api/keys", body={"name": "grand"})
    assert status == 201, grandchild

    assert api.call("DELETE", f"/api/keys/{leaked['id']}", claims=SERVICE_CLAIMS)[0] == 204

    for key in (leaked, child, grandchild):
        assert gateway.call(key["key"], "GET", "/api/schedules") == (401, UNAUTHORIZED)
    assert gateway.call(bystander["key"], "GET", "/api/schedules")[0] == 200
    revoked = {str(r["id"]) for r in _key_rows(clean_db) if r["revoked_at"] is not None}
    assert revoked == {leaked["id"], child["id"], grandchild["id"]}


def test_a_read_only_key_is_refused_any_write_even_on_a_route_it_does_not_know(
    api: Api, gateway: Gateway
) -> None:
    key = _issue(api, readOnly=True)["key"]
    for method, path in (("POST", "/api/nothing-here"), ("PUT", "/api/schedules"), ("PATCH", "/x")):
        status, answer = gateway.call(key, method, path, body={})
        assert status == 403, (method, path, answer)
    assert gateway.call(key, "GET", "/api/nothing-here")[0] == 404


@pytest.mark.parametrize("header", ["Bearer WSK_{rest}", "bearer   {key}x", "Bearer wsk_{rest}_"])
def test_a_mistyped_key_is_answered_401_by_the_api_not_403_by_the_gateway(
    api: Api, gateway: Gateway, header: str
) -> None:
    key = _issue(api)["key"]
    verdict = authorize(header.format(rest=key[4:], key=key))

    assert verdict is not None  # not denied by the authorizer (API Gateway's 403)
    assert gateway.call(key, "GET", "/api/schedules", verdict=verdict) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("header", ["Bearer\t{key}", "BEARER  {key} ", "bearer {key}\n"])
def test_any_whitespace_around_a_key_is_fine(api: Api, gateway: Gateway, header: str) -> None:
    key = _issue(api)["key"]
    verdict = authorize(header.format(key=key))

    assert verdict is not None
    assert gateway.call(key, "GET", "/api/schedules", verdict=verdict)[0] == 200


def test_the_openapi_document_tells_a_backend_how_to_authenticate(api: Api) -> None:
    status, document = api.call("GET", "/api/openapi.json", claims=None)

    assert status == 200
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "wsk_",
        "description": schemes["apiKeyAuth"]["description"],
    }
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"
    assert document["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert "make api-key" in document["info"]["description"]
    assert "deprecated" in document["info"]["description"]
    assert {"createApiKey", "listApiKeys", "getApiKey", "revokeApiKey"} <= {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
