"""Review of the API keys feature: attempts to break it. Each test here failed when written
(against f93e558); see the review report for the suggested fixes."""

# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from functions.authorizer.app import authorize
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    SERVICE_CLAIMS,
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_api_keys import UNAUTHORIZED, Gateway, _issue, _key_rows
from tests.integration.test_key_admin import _count, _key_admin

# 9999-12-31T23:59:59-01:00 is 10000-01-01T00:59:59Z: Python parses it (year 9999 locally),
# Postgres stores it, but psycopg cannot load it back ("timestamp too large (after year 10K)").
AFTER_YEAR_9999_IN_UTC = "9999-12-31T23:59:59-01:00"


@pytest.fixture
def gateway(api: Api) -> Gateway:
    return Gateway(api)


def _post_key(api: Api, body: Any) -> tuple[int, Any]:
    return api.call("POST", "/api/keys", body=body, claims=SERVICE_CLAIMS)


# --- 5xx on input, half-written rows


def test_an_expiry_after_year_9999_in_utc_is_422_and_issues_nothing(
    api: Api, clean_db: str
) -> None:
    status, answer = _post_key(api, {"name": "k", "expiresAt": AFTER_YEAR_9999_IN_UTC})

    assert status == 422, answer
    assert _key_rows_count(clean_db) == 0  # not a row whose key nobody was ever shown


def test_an_expiry_after_year_9999_in_utc_does_not_break_the_key_listing(
    api: Api, clean_db: str
) -> None:
    _issue(api, name="fine")
    _post_key(api, {"name": "k", "expiresAt": AFTER_YEAR_9999_IN_UTC})

    status, page = api.call("GET", "/api/keys", claims=SERVICE_CLAIMS)

    assert status == 200, page


def test_make_api_key_with_an_expiry_after_year_9999_in_utc_is_refused_cleanly(
    clean_db: str,
) -> None:
    done = _key_admin(
        clean_db, "--name", "k", "--scope", "all", "--expires", AFTER_YEAR_9999_IN_UTC
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Not issued:"), done.stderr
    assert _count(clean_db) == 0


@pytest.mark.parametrize(
    "name",
    [
        "nul\x00byte",  # Postgres text cannot hold NUL
        "\x00",
    ],
)
def test_a_key_name_postgres_cannot_store_is_422_not_500(
    api: Api, clean_db: str, name: str
) -> None:
    status, answer = _post_key(api, {"name": name})

    assert status == 422, answer
    assert answer["error"]["code"] == "invalid_input"
    assert _key_rows_count(clean_db) == 0


def test_a_missing_api_keys_table_is_a_503_answer_not_a_crashed_invocation(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    key = _issue(api)["key"]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("alter table api_keys rename to api_keys_hidden")
    try:
        try:
            status, body = gateway.call(key, "GET", "/api/schedules")
        except Exception as exc:
            pytest.fail(f"ApiFunction raised instead of answering: {exc!r}")
        assert status == 503, body
    finally:
        with psycopg.connect(clean_db, autocommit=True) as conn:
            conn.execute("alter table api_keys_hidden rename to api_keys")


# --- privilege persistence


def test_an_expiring_key_cannot_mint_a_key_that_outlives_it(
    api: Api, gateway: Gateway, clean_db: str
) -> None:
    parent = _issue(api, expiresAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat())

    status, child = gateway.call(parent["key"], "POST", "/api/keys", body={"name": "forever"})

    if status == 201:
        assert child["expiresAt"] is not None, "a 1-hour key minted a key that never expires"
        assert datetime.fromisoformat(child["expiresAt"]) <= datetime.fromisoformat(
            parent["expiresAt"]
        )
    else:
        assert status in (403, 422), child


# --- format edge cases that miss the 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer WSK_{rest}",  # the prefix in capitals
        "Bearer\twsk_{rest}",  # a tab for the space
    ],
)
def test_a_malformed_key_header_still_reaches_the_function_for_a_401(
    api: Api, gateway: Gateway, header: str
) -> None:
    """Everything else malformed about a key is 401 {"message": "Unauthorized"}; these are
    denied in the authorizer, which API Gateway answers as 403 {"message": "Forbidden"}."""
    key = _issue(api)["key"]
    verdict = authorize(header.format(rest=key[4:]))

    assert verdict is not None, "denied by the authorizer: API Gateway answers 403 Forbidden"
    assert gateway.call(key, "GET", "/api/schedules", verdict=verdict) == (401, UNAUTHORIZED)


def _key_rows_count(database_url: str) -> int:
    return len(_key_rows(database_url))
