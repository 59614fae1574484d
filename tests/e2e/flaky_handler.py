"""A test function for the local Lambda service: fails its first N invocations of an event.

Each invocation appends its request id to the file named by FLAKY_LOG; an event
`{"fail": N}` raises while the file holds at most N lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    log = Path(os.environ["FLAKY_LOG"])
    with log.open("a") as file:
        file.write(context.aws_request_id + "\n")
    attempts = len(log.read_text().splitlines())
    if attempts <= int(event.get("fail", 0)):
        raise RuntimeError(f"attempt {attempts} fails on purpose")
    return {"attempts": attempts}
