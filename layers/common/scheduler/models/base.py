"""The base of the API's data shapes (pydantic v2): camelCase in JSON, snake_case in Python,
and the checks every text and instant field shares."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Control characters (NUL, which Postgres text cannot hold, among them) and lone surrogates.
_UNPRINTABLE = frozenset({"Cc", "Cs"})


class ApiModel(BaseModel):
    """camelCase in JSON, snake_case in Python; unknown fields are an error, not ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


def utc_instant(value: datetime | None, field: str) -> datetime | None:
    """An aware datetime as UTC; ValueError for one past year 9999 there (or before year 1)."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
        raise ValueError(f"{field}: out of range (years 1 to 9999 in UTC)") from None


def checked_text(value: str, field: str, *, if_blank: str = "") -> str:
    """A one-line text Postgres can hold and a person can read: no control characters, not
    only spaces or invisible format characters; trimmed."""
    if any(unicodedata.category(c) in _UNPRINTABLE for c in value):
        raise ValueError(f"{field}: no control characters (line breaks and tabs included)")
    if all(unicodedata.category(c)[0] == "Z" or unicodedata.category(c) == "Cf" for c in value):
        raise ValueError(f"{field} cannot be blank{if_blank}")
    return value.strip()
