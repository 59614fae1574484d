"""A schedule's labels: a small map of string -> string the caller sorts its schedules by
(`team=payments`, `env=prod`), and filters the list by (GET /api/schedules?label=team=payments).

Bounds, Kubernetes-like so that labels copied from there fit: at most 16 labels; a key is 1 to
63 of a-z 0-9 _ . - / starting with a letter or a digit; a value is a string of at most 63
characters without control characters (it may be empty). The database holds the same bounds
(migrations/20261209000200_schedule_labels.sql).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

MAX_LABELS = 16
LABEL_KEY_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
LABEL_KEY_PATTERN = rf"^[a-z0-9][a-z0-9_./-]{{0,{LABEL_KEY_MAX_LENGTH - 1}}}$"
_LABEL_KEY = re.compile(LABEL_KEY_PATTERN)

# The same bounds in the OpenAPI document (client generators, schemathesis' generated labels).
LABELS_JSON_SCHEMA: dict[str, Any] = {
    "maxProperties": MAX_LABELS,
    "propertyNames": {"pattern": LABEL_KEY_PATTERN},
    "additionalProperties": {
        "type": "string",
        "maxLength": LABEL_VALUE_MAX_LENGTH,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
    },
}

LABELS_DESCRIPTION = (
    f"Your labels for the schedule, to find it by (GET /api/schedules?label=key=value): at most"
    f" {MAX_LABELS}; a key is 1 to {LABEL_KEY_MAX_LENGTH} of a-z 0-9 _ . - / starting with a"
    f" letter or a digit; a value is a string of at most {LABEL_VALUE_MAX_LENGTH} characters"
    " without control characters"
)


def checked_label(key: str, value: str, field: str = "labels") -> None:
    """ValueError naming the label (`labels.team`) when the key or the value is out of bounds."""
    if not _LABEL_KEY.fullmatch(key):
        raise ValueError(
            f"{field}: key {key!r}: 1 to {LABEL_KEY_MAX_LENGTH} of a-z 0-9 _ . - / starting"
            " with a letter or a digit"
        )
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        raise ValueError(
            f"{field}.{key}: at most {LABEL_VALUE_MAX_LENGTH} characters ({len(value)} given)"
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ValueError(f"{field}.{key}: no control characters")


def checked_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The labels as sent when within bounds (None is no labels); ValueError naming the label."""
    if labels is None:
        return {}
    if len(labels) > MAX_LABELS:
        raise ValueError(f"labels: at most {MAX_LABELS} ({len(labels)} given)")
    for key, value in labels.items():
        checked_label(key, value)
    return dict(labels)
