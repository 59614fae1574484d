"""The workflows' shapes: what a create or change sends, one workflow with its state as the API
shows it, and a page of them. The definition is checked as the runner loads it by the use case
(scheduler.api.workflows), not here: the step kinds live above the shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator, model_validator

from scheduler.models.base import ApiModel, checked_text

WorkflowStatus = Literal["idle", "running"]
WORKFLOW_NAME_MAX_LENGTH = 200
_DEFINITION = (
    'the steps the runner runs in order: {"steps": [{"type": "http", "url": ...}, {"type":'
    ' "lambda", "functionArn": ...}]}, at most 50 steps, 262,144 bytes, 32 levels deep'
)
_EXAMPLE_DEFINITION = {
    "steps": [{"type": "http", "method": "POST", "url": "https://example.com/hooks/report"}]
}


def _checked_name(value: str) -> str:
    return checked_text(value, "name")


class WorkflowCreate(ApiModel):
    name: str = Field(min_length=1, max_length=WORKFLOW_NAME_MAX_LENGTH, examples=["daily report"])
    definition: dict[str, Any] = Field(description=_DEFINITION, examples=[_EXAMPLE_DEFINITION])
    # Whose workflow it is: required of a credential for every tenant, else the caller's own.
    owner_id: UUID | None = Field(
        default=None,
        description="the owner the workflow is for: required with a credential for every"
        " tenant; a user's token or an owner's key creates for its own owner (leave it out)",
    )

    _name = field_validator("name")(_checked_name)


def _omittable(schema: dict[str, Any]) -> None:
    """Each field may be left out, none may be null, at least one is given."""
    schema["minProperties"] = 1
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
        alternatives = [s for s in field.pop("anyOf", []) if s.get("type") != "null"]
        if alternatives:
            field.update(alternatives[0])


class WorkflowUpdate(ApiModel):
    model_config = ConfigDict(json_schema_extra=_omittable)

    name: str | None = Field(default=None, min_length=1, max_length=WORKFLOW_NAME_MAX_LENGTH)
    definition: dict[str, Any] | None = Field(default=None, description=_DEFINITION)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _checked_name(value)

    @model_validator(mode="after")
    def _something_to_change(self) -> WorkflowUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to update: give name and/or definition")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


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
