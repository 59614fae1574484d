"""The runs' data shapes: a run row as the API shows it, run now, and backfill."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scheduler.models.base import ApiModel, ApiRequest, utc_instant

RunStatus = Literal["running", "succeeded", "failed", "skipped", "missed", "buffered"]
RunTrigger = Literal["schedule", "manual", "catchup", "backfill"]
BACKFILL_MAX_FIRES = 1000


class Run(ApiModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    schedule_id: UUID
    workflow_id: UUID
    trigger: RunTrigger
    scheduled_time: datetime
    status: RunStatus
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    output: Any = None


class RunPage(ApiModel):
    items: list[Run]
    next_cursor: str | None = None


class LastRun(ApiModel):
    model_config = ConfigDict(extra="ignore")

    status: RunStatus
    scheduled_time: datetime
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class RunAccepted(ApiModel):
    schedule_id: UUID
    scheduled_time: datetime
    runs_url: str


class BackfillRequest(ApiRequest):
    """Replay the schedule's fire times in [from, to]: each runs through the runner, oldest
    first, one at a time (trigger `backfill`); a fire time that ran already is kept, one recorded
    `missed` is run. Every fire time must lie within the run history kept (RunHistoryDays less a
    day), where "ran already" can still be known, else 422."""

    from_: AwareDatetime = Field(alias="from", examples=["2026-11-01T00:00:00Z"])
    to: AwareDatetime = Field(examples=["2026-11-08T00:00:00Z"])

    @field_validator("from_", "to")
    @classmethod
    def _instant(cls, value: datetime, info: ValidationInfo) -> datetime:
        name = "from" if info.field_name == "from_" else "to"
        instant = utc_instant(value, name)
        assert instant is not None
        return instant

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.to < self.from_:
            raise ValueError("to must not be before from")
        return self


class BackfillAccepted(ApiModel):
    schedule_id: UUID
    fires: int = Field(description="Fire times of the schedule in the interval")
    queued: int = Field(description="Of those, the ones queued to run (the others had a run)")
    runs_url: str
