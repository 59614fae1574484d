"""Tracing: the X-Ray SDK is loaded where traces are sent (in Lambda), and only there.

Each case runs in a fresh interpreter: Powertools' Tracer patches libraries process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A handler decorated as the functions' are, invoked once; what the process then holds.
PROBE = """
import json, sys
from scheduler.observability import capture_lambda_handler

def handler(event, context):
    return {"echo": event["value"]}

traced = capture_lambda_handler(capture_response=False)(handler)
result = traced({"value": 7}, None)
print(json.dumps({"result": result, "wrapped": traced is not handler,
                  "xray": "aws_xray_sdk.core" in sys.modules}))
"""
LAMBDA = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "observability-test",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=1",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}


def _run(**environment: str) -> dict[str, object]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL"))
    }
    env.update(
        environment,
        POWERTOOLS_SERVICE_NAME="observability-test",
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
    )
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.splitlines()[-1])


def test_outside_lambda_the_handler_is_left_as_it_is_and_no_xray_sdk_loads() -> None:
    assert _run() == {"result": {"echo": 7}, "wrapped": False, "xray": False}


@pytest.mark.parametrize("disabled", ["true", "1"])
def test_in_lambda_with_tracing_disabled_no_xray_sdk_loads(disabled: str) -> None:
    outcome = _run(**LAMBDA, POWERTOOLS_TRACE_DISABLED=disabled)

    assert outcome == {"result": {"echo": 7}, "wrapped": False, "xray": False}


def test_in_lambda_the_handler_is_traced() -> None:
    assert _run(**LAMBDA) == {"result": {"echo": 7}, "wrapped": True, "xray": True}
