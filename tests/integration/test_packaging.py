"""What `sam build` produced runs: each built handler, with only its own directory, the built
layer and the AWS SDK the Lambda runtime provides on sys.path, handles its sample event against
real backends (Postgres, moto's server).

This catches a dependency missing from the layer or a wrong layer path before a deploy does.
`make test` builds for this machine's architecture into .aws-sam/test-build first
(`make sam-test-build`). Each handler runs in a fresh interpreter started with `-I -S`: no
PYTHONPATH, no site-packages, so nothing from the development environment can leak in. The
layer leaves the SDK to the runtime (layers/common/Makefile); here the venv's pinned copy stands
in for the runtime's, last on sys.path as /var/runtime is in Lambda.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.server import ThreadedMotoServer

from tests.conftest import EVENTS, ROOT
from tests.jwks_server import public_jwk, serve_jwks

BUILD = ROOT / ".aws-sam" / "test-build"
LAYER = BUILD / "CommonLayer" / "python"
RUNTIME = BUILD / "var-runtime"  # stands for the Lambda runtime's own packages (/var/runtime)
GROUP = "packaging-test-schedules"
LOCKS_TABLE = "packaging-test-locks"
JWT_SECRET = "packaging-test-secret-at-least-32-bytes-long"
REGION = "us-east-1"
# What the Lambda python3.12 runtime provides, and so the layer leaves out (layers/common/Makefile).
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "urllib3")
FUNCTIONS = (
    "ApiFunction",
    "AuthorizerFunction",
    "ReconcileFunction",
    "RetentionFunction",
    "RunnerFunction",
)

# Runs inside the clean interpreter: import the handler the way Lambda does, invoke it once,
# and report the result plus any module that came from outside the function and the layer.
INVOKE = r"""
import json, sys, sysconfig
function_dir, layer_dir, runtime_dir, result_path = sys.argv[1:5]
sys.path[:0] = [function_dir, layer_dir]
sys.path.append(runtime_dir)

class Context:
    function_name = "packaging-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:packaging-test"
    aws_request_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    def get_remaining_time_in_millis(self):
        return 300_000

import app
import aws_xray_sdk.core  # Tracer's backend must ship in the layer even when tracing is off here
result = app.lambda_handler(json.load(sys.stdin), Context())
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not module.__file__.startswith((function_dir, layer_dir, runtime_dir) + stdlib)
)
with open(result_path, "w") as out:
    json.dump({"result": result, "outside": outside}, out, default=str)
"""


@pytest.fixture(scope="module")
def built() -> Path:
    missing = "no SAM build for the packaging test: run `make sam-test-build` (make test does)"
    assert (BUILD / "template.yaml").exists(), missing
    assert LAYER.is_dir(), missing
    # The runtime's SDK: only those packages, linked from the venv.
    shutil.rmtree(RUNTIME, ignore_errors=True)
    RUNTIME.mkdir()
    for package in RUNTIME_SDK:
        spec = importlib.util.find_spec(package)
        assert spec is not None
        assert spec.submodule_search_locations
        (RUNTIME / package).symlink_to(spec.submodule_search_locations[0])
    return BUILD


def test_every_built_module_ships_bytecode_that_outlives_the_zip(built: Path) -> None:
    # /opt and /var/task are read-only: a module without its pyc is compiled at every cold
    # start. Hash-based pycs stay valid whatever timestamps the zip gives the sources.
    functions = [BUILD / name for name in FUNCTIONS]
    sources = [path for root in (LAYER, *functions) for path in root.rglob("*.py")]
    assert len(sources) > len(FUNCTIONS)
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), f"no bytecode for {source.relative_to(BUILD)}"
        header = cached.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[4:8], "little") & 1, f"{cached} is timestamp-based"


def test_the_layer_leaves_the_sdk_to_the_runtime_and_ships_no_native_crypto(built: Path) -> None:
    shipped = {path.name for path in LAYER.iterdir()}

    assert "scheduler" in shipped
    assert shipped.isdisjoint(RUNTIME_SDK)
    assert "cryptography" not in shipped


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    scheduler = boto3.client("scheduler", endpoint_url=url, region_name=REGION)
    scheduler.create_schedule_group(Name=GROUP)
    boto3.client("dynamodb", endpoint_url=url, region_name=REGION).create_table(
        TableName=LOCKS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    yield url
    server.stop()


def invoke(
    function: str,
    event: dict[str, Any],
    database_url: str,
    moto_url: str,
    tmp: Path,
    **settings: str,
) -> Any:
    """Run the built handler of `function` on `event` in a clean interpreter (plus `settings` in
    its environment); its result."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "workflow-scheduler",
        "POWERTOOLS_METRICS_NAMESPACE": "WorkflowSchedulerPackagingTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "SCHEDULE_GROUP": GROUP,
        "LOCKS_TABLE": LOCKS_TABLE,
        "JWT_SECRET": JWT_SECRET,
        **settings,
    }
    result_path = tmp / f"{function}-{uuid.uuid4()}.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            INVOKE,
            *map(str, (BUILD / function, LAYER, RUNTIME)),
            result_path,
        ],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(result_path.read_text())
    assert report["outside"] == [], "imported from outside the build"
    return report["result"]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_built_handler_runs_its_event_against_the_backends(
    built: Path, clean_db: str, moto_server: str, tmp_path: Path
) -> None:
    # Given the caller's workflow and the runner event's schedule in the database
    create = load_event("api-create-schedule.json")
    claims = create["requestContext"]["authorizer"]["jwt"]["claims"]
    fire = load_event("runner-scheduled.json")
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for workflow_id in (json.loads(create["body"])["workflowId"], fire["workflowId"]):
            conn.execute(
                "insert into workflows (id, owner_id, name) values (%s, %s, 'packaged')",
                (workflow_id, claims["sub"]),
            )
        conn.execute(
            "insert into schedules (id, workflow_id, cron) values (%s, %s, '0 7 * * *')",
            (fire["scheduleId"], fire["workflowId"]),
        )
    scheduler = boto3.client("scheduler", endpoint_url=moto_server, region_name=REGION)

    # The authorizer accepts a valid Supabase token
    token = jwt.encode(
        {"sub": claims["sub"], "role": "authenticated", "aud": "authenticated",
         "exp": int(time.time()) + 600},
        JWT_SECRET,
        algorithm="HS256",
    )  # fmt: skip
    authorize = load_event("authorizer.json")
    authorize["headers"]["authorization"] = authorize["identitySource"][0] = f"Bearer {token}"
    verdict = invoke("AuthorizerFunction", authorize, clean_db, moto_server, tmp_path)
    assert verdict["isAuthorized"] is True
    assert verdict["context"]["sub"] == claims["sub"]

    # ... and tokens signed with the project's asymmetric keys (JWKS), without `cryptography`
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with serve_jwks([public_jwk(ec_key, "ec"), public_jwk(rsa_key, "rsa")]) as jwks:
        for algorithm, key, kid in (("ES256", ec_key, "ec"), ("RS256", rsa_key, "rsa")):
            signed = jwt.encode(
                {"sub": claims["sub"], "aud": "authenticated", "exp": int(time.time()) + 600},
                key,
                algorithm=algorithm,
                headers={"kid": kid},
            )
            authorize["headers"]["authorization"] = f"Bearer {signed}"
            verdict = invoke("AuthorizerFunction", authorize, clean_db, moto_server, tmp_path,
                             JWKS_URL=jwks.url)  # fmt: skip
            assert verdict["isAuthorized"] is True, algorithm
            assert verdict["context"]["sub"] == claims["sub"]
        authorize["headers"]["authorization"] = "Bearer " + jwt.encode(
            {"sub": claims["sub"], "aud": "authenticated", "exp": int(time.time()) + 600},
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": "ec"},
        )
        forged = invoke("AuthorizerFunction", authorize, clean_db, moto_server, tmp_path,
                        JWKS_URL=jwks.url)  # fmt: skip
        assert forged == {"isAuthorized": False}

    # The API creates a schedule: a row and its EventBridge schedule
    response = invoke("ApiFunction", create, clean_db, moto_server, tmp_path)
    assert response["statusCode"] == 201, response
    created = json.loads(response["body"])
    assert scheduler.get_schedule(Name=created["id"], GroupName=GROUP)["State"] == "ENABLED"

    # The runner runs the scheduled fire and records it
    outcome = invoke("RunnerFunction", fire, clean_db, moto_server, tmp_path)
    assert outcome["outcome"] == "succeeded", outcome
    with psycopg.connect(clean_db) as conn:
        status = conn.execute(
            "select status from schedule_runs where schedule_id = %s", (fire["scheduleId"],)
        ).fetchone()
    assert status == ("succeeded",)

    # Reconcile creates the runner's schedule, which was written around the API
    summary = invoke("ReconcileFunction", load_event("reconcile.json"), clean_db, moto_server,
                     tmp_path)  # fmt: skip
    assert (summary["created"], summary["unchanged"], summary["failed"]) == (1, 1, 0)
    assert scheduler.get_schedule(Name=fire["scheduleId"], GroupName=GROUP)["State"] == "ENABLED"

    # Retention deletes the run history past RunHistoryDays (none yet: the run is today's)
    retained = invoke("RetentionFunction", load_event("retention.json"), clean_db, moto_server,
                      tmp_path, RUN_HISTORY_DAYS="90")  # fmt: skip
    assert (retained["deleted"], retained["complete"]) == (0, True)


def test_the_built_api_function_ships_and_serves_the_dashboard(
    built: Path, clean_db: str, moto_server: str, tmp_path: Path
) -> None:
    # Given the dashboard's files in the source tree
    source = ROOT / "functions" / "api" / "dashboard"
    shipped = BUILD / "ApiFunction" / "dashboard"

    # Then sam build put each of them, unchanged, in ApiFunction's package
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in source.iterdir())
    for path in source.iterdir():
        assert (shipped / path.name).read_bytes() == path.read_bytes(), path.name

    # ... and the built handler serves them without a credential (a public route)
    for path, content_type in (
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
    ):
        event = load_event("api-get-schedule.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        del event["requestContext"]["authorizer"]
        response = invoke("ApiFunction", event, clean_db, moto_server, tmp_path)
        assert response["statusCode"] == 200, response
        assert response["headers"]["Content-Type"].startswith(content_type)
        assert "default-src 'none'" in response["headers"]["Content-Security-Policy"]
