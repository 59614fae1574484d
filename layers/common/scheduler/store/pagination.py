"""Opaque keyset cursors: base64url of the last row's (sort timestamp, id), as a JSON pair.

A cursor comes back from the client, so decoding checks every element's type (an aware
timestamp, a UUID) before anything reads it: a forged or garbled cursor is InvalidCursor (400),
never a half-read position.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, TypeAdapter, ValidationError

from scheduler.errors import InvalidCursor
from scheduler.store.sql import Cursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Strict: a JSON number is not a timestamp nor an id; a naive timestamp is refused.
_POSITION = TypeAdapter(tuple[AwareDatetime, UUID], config=ConfigDict(strict=True))
_INVALID = "cursor: not a cursor this API returned (pass a page's nextCursor back unchanged)"


def encode_cursor(at: datetime, row_id: UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return _POSITION.validate_json(raw)
    except (binascii.Error, ValueError, ValidationError) as exc:
        raise InvalidCursor(_INVALID) from exc


def page(
    rows: Sequence[dict[str, Any]], limit: int, sort_key: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Split the `limit + 1` rows a store query returned into the page and the next cursor."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    last = items[-1]
    return items, encode_cursor(last[sort_key], last["id"])
