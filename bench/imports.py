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
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = {
    "api": "functions.api.app",
    "runner": "functions.runner.app",
    "reconcile": "functions.reconcile.app",
}
RUNS = 15

# Prints the import time of the given modules and every third-party module that import loaded
# (submodules included, in load order: parents first), the baseline's list of modules to import.
_PROBE = """
import sys, time, json
before = set(sys.modules)
start = time.perf_counter()
for name in sys.argv[2].split(","):
    __import__(name)
elapsed = time.perf_counter() - start
not_third_party = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
not_third_party |= {"scheduler", "functions"}
# runtime-made entries (e.g. Cython's cython_runtime) have no spec and cannot be imported
third = [m for m in sys.modules if m not in before and m.split(".")[0] not in not_third_party
         and getattr(sys.modules[m], "__spec__", None) is not None]
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


def _seconds(modules: str) -> float:
    return float(_time(modules)["seconds"])


def measure() -> dict[str, float]:
    from bench.backends import interleaved, ratio_of_medians

    results: dict[str, float] = {}
    for name, module in HANDLERS.items():
        libraries = ",".join(_time(module)["third_party"])
        own, libs = interleaved(partial(_seconds, module), partial(_seconds, libraries), RUNS)
        results.update(ratio_of_medians(f"import_ratio.{name}", own, libs))
        results[f"import_s.{name}"] = statistics.median(own)
    return results
