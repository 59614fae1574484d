"""The shapes of a schedule's exceptions: `skip` one fire time, or `move` it to another instant
(scheduler.api.schedule_exceptions says what is accepted)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from scheduler.models.base import ApiModel, ApiRequest, checked_text

_OCCURRENCE = (
    "The fire time to skip or move: an ISO 8601 instant (2026-12-11T07:00:00Z) or a wall-clock"
    " time without offset in the schedule's timezone (2026-12-11T08:00:00). Either instant of a"
    " repeated autumn wall time names the same occurrence (stored as its first instant)."
)
_MOVE_TO = (
    "For `move` only: the new instant, written like `occurrence`, whole minutes, at least a"
    " minute from now, at most 7 days from the occurrence. The run keeps the occurrence's"
    " identity."
)


class ExceptionCreate(ApiRequest):
    occurrence: str = Field(max_length=64, description=_OCCURRENCE)
    action: Literal["skip", "move"]
    move_to: str | None = Field(default=None, max_length=64, description=_MOVE_TO)
    note: str | None = Field(default=None, max_length=500, description="why (shown in the run)")

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return None if value is None else checked_text(value, "note")

    @model_validator(mode="after")
    def _move_to_for_move_only(self) -> ExceptionCreate:
        if self.action == "move" and self.move_to is None:
            raise ValueError("moveTo: required for action move")
        if self.action == "skip" and self.move_to is not None:
            raise ValueError("moveTo: only for action move; send no moveTo with skip")
        return self


class ScheduleException(ApiModel):
    """One exception of a schedule."""

    id: UUID
    schedule_id: UUID
    occurrence: datetime = Field(description="the fire time's slot (UTC)")
    action: Literal["skip", "move"]
    move_to: datetime | None = None
    note: str | None = None
    created_at: datetime
    created_by: str


class ExceptionList(ApiModel):
    items: list[ScheduleException]
