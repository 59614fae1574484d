"""Cold start of each built handler against its floor, measured the way Lambda loads the code.

`make bench` builds first (`make sam-test-build`: this machine's architecture, into
.aws-sam/test-build). Each run is a fresh isolated interpreter (`-I -S -B`: no site-packages, no
PYTHONPATH, no bytecode written) whose sys.path holds only the function's build directory, the
built layer's `python/` and the runtime's SDK (boto3, botocore, s3transfer, urllib3, jmespath,
dateutil, six, linked from the venv as /var/runtime stands in Lambda). It times `import app`,
interpreter start-up excluded.

The floor is what a handler cannot avoid importing, from the same layer compiled to bytecode (a
copy, .bench/coldstart/floor-layer): for the API pydantic, psycopg, Powertools' Logger and an
HTTP API resolver validating one pydantic route; for the runner and reconcile pydantic's
BaseModel (`import pydantic` alone loads only its lazy shell), psycopg, boto3 and Logger; for
the authorizer json, hmac, hashlib and Logger. Handler and floor runs alternate, and the ratio
is of their medians (with the p10/p90 of the paired ratios).

Tracing is off in these runs, as everywhere outside Lambda. `coldstart_traced_ms.*` is the same
import with Powertools' Tracer enabled (as in Lambda with `Tracing=Active`): what the X-Ray SDK
adds, shown beside the target, not under it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench import backends

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "test-build"
WORK = ROOT / ".bench" / "coldstart"
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
FUNCTIONS = {
    "api": "ApiFunction",
    "runner": "RunnerFunction",
    "reconcile": "ReconcileFunction",
    "authorizer": "AuthorizerFunction",
}
TRACED = ("api", "runner", "reconcile")  # the functions with Powertools' Tracer
RUNS = backends.sized(11, 2)

_LOGGER = "from aws_lambda_powertools import Logger\nLogger()\n"
FLOORS = {
    "api": "import pydantic, psycopg\n"
    + _LOGGER
    + "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
    "app = APIGatewayHttpResolver(enable_validation=True)\n"
    "class Item(pydantic.BaseModel):\n"
    "    name: str\n"
    "@app.post('/items')\n"
    "def create(item: Item) -> Item:\n"
    "    return item\n",
    # `import pydantic` alone loads only its lazy shell; BaseModel is what using it takes.
    "runner": "import psycopg, boto3\nfrom pydantic import BaseModel\n" + _LOGGER,
    "reconcile": "import psycopg, boto3\nfrom pydantic import BaseModel\n" + _LOGGER,
    "authorizer": "import json, hmac, hashlib\n" + _LOGGER,
}

# Runs in the isolated interpreter: argv = code, then the sys.path entries (layer's last but one,
# the runtime's SDK last, as in Lambda); prints the seconds the code took.
_PROBE = """
import sys, time
code, *paths = sys.argv[1:]
sys.path[:0] = paths[:-1]
sys.path.append(paths[-1])
start = time.perf_counter()
exec(compile(code, "<cold start>", "exec"), {"__name__": "__coldstart__"})
print(time.perf_counter() - start)
"""


def _runtime_sdk() -> Path:
    """A directory standing for /var/runtime: the venv's copies of the runtime's SDK only."""
    runtime = WORK / "var-runtime"
    shutil.rmtree(runtime, ignore_errors=True)
    runtime.mkdir(parents=True)
    for name in RUNTIME_SDK:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"the runtime's {name} is not installed in the venv")
        if spec.submodule_search_locations:
            (runtime / name).symlink_to(next(iter(spec.submodule_search_locations)))
        else:
            (runtime / Path(spec.origin).name).symlink_to(spec.origin)
    return runtime


def _floor_layer() -> Path:
    """A copy of the built layer with every module compiled, whatever the build shipped."""
    floor = WORK / "floor-layer"
    shutil.rmtree(floor, ignore_errors=True)
    shutil.copytree(BUILD / "CommonLayer" / "python", floor, symlinks=True)
    compile_all = [sys.executable, "-m", "compileall", "-q", "-j", "0"]
    subprocess.run(
        [*compile_all, "--invalidation-mode", "unchecked-hash", str(floor)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return floor


def _environment(function_dir: Path, *, traced: bool) -> dict[str, str]:
    """What Lambda sets that the code reads at import, plus the template's Powertools names."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": function_dir.name,
        "POWERTOOLS_SERVICE_NAME": "workflow-scheduler",
        "POWERTOOLS_METRICS_NAMESPACE": "WorkflowScheduler",
    }
    if traced:  # Powertools traces inside Lambda only: where its task root is set
        environment["LAMBDA_TASK_ROOT"] = str(function_dir)
    else:
        environment["POWERTOOLS_TRACE_DISABLED"] = "true"
    return environment


def _seconds(code: str, paths: list[Path], environment: dict[str, str]) -> float:
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _PROBE, code, *map(str, paths)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    return float(completed.stdout)


def _zipped_mb(directory: Path) -> float:
    """What the directory weighs as the zip SAM would upload (deflate, as `sam package`)."""
    archive = shutil.make_archive(str(WORK / directory.name), "zip", directory)
    size = Path(archive).stat().st_size
    os.remove(archive)
    return size / 1_000_000


def _unzipped_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1_000_000


def sizes() -> dict[str, float]:
    """Unzipped and zipped megabytes of every function plus the layer (one copy of each)."""
    functions = [p for p in BUILD.iterdir() if p.is_dir() and p.name.endswith("Function")]
    parts = [BUILD / "CommonLayer", *functions]
    return {
        "package_mb": sum(map(_unzipped_mb, parts)),
        "package_zip_mb": sum(map(_zipped_mb, parts)),
    }


def measure() -> dict[str, float]:
    from bench.backends import ratio_of_medians

    if not (BUILD / "template.yaml").is_file():
        raise FileNotFoundError("no .aws-sam/test-build: `make sam-test-build` (make bench does)")
    runtime, floor, layer = _runtime_sdk(), _floor_layer(), BUILD / "CommonLayer" / "python"
    results: dict[str, float] = sizes()
    for key, name in FUNCTIONS.items():
        function_dir = BUILD / name
        untraced = _environment(function_dir, traced=False)
        handler = [function_dir, layer, runtime]
        traced_env = _environment(function_dir, traced=True)
        own: list[float] = []
        floor_times: list[float] = []
        traced: list[float] = []
        for index in range(RUNS):
            # each side goes first half the time, so neither always meets the other's leftovers
            for side in ("floor", "own") if index % 2 else ("own", "floor"):
                if side == "own":
                    own.append(_seconds("import app", handler, untraced))
                else:
                    floor_times.append(_seconds(FLOORS[key], [floor, runtime], untraced))
            if key in TRACED:
                traced.append(_seconds("import app", handler, traced_env))
        results.update(ratio_of_medians(f"coldstart_ratio.{key}", own, floor_times))
        results[f"coldstart_ms.{key}"] = statistics.median(own) * 1000
        results[f"coldstart_floor_ms.{key}"] = statistics.median(floor_times) * 1000
        if traced:
            results[f"coldstart_traced_ms.{key}"] = statistics.median(traced) * 1000
    return results


if __name__ == "__main__":
    for measured_key, value in sorted(measure().items()):
        print(f"{measured_key:36} {value:10.4g}")
