"""The runner's input: EventBridge Scheduler's target Input, or the API's run-now payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler.observability import logger, metrics


class RunnerEvent(BaseModel):
    """EventBridge Scheduler's target Input, or the API's run-now payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schedule_id: UUID = Field(alias="scheduleId")
    workflow_id: UUID = Field(alias="workflowId")
    scheduled_time: datetime = Field(alias="scheduledTime")
    # EventBridge substitutes <aws.scheduler.attempt-number> as a string
    attempt: int = Field(default=1, ge=1, le=1000)
    # catchup and backfill: a waiting run handed on (scheduler.run.queue)
    trigger: Literal["schedule", "manual", "catchup", "backfill"] = "schedule"
    # a moved occurrence's at() delivery (scheduler.sync.moves): its new time
    moved_to: datetime | None = Field(default=None, alias="movedTo")

    @field_validator("scheduled_time", "moved_to")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("scheduledTime needs a UTC offset, e.g. 2026-11-27T07:00:00Z")
        return value.astimezone(UTC)


def parse_event(event: Any) -> RunnerEvent | None:
    """The validated event, or None (logged) when it is malformed: no retry can fix it."""
    try:
        return RunnerEvent.model_validate(event)
    except ValidationError as exc:
        logger.error(
            "malformed runner event dropped",
            errors=exc.errors(include_url=False, include_input=False),
        )
        metrics.add_metric(name="RunEventMalformed", unit=MetricUnit.Count, value=1)
        return None
