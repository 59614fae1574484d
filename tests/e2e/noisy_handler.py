"""A test function for the local Lambda service that writes every kind of output a handler can:
Powertools records at INFO and WARNING, one with a traceback, print() and stderr text, a
warning of a plain logging logger; then it raises."""

from __future__ import annotations

import logging
import sys
from typing import Any

from scheduler.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.info("starting", marker=event["marker"])
    logger.warning("something looks off", error="first line of the error\nsecond line")
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        logger.exception("a step crashed")
    print("printed text")
    print("text on stderr", file=sys.stderr)
    logging.getLogger("some.library").warning("a library warns")
    raise RuntimeError("the handler fails on purpose\nwith a second line")
