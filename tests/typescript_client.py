"""The TypeScript client's files and tools, for the tests that check and run it.

Its node_modules come from `npm ci` in clients/typescript (make test runs it when the lock file
changes).
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

from tests.conftest import ROOT

CLIENT = ROOT / "clients" / "typescript"
COMMITTED_TYPES = CLIENT / "src" / "api.d.ts"


def npm_tool(name: str) -> Path:
    """A binary the client's package.json pins, as npm ci installed it."""
    tool = CLIENT / "node_modules" / ".bin" / name
    assert tool.exists(), f"{tool} is missing: run `npm ci` in {CLIENT} (make test does)"
    return tool


def run(*command: str | Path, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def generate_types(out: Path) -> CompletedProcess[str]:
    """generate.sh into `out`: the types of the API as the code in this checkout serves it."""
    npm_tool("openapi-typescript")
    return run(CLIENT / "generate.sh", out, env={**os.environ, "PYTHON": sys.executable})


def drift(committed: str, generated: str) -> str | None:
    """None when the committed types are the generated ones, else what differs (a diff)."""
    if committed == generated:
        return None
    lines = difflib.unified_diff(
        committed.splitlines(keepends=True),
        generated.splitlines(keepends=True),
        "src/api.d.ts (committed)",
        "src/api.d.ts (from the current code)",
    )
    return "".join(lines) or "the files differ in their line endings or final newline"
