"""The bootstrap: `make api-key` issues a key straight in the database (no credential needed),
and `make run` keeps its demo service key across restarts while it still works."""

# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.db import database

from devstack.demo import ensure_demo_service_key
from tests.integration.test_api import ALICE, Api, api, eventbridge  # noqa: F401  (fixtures)
from tests.integration.test_api_keys import KEY_FORM, UNAUTHORIZED, Gateway

REPO = Path(__file__).resolve().parents[2]


def _key_admin(database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'layers' / 'common'}:{REPO}"}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "scheduler.auth.key_admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select count(*) from api_keys").fetchone()
    assert row is not None
    return int(row[0])


def test_make_api_key_prints_only_the_key_on_stdout_and_the_key_works(
    api: Api, clean_db: str
) -> None:
    done = _key_admin(clean_db, "--name", "first backend", "--scope", f"owner:{ALICE}:read-only")

    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert KEY_FORM.fullmatch(key)
    assert "read-only" in done.stderr
    assert str(ALICE) in done.stderr
    assert key not in done.stderr
    gateway = Gateway(api)
    assert gateway.call(key, "GET", "/api/schedules") == (200, {"items": [], "nextCursor": None})
    status, _body = gateway.call(key, "GET", "/api/keys")
    assert status == 403  # an owner's key manages no keys
    with psycopg.connect(clean_db, row_factory=psycopg.rows.dict_row) as conn:
        [row] = conn.execute("select * from api_keys").fetchall()
    assert row["created_by"].startswith("operator:")
    assert row["read_only"] is True
    assert row["owner_id"] == ALICE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--scope", "root"], "SCOPE 'root' is not one of"),
        (["--name", " ", "--scope", "all"], "name cannot be blank"),
        (["--name", "x", "--scope", "all", "--expires", "2001-01-01T00:00:00Z"], "future"),
        (["--name", "x", "--scope", "all", "--expires", "soon"], "datetime"),
        (
            ["--name", "x", "--scope", "all", "--expires", "9999-12-31T23:59:59-01:00"],
            "out of range",
        ),
    ],
)
def test_make_api_key_refuses_bad_input_and_issues_nothing(
    clean_db: str, args: list[str], message: str
) -> None:
    done = _key_admin(clean_db, *args)

    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert _count(clean_db) == 0


def test_make_api_key_needs_a_database_url(clean_db: str) -> None:
    done = _key_admin(None, "--name", "x", "--scope", "all")
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr
    assert _count(clean_db) == 0


def test_the_demo_service_key_is_kept_while_it_works(api: Api, clean_db: str) -> None:
    keys = ApiKeyQueries(database())
    first = ensure_demo_service_key(keys, None)
    assert KEY_FORM.fullmatch(first)

    assert ensure_demo_service_key(keys, first) == first
    assert _count(clean_db) == 1
    # revoked, garbled or gone: a new one
    key_id = first[4:36]
    assert api.call("DELETE", f"/api/keys/{key_id}", claims={"role": "service_role"})[0] == 204
    second = ensure_demo_service_key(keys, first)
    assert second != first
    assert ensure_demo_service_key(keys, "not a key") not in (first, second)
    assert Gateway(api).call(first, "GET", "/api/schedules") == (401, UNAUTHORIZED)
    assert Gateway(api).call(second, "GET", "/api/keys")[0] == 200
