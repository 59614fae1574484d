"""A test function for the local Lambda service: runs until the test lets it finish.

Each invocation connects to the test's gate (GATE_ADDR, "host:port"), says which event it
runs, and returns only once the gate answers, so a test holds invocations running for as long
as it needs and knows exactly which ones have started.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    host, port = os.environ["GATE_ADDR"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as conn:
        started = {"id": event.get("id"), "requestId": context.aws_request_id}
        conn.sendall(json.dumps(started).encode() + b"\n")
        conn.makefile("rb").readline()  # the gate's word to finish
    return {"id": event.get("id")}
