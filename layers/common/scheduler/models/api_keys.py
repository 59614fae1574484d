"""The API keys' data shapes: service credentials (scheduler.auth.key_service)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, field_validator

from scheduler.models.base import ApiModel, ApiRequest, checked_text, utc_instant


class ApiKeyCreate(ApiRequest):
    name: str = Field(min_length=1, max_length=100, examples=["billing worker"])
    # The one owner whose workflows the key acts on; null: every tenant's.
    owner_id: UUID | None = None
    read_only: StrictBool = False  # "no" must not quietly make a key that writes
    # When the key stops working; null: until it is revoked.
    expires_at: AwareDatetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return checked_text(value, "name")

    @field_validator("expires_at")
    @classmethod
    def _expires_at(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value, "expiresAt")


class ApiKey(ApiModel):
    """A key as listed: what it may do and its history; never its secret."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    owner_id: UUID | None = None
    read_only: bool
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    # The key itself, shown this once: only its hash is stored.
    key: str = Field(examples=["wsk_6f1c0e8e4bd94f7e9d0a3b2c1d4e5f60_" + "0" * 64])


class ApiKeyPage(ApiModel):
    items: list[ApiKey]
    next_cursor: str | None = None
