"""moto as the local stack runs it: a threaded server whose DynamoDB is atomic per request.

moto checks an UpdateItem/PutItem/DeleteItem `ConditionExpression` and then writes with no
lock in between, and it serves requests concurrently (ThreadedMotoServer on threads, `mock_aws`
in each caller's thread). Two concurrent conditional writes to one item can then both pass:
two runs of a workflow each get its lease (`attribute_not_exists(pk) OR expires_at < :now`),
and one of them fails: as abandoned when a newer fence starts after it, as not started when
its fence is not newer than the one already started. DynamoDB applies a request's
condition and write atomically, so the emulation handles moto's DynamoDB requests one at a time
(in the process that holds moto's state: the stack's, or a test's with `mock_aws`).
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

# Reentrant, so nothing deadlocks should moto ever dispatch one DynamoDB call inside another.
_DYNAMODB_REQUESTS = threading.RLock()


def serialise_dynamodb_requests() -> None:
    """Make every DynamoDB request moto handles in this process atomic (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action
    if getattr(call_action, "_one_at_a_time", False):
        return

    @functools.wraps(call_action)
    def one_at_a_time(self: Any) -> Any:
        with _DYNAMODB_REQUESTS:
            return call_action(self)

    one_at_a_time._one_at_a_time = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = one_at_a_time  # type: ignore[method-assign]


def start_moto_server() -> tuple[Any, str]:
    """A started ThreadedMotoServer on a free loopback port, and its URL."""
    from moto.server import ThreadedMotoServer

    serialise_dynamodb_requests()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
