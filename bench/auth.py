"""What each credential costs per request: the authorizer's verdict, and ApiFunction's own check
of an API key (one primary-key read) against a Supabase token's claims, on the same route.

- `auth.authorizer_jwt_us` / `auth.authorizer_key_us`: the authorizer's `authorize` for an HS256
  user token and for an API key (JWKS tokens add a signature check that does not depend on this);
- `auth.api_key_ms` / `auth.api_jwt_ms`: GET /api/schedules/{id} through ApiFunction's handler
  with the authorizer context each credential yields, alternating; `auth.api_key_extra_ms` is the
  difference of the medians, `auth.api_key.sql_statements` the statements the key check adds.
- `auth.authorizer_import_ms`: the authorizer's cold import in a fresh interpreter, isolated
  (`-I -S -B`, bytecode from the dev venv); `auth.authorizer_import_key_ms` the same plus the
  first API key it recognises. The built artifact's cold start is bench.package's business.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import backends

ROOT = Path(__file__).resolve().parents[1]

ROUNDS = backends.sized(300, 3)
IMPORT_RUNS = backends.sized(9, 2)
OWNER = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
JWT_SECRET = "bench-secret-of-at-least-32-characters-for-hs256"  # noqa: S105 (local only)

_IMPORT_PROBE = """
import sys, time, json
sys.path[:0] = sys.argv[1].split(":")
start = time.perf_counter()
from functions.authorizer.app import authorize
imported = time.perf_counter() - start
if sys.argv[2] == "key":
    authorize("Bearer wsk_" + "0" * 32 + "_" + "1" * 64)
print(json.dumps({"seconds": time.perf_counter() - start if sys.argv[2] == "key" else imported}))
"""


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.fresh_backends(), backends.quiet_logs():
        results = _measure_requests()
    results.update(_measure_imports())
    return results


def _timed(call: Callable[[], Any]) -> Callable[[], float]:
    def timed() -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    return timed


def _measure_requests() -> dict[str, float]:
    import os

    import jwt
    from scheduler import clients
    from scheduler.auth import key_service
    from scheduler.auth.principal import Principal
    from scheduler.models.api_keys import ApiKeyCreate
    from scheduler.store.api_keys import ApiKeyQueries
    from scheduler.store.db import database
    from scheduler.store.schedules import ScheduleQueries
    from scheduler.store.workflows import WorkflowQueries

    from devstack.apigw import LambdaContext, build_http_api_event
    from functions.api.app import lambda_handler
    from functions.authorizer.app import authorize

    os.environ["JWT_SECRET"] = JWT_SECRET
    clients.reset()
    db = database()
    workflow = WorkflowQueries(db).create_workflow(OWNER, "bench")["id"]
    schedule = ScheduleQueries(db).create_schedule(
        OWNER, workflow_id=workflow, cron="0 7 * * *", timezone="UTC", enabled=True
    )
    key = key_service.issue_key(
        ApiKeyQueries(db), ApiKeyCreate(name="bench", ownerId=OWNER), created_by="bench"
    ).key
    now = int(time.time())
    token = jwt.encode(
        {"sub": str(OWNER), "role": "authenticated", "aud": "authenticated", "exp": now + 3600},
        JWT_SECRET,
        algorithm="HS256",
    )
    jwt_context, key_context = authorize(f"Bearer {token}"), authorize(f"Bearer {key}")
    assert jwt_context is not None
    assert key_context is not None
    assert Principal.from_claims(jwt_context).owner == OWNER

    def api_call(context: dict[str, Any]) -> Callable[[], float]:
        def timed() -> float:
            event = build_http_api_event(
                "GET", f"/api/schedules/{schedule['id']}", "", {}, None, context
            )
            lambda_context = LambdaContext()
            started = time.perf_counter()
            response = lambda_handler(event, lambda_context)
            elapsed = time.perf_counter() - started
            if response["statusCode"] != 200:
                raise RuntimeError(f"GET answered {response}")
            return elapsed

        return timed

    with_key, with_jwt = api_call(key_context), api_call(jwt_context)
    connection = db.connection()
    with_key()  # the key's first use records it (then at most once a minute): not per request
    with backends.recorded_statements(connection) as key_statements:
        with_key()
    with backends.recorded_statements(connection) as jwt_statements:
        with_jwt()
    key_times, jwt_times = backends.interleaved(with_key, with_jwt, ROUNDS)
    authorize_key, authorize_jwt = backends.interleaved(
        _timed(lambda: authorize(f"Bearer {key}")),
        _timed(lambda: authorize(f"Bearer {token}")),
        ROUNDS,
    )
    return {
        "auth.authorizer_key_us": 1e6 * statistics.median(authorize_key),
        "auth.authorizer_jwt_us": 1e6 * statistics.median(authorize_jwt),
        "auth.api_key_ms": 1000 * statistics.median(key_times),
        "auth.api_jwt_ms": 1000 * statistics.median(jwt_times),
        "auth.api_key_extra_ms": 1000
        * (statistics.median(key_times) - statistics.median(jwt_times)),
        "auth.api_key.sql_statements": len(key_statements) - len(jwt_statements),
    }


def _measure_imports() -> dict[str, float]:
    import site

    # Isolated (-I -S): only the layer, the repository and the venv's packages on sys.path.
    path = ":".join([str(ROOT / "layers" / "common"), str(ROOT), *site.getsitepackages()])
    samples: dict[str, list[float]] = {"jwt": [], "key": []}
    for _ in range(IMPORT_RUNS):
        for kind, runs in samples.items():
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-B", "-c", _IMPORT_PROBE, path, kind],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout)["seconds"])
    return {
        "auth.authorizer_import_ms": 1000 * statistics.median(samples["jwt"]),
        "auth.authorizer_import_key_ms": 1000 * statistics.median(samples["key"]),
    }
