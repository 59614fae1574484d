"""The workflows' shapes as the API shows them: one workflow with its state, and a page of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from scheduler.models.base import ApiModel

WorkflowStatus = Literal["idle", "running"]


class Workflow(ApiModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    owner_id: UUID | None = None
    name: str
    # None when the stored definition cannot be loaded; definitionError says why
    definition: dict[str, Any] | None = Field(default_factory=dict)
    definition_error: str | None = None
    status: WorkflowStatus
    run_count: int
    last_run_at: datetime | None = None
    last_run_status: Literal["succeeded", "failed"] | None = None
    created_at: datetime
    updated_at: datetime


class WorkflowPage(ApiModel):
    items: list[Workflow]
    next_cursor: str | None = None
