"""A schedule's `input`: the JSON object its runs receive, and its bounds.

The API checks a new input here (a 422 naming `input`), the database by the CHECK
`schedules_input_bounds` (migration 20261208000200) with the same bounds, and the runner loads
the stored text with `load_input`, within them again: what a fire loads is small and parseable
whoever wrote the row. The depth is counted as the definitions' (scheduler.steps.definitions)
and Postgres' `public.jsonb_depth`: the object is level 1, each value inside it one more.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Of its JSON text as Postgres writes it (`input::text`), about its size in a request body: a
# create or update carrying the largest input stays well inside the API's 16 KiB body limit.
MAX_INPUT_BYTES = 8192
MAX_INPUT_DEPTH = 16


class InvalidScheduleInput(ValueError):
    """A schedule's input that is not a bounded JSON object (the message never quotes it)."""


def input_problem(value: Any) -> str | None:
    """What makes `value` unfit as a schedule's input, never quoting it; None if fit."""
    if not isinstance(value, dict):
        return "must be a JSON object"
    if _too_deep(value):
        return f"is nested deeper than {MAX_INPUT_DEPTH} levels"
    if _holds_nul(value):
        return "contains a NUL character (\\u0000), which Postgres cannot store"
    try:
        # Postgres' text of a jsonb: ", " and ": " between items, UTF-8 unescaped
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return "must be JSON (NaN and Infinity are not JSON numbers)"
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_INPUT_BYTES:
        return f"is larger than {MAX_INPUT_BYTES} bytes of JSON"
    return None


def checked_input(value: Any) -> dict[str, Any]:
    """`value` if fit as an input (null is the empty object); ValueError saying why not."""
    if value is None:
        return {}
    problem = input_problem(value)
    if problem is not None:
        raise ValueError(f"input {problem}")
    assert isinstance(value, dict)  # input_problem refuses anything else
    return value


def load_input(text: str | None) -> dict[str, Any]:
    """The stored input's JSON text as a dict, within the bounds; InvalidScheduleInput if not."""
    if text is None:
        return {}
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_INPUT_BYTES:
        raise InvalidScheduleInput(f"invalid schedule input: larger than {MAX_INPUT_BYTES} bytes")
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidScheduleInput(
            f"invalid schedule input: nested deeper than {MAX_INPUT_DEPTH} levels"
        ) from None
    except ValueError as exc:
        raise InvalidScheduleInput(f"invalid schedule input: not JSON ({exc})") from None
    problem = input_problem(value)
    if problem is not None:
        raise InvalidScheduleInput(f"invalid schedule input: {problem}")
    return value


def _too_deep(value: Any) -> bool:
    """Walked without recursion: the value may be deeper than the stack."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_INPUT_DEPTH:
            return True
        if isinstance(node, dict):
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return False


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str) and "\x00" in node:
            return True
        if isinstance(node, dict):
            if any("\x00" in key for key in node if isinstance(key, str)):
                return True
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
