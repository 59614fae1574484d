"""Cold-import cost of each handler relative to the third-party modules it pulls in.

Both sides are timed inside fresh interpreters (interpreter start-up excluded), so the ratio
shows what our own modules add on top of the libraries: the part of a cold start we control.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = {
    "api": "functions.api.app",
    "runner": "functions.runner.app",
    "reconcile": "functions.reconcile.app",
}
RUNS = 15

# Prints the import time of `target` and the third-party top-level packages it loaded.
_PROBE = """
import sys, time, json
before = set(sys.modules)
start = time.perf_counter()
for name in sys.argv[2].split(","):
    __import__(name)
elapsed = time.perf_counter() - start
stdlib = set(sys.stdlib_module_names)
own = {"scheduler", "functions"}
third = sorted({m.split(".")[0] for m in set(sys.modules) - before} - stdlib - own
               - {m for m in sys.builtin_module_names})
third = [m for m in third if not m.startswith("_")]
print(json.dumps({"seconds": elapsed, "third_party": third}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
        PYTHONDONTWRITEBYTECODE="1",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    return env


def _time(modules: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "probe", modules],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=ROOT,
    )
    return json.loads(result.stdout)


def measure() -> dict[str, float]:
    results: dict[str, float] = {}
    for name, module in HANDLERS.items():
        third_party = _time(module)["third_party"]
        own, libs = [], []
        for _ in range(RUNS):  # interleaved so machine noise hits both sides alike
            own.append(_time(module)["seconds"])
            libs.append(_time(",".join(third_party))["seconds"])
        results[f"import_ratio.{name}"] = statistics.median(own) / statistics.median(libs)
        results[f"import_s.{name}"] = statistics.median(own)
    return results
