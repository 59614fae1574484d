"""Loading a workflow definition from its stored JSON text, within bounds.

A definition is user input that the host app (or its users, through RLS) may write directly, so
it is read as text and loaded here instead of by the database driver: a document nested
thousands deep, or a number no float can hold, becomes an `InvalidWorkflowDefinition` in the
caller's guarded path rather than an exception out of a database read. The database bounds
new definitions the same way (migration `20261201000000_run_path_faults.sql`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from scheduler.errors import InvalidWorkflowDefinition

MAX_DEFINITION_BYTES = 262_144
MAX_DEFINITION_DEPTH = 32


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """Nesting depth, walked without recursion (the document may be deeper than the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEFINITION_DEPTH:
            break
        if isinstance(node, dict):
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return deepest


def load_definition(text: str | None) -> dict[str, Any]:
    """The definition as a dict; InvalidWorkflowDefinition says why it cannot be loaded."""
    if text is None:
        raise InvalidWorkflowDefinition("invalid definition: missing")
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidWorkflowDefinition(
            f"invalid definition: larger than {MAX_DEFINITION_BYTES} bytes"
        )
    try:
        document = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError as exc:
        raise InvalidWorkflowDefinition(
            f"invalid definition: nested deeper than {MAX_DEFINITION_DEPTH} levels"
        ) from exc
    except ValueError as exc:
        raise InvalidWorkflowDefinition(f"invalid definition: {exc}") from exc
    if _depth(document) > MAX_DEFINITION_DEPTH:
        raise InvalidWorkflowDefinition(
            f"invalid definition: nested deeper than {MAX_DEFINITION_DEPTH} levels"
        )
    if not isinstance(document, dict):
        raise InvalidWorkflowDefinition("invalid definition: must be a JSON object")
    return document
