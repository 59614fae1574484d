"""The base of the API's data shapes (pydantic v2): camelCase in JSON, snake_case in Python,
and the checks every text and instant field shares.

A request body (`ApiRequest`) accepts only the camelCase names: `workflow_id` is an unknown
field, refused with the name to write instead. The shapes the API answers with (`ApiModel`) are
also built from snake_case rows (`model_validate(row)`), so they accept both names.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

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


class ApiRequest(ApiModel):
    """A request body: its fields by their JSON (camelCase) names only; unknown fields refused.

    Python code builds one with the JSON names too (`ScheduleCreate(workflowId=...)` or
    `model_validate({...})`): one rule for every way a request is made.
    """

    model_config = ConfigDict(validate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _json_names_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic refuses it as not an object
        aliases = {
            name: field.alias
            for name, field in cls.model_fields.items()
            if field.alias and field.alias != name
        }
        for key in data:
            if key in aliases:
                # The type of pydantic's own unknown-field error: clients that handle one handle it.
                raise PydanticCustomError(
                    "extra_forbidden",
                    "{key}: unknown field; write {alias} (the API's field names are camelCase)",
                    {"key": key, "alias": aliases[key]},
                )
        return data
