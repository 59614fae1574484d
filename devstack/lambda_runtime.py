"""The runtime inside one local Lambda container (a process): import the handler, then serve.

Started by `devstack.lambda_endpoint` as `python -m devstack.lambda_runtime FD NAME HANDLER
TIMEOUT_S MEMORY_MB`; FD is its end of a socket pair carrying one invocation at a time.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import traceback
from multiprocessing.connection import Connection

from devstack.apigw import LambdaContext


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
    return json.dumps(body).encode()


def serve(conn: Connection, name: str, handler_path: str, timeout_s: float, memory_mb: int) -> None:
    init_error: bytes | None = None
    try:
        module_name, _, attribute = handler_path.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # Lambda reports a broken module on every invocation
        init_error = error_payload("Runtime.ImportModuleError", f"{handler_path}: {exc}")
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the stack went away
            return
        if message is None:
            return
        request_id, payload = message
        if init_error is not None:
            conn.send(("Unhandled", init_error))
            continue
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=memory_mb,
            timeout_s=timeout_s,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
        )
        try:
            result = handler(json.loads(payload) if payload else {}, context)
            conn.send((None, json.dumps(result).encode()))
        except Exception as exc:
            stack = traceback.format_tb(exc.__traceback__)
            conn.send(("Unhandled", error_payload(type(exc).__name__, str(exc), stack)))


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the stack, which stops us
    fd, name, handler_path, timeout_s, memory_mb = argv[1:6]
    serve(Connection(int(fd)), name, handler_path, float(timeout_s), int(memory_mb))


if __name__ == "__main__":
    main(sys.argv)
