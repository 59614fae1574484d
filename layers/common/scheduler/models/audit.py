"""The audit log's data shapes: one recorded change of a schedule or an API key, and a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from scheduler.models.base import ApiModel

AuditSubjectType = Literal["schedule", "api_key"]

_CHANGES = (
    "Each changed field, by its API name, with its value before and after as the API shows it"
    " (null: not set, or the schedule did not exist before / does not after). A schedule's"
    " input is recorded by its size only: {bytes}."
)


class AuditEvent(ApiModel):
    """One change, recorded in the transaction that made it."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    occurred_at: datetime
    owner_id: UUID | None = Field(
        default=None, description="whose schedule or key it is; null: the service's"
    )
    actor: str = Field(
        description='who made it: "user:<id>", "api_key:<id>", "service_role",'
        ' "scheduler" (the runner: a pause after failures, a critical error\'s disable), or'
        ' "operator:<login>" (make api-key)',
        examples=["user:6f1c2a4e-8f8e-4a59-9a3e-0d7f4b1c2d3e"],
    )
    request_id: str | None = Field(
        default=None, description="the API request's id (API Gateway's requestId)"
    )
    subject_type: AuditSubjectType
    subject_id: UUID
    action: str = Field(
        description="created, updated, paused, resumed, deleted, run_now, backfill, bulk_paused,"
        " bulk_resumed, auto_paused, disabled, key_issued, key_revoked",
        examples=["paused"],
    )
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description=_CHANGES,
        examples=[{"enabled": {"before": True, "after": False}}],
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="what else it says: a pause's note, a run's id, a backfill's interval, a"
        " key's name and scope",
    )


class AuditEventPage(ApiModel):
    items: list[AuditEvent]
    next_cursor: str | None = None
