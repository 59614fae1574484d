"""The product's data shapes (pydantic v2). Python speaks snake_case, JSON speaks camelCase.

`Schedule` is the Python counterpart of the seed's TypeScript `Schedule` interface;
`python -m scheduler.models schema` writes the JSON Schema a TypeScript front end generates
types from.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from scheduler import cron

RunStatus = Literal["running", "succeeded", "failed", "skipped"]
RunTrigger = Literal["schedule", "manual"]
WorkflowStatus = Literal["idle", "running"]


class ApiModel(BaseModel):
    """camelCase in JSON, snake_case in Python; unknown fields are an error, not ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


def _checked_cron(value: str) -> str:
    cron.to_eventbridge(value)  # raises CronError (a ValueError) naming the field and reason
    return value.strip()


def _checked_timezone(value: str) -> str:
    return cron.validate_timezone(value)


class ScheduleCreate(ApiModel):
    workflow_id: UUID
    cron: str = Field(max_length=256, examples=["0 7 * * *"])
    enabled: bool = True
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Berlin"])

    _cron = field_validator("cron")(_checked_cron)
    _timezone = field_validator("timezone")(_checked_timezone)

    @model_validator(mode="after")
    def _fires_in_its_timezone(self) -> ScheduleCreate:
        cron.ensure_fires(self.cron, self.timezone)
        return self


def _omittable_not_null(schema: dict[str, Any]) -> None:
    """The schema of what ScheduleUpdate accepts: each field may be left out, none may be null,
    and at least one must be given (pydantic alone would document `null` and `{}` as fine)."""
    schema["minProperties"] = 1
    for field in schema.get("properties", {}).values():
        alternatives = [s for s in field.pop("anyOf", []) if s.get("type") != "null"]
        if alternatives:
            field.update(alternatives[0])
        field.pop("default", None)


class ScheduleUpdate(ApiModel):
    model_config = ConfigDict(json_schema_extra=_omittable_not_null)

    cron: str | None = Field(default=None, max_length=256)
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _checked_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _checked_timezone(value)

    @model_validator(mode="after")
    def _something_to_change(self) -> ScheduleUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to update: give at least one of cron, timezone, enabled")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{to_camel(name)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent, snake_case, for the store."""
        return self.model_dump(include=self.model_fields_set, by_alias=False)


class Schedule(ApiModel):
    id: UUID
    workflow_id: UUID
    cron: str
    timezone: str
    enabled: bool
    last_run_at: datetime | None = None
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime


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


# --- API views: what the Schedules API returns on top of the stored rows


class ScheduleView(Schedule):
    """A schedule as the API shows it: the row plus what its cron means."""

    model_config = ConfigDict(extra="ignore")  # built from rows, which may grow columns

    description: str = Field(examples=["At 07:00 AM"])
    eventbridge_expressions: list[str] = Field(examples=[["cron(0 7 * * ? *)"]])
    next_run_at: datetime | None = None
    # Why the stored cron or timezone can no longer be scheduled (e.g. a zone removed from
    # tzdata); null when it can. Such a row does not fire; send a new value to repair it.
    invalid_reason: str | None = Field(
        default=None, examples=["timezone: unknown timezone 'US/Pacific-New'"]
    )


class LastRun(ApiModel):
    model_config = ConfigDict(extra="ignore")

    status: RunStatus
    scheduled_time: datetime
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class DstNote(ApiModel):
    """A DST change within the next year that skips or repeats wall times the cron names."""

    kind: Literal["skipped", "once"] = Field(
        description="skipped: those wall times do not exist that day and do not fire; "
        "once: they occur twice and fire once, at their first occurrence"
    )
    wall_time: str = Field(
        description="the first affected wall time the cron names, in the schedule's timezone",
        examples=["2027-03-28T02:30"],
    )
    last_wall_time: str = Field(
        description="the last one (the same as wallTime when one fire is affected)",
        examples=["2027-03-28T02:30"],
    )
    fires: int = Field(description="how many of the cron's wall times the change affects")
    at: datetime | None = Field(description="when wallTime fires (UTC); null when skipped")
    note: str = Field(
        examples=["02:30 does not exist on 2027-03-28 in Europe/Berlin: this fire is skipped"]
    )


class ScheduleDetail(ScheduleView):
    next_run_times: list[datetime] = Field(default_factory=list)
    # Only an enabled, schedulable schedule has any; one per DST change of the next 365 days.
    dst_notes: list[DstNote] = Field(default_factory=list)
    last_run: LastRun | None = None


class SchedulePage(ApiModel):
    items: list[ScheduleView]
    next_cursor: str | None = None


class RunPage(ApiModel):
    items: list[Run]
    next_cursor: str | None = None


class WorkflowPage(ApiModel):
    items: list[Workflow]
    next_cursor: str | None = None


# --- API keys: service credentials (scheduler.key_service)

# Control characters (NUL, which Postgres text cannot hold, among them) and lone surrogates.
_UNPRINTABLE = frozenset({"Cc", "Cs"})


class ApiKeyCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100, examples=["billing worker"])
    # The one owner whose workflows the key acts on; null: every tenant's.
    owner_id: UUID | None = None
    read_only: StrictBool = False  # "no" must not quietly make a key that writes
    # When the key stops working; null: until it is revoked.
    expires_at: AwareDatetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if any(unicodedata.category(c) in _UNPRINTABLE for c in value):
            raise ValueError("name: no control characters")
        if all(unicodedata.category(c)[0] == "Z" or unicodedata.category(c) == "Cf" for c in value):
            raise ValueError("name cannot be blank")
        return value.strip()

    @field_validator("expires_at")
    @classmethod
    def _expires_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
            raise ValueError("expiresAt: too far in the future") from None


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


class CronPreviewRequest(ApiModel):
    # Not validated here: an invalid cron is a normal answer of the preview, not a 422.
    cron: str = Field(max_length=1024, examples=["*/15 9-17 * * MON-FRI"])
    timezone: str = Field(default="UTC", max_length=256, examples=["Europe/Berlin"])


class CronPreview(ApiModel):
    valid: bool
    cron: str
    timezone: str
    error: str | None = None
    description: str | None = None
    eventbridge_expressions: list[str] = Field(default_factory=list)
    next_run_times: list[datetime] = Field(default_factory=list)
    dst_notes: list[DstNote] = Field(default_factory=list)  # none for an invalid cron


class RunAccepted(ApiModel):
    schedule_id: UUID
    scheduled_time: datetime
    runs_url: str


class ErrorDetail(ApiModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(ApiModel):
    error: ErrorDetail


class GatewayUnauthorized(BaseModel):
    """API Gateway's own answer when the Authorization header is missing or empty."""

    model_config = ConfigDict(extra="forbid")

    message: Literal["Unauthorized"]


class GatewayForbidden(BaseModel):
    """API Gateway's own answer when the authorizer refuses the token."""

    model_config = ConfigDict(extra="forbid")

    message: Literal["Forbidden"]


class ForbiddenBody(RootModel[GatewayForbidden | ErrorBody]):
    """A 403: API Gateway's when the authorizer refuses a token, or the API's own (ErrorBody,
    code `forbidden`) when valid credentials may not do this."""


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas (as sent over the wire: camelCase) of the API's models."""
    return {
        "Schedule": Schedule.model_json_schema(mode="serialization"),
        "ScheduleCreate": ScheduleCreate.model_json_schema(mode="validation"),
        "ScheduleUpdate": ScheduleUpdate.model_json_schema(mode="validation"),
        "Workflow": Workflow.model_json_schema(mode="serialization"),
        "Run": Run.model_json_schema(mode="serialization"),
        "ScheduleView": ScheduleView.model_json_schema(mode="serialization"),
        "ScheduleDetail": ScheduleDetail.model_json_schema(mode="serialization"),
        "CronPreview": CronPreview.model_json_schema(mode="serialization"),
        "ErrorBody": ErrorBody.model_json_schema(mode="serialization"),
        "GatewayUnauthorized": GatewayUnauthorized.model_json_schema(mode="serialization"),
        "GatewayForbidden": GatewayForbidden.model_json_schema(mode="serialization"),
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["schema"]:
        sys.exit("usage: python -m scheduler.models schema")
    for path in write_schemas(Path("schema")):
        print(f"wrote {path}")
