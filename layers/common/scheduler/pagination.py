"""Opaque keyset cursors: base64url of the last row's (sort timestamp, id)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from scheduler.errors import InvalidCursor
from scheduler.store import Cursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(at: datetime, row_id: UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at_text, id_text = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at, UUID(id_text)
    except (binascii.Error, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidCursor("cursor: not a cursor this API returned") from exc


def page(
    rows: Sequence[dict[str, Any]], limit: int, sort_key: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Split the `limit + 1` rows a store query returned into the page and the next cursor."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    last = items[-1]
    return items, encode_cursor(last[sort_key], last["id"])
