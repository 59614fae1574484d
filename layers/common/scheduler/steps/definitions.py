"""Loading a workflow definition from its stored JSON text, within bounds.

A definition is user input that the host app (or its users, through RLS) may write directly, so
it is read as text and loaded here instead of by the database driver: a document nested
thousands deep, or a number no float can hold, becomes an `InvalidWorkflowDefinition` in the
caller's guarded path rather than an exception out of a database read. The database bounds
new definitions the same way (migration `20261201000000_run_path_faults.sql`).

The headers of `http` steps are checked here too, by the rules below, so that a header that
http.client would refuse (its ValueError quotes the value, often a token) is a definition error
that names the header and never quotes its value, wherever the definition is read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

from scheduler.errors import InvalidWorkflowDefinition

MAX_DEFINITION_BYTES = 262_144
MAX_DEFINITION_DEPTH = 32

MAX_HEADERS = 50
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 8192
MAX_SECRET_NAME_CHARS = 512  # Secrets Manager's own limit
MAX_JSON_KEY_CHARS = 256
# RFC 7230 token: stricter than http.client's _is_legal_header_name
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# a control character: C0 but HTAB, DEL, C1 (http.client refuses only CR/LF; servers refuse more)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]+")  # the characters of a Secrets Manager name
_SECRET_REF_KEYS = frozenset({"secretRef", "jsonKey"})


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
    _check_http_headers(document)
    return document


def with_loaded_definition(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow row (its definition stored text) with the definition loaded, or None and
    `definition_error` saying why: a reader that shows workflows never fails on one."""
    try:
        return {
            **workflow,
            "definition": load_definition(workflow["definition"]),
            "definition_error": None,
        }
    except InvalidWorkflowDefinition as exc:
        return {**workflow, "definition": None, "definition_error": str(exc)}


def _check_http_headers(document: dict[str, Any]) -> None:
    steps = document.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else [], start=1):
        if isinstance(step, dict) and step.get("type") == "http" and "headers" in step:
            try:
                check_headers(step["headers"])
            except ValueError as exc:
                raise InvalidWorkflowDefinition(
                    f"step {index} (http): {exc}",
                    step=index,
                    kind="http",
                    field="headers",
                    problem=str(exc),
                ) from None


# --- http step headers


def header_value_problem(value: str) -> str | None:
    """What makes `value` unfit to send as a header value (never quoting it); None if fit."""
    if len(value) > MAX_HEADER_VALUE_CHARS:
        return f"is longer than {MAX_HEADER_VALUE_CHARS} characters"
    if _CONTROL.search(value):
        return "contains a control character (such as CR, LF or NUL)"
    if any(ord(char) > 0xFF for char in value):
        return "contains a character outside Latin-1 (header values are sent as Latin-1)"
    return None


def check_headers(
    headers: Any, *, secret_prefix: str | None = None, protected_secrets: Collection[str] = ()
) -> None:
    """ValueError if `headers` (an http step's) cannot be sent as given.

    A header is named in the message only when its name is a valid token; a value or a secret
    name that is wrong is never quoted (it may be the token itself, pasted in the wrong place).
    With `secret_prefix`, a secret reference must name a secret under it, and not one of
    `protected_secrets` (the stack's own).
    """
    if not isinstance(headers, dict):
        raise ValueError("headers must be an object of header names to values")
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"more than {MAX_HEADERS} headers")
    seen: set[str] = set()
    for position, (name, value) in enumerate(headers.items(), start=1):
        if isinstance(name, str) and len(name) > MAX_HEADER_NAME_CHARS:
            raise ValueError(f"header {position}: name is over {MAX_HEADER_NAME_CHARS} characters")
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"header {position}: name is not a valid HTTP header name (a token)")
        if name.lower() in seen:
            raise ValueError(f"header '{name}': given twice (header names ignore case)")
        seen.add(name.lower())
        if isinstance(value, str):
            problem = header_value_problem(value)
            if problem is not None:
                raise ValueError(f"header '{name}': value {problem}")
        elif isinstance(value, dict):
            _check_secret_ref(name, value, secret_prefix, protected_secrets)
        else:
            raise ValueError(f"header '{name}': value must be a string or {{\"secretRef\": name}}")


def _check_secret_ref(
    header: str, ref: dict[str, Any], prefix: str | None, protected: Collection[str]
) -> None:
    name, key = ref.get("secretRef"), ref.get("jsonKey")
    if not set(ref) <= _SECRET_REF_KEYS or name is None:
        raise ValueError(
            f'header \'{header}\': a secret reference is {{"secretRef": name, "jsonKey"?: key}}'
        )
    if (
        not isinstance(name, str)
        or len(name) > MAX_SECRET_NAME_CHARS
        or not _SECRET_NAME.fullmatch(name)
    ):
        raise ValueError(f"header '{header}': secretRef is not a Secrets Manager secret name")
    if key is not None and (
        not isinstance(key, str) or not 0 < len(key) <= MAX_JSON_KEY_CHARS or _CONTROL.search(key)
    ):
        raise ValueError(
            f"header '{header}': jsonKey must be a key of up to {MAX_JSON_KEY_CHARS} characters"
        )
    if prefix is not None and not name.startswith(prefix):
        raise ValueError(f"header '{header}': secretRef must name a secret under '{prefix}'")
    if name in protected:
        raise ValueError(f"header '{header}': secretRef names one of the scheduler's own secrets")
