"""The schedules' data shapes (pydantic v2): create, update, views, previews, errors. Python
speaks snake_case, JSON speaks camelCase (scheduler.models.base); the runs' shapes are in
scheduler.models.runs, the API keys' in scheduler.models.api_keys.

`Schedule` is the Python counterpart of the seed's TypeScript `Schedule` interface;
`python -m scheduler.models.schedules schema` writes the JSON Schema a TypeScript front end
generates types from.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from scheduler import cron
from scheduler.models.base import ApiModel, checked_text, utc_instant
from scheduler.models.runs import LastRun, Run

CatchupPolicy = Literal["skip", "latest", "all"]
OverlapPolicy = Literal["skip", "buffer_one"]
WorkflowStatus = Literal["idle", "running"]


def _checked_cron(value: str) -> str:
    cron.to_eventbridge(value)  # raises CronError (a ValueError) naming the field and reason
    return value.strip()


def _checked_timezone(value: str) -> str:
    return cron.validate_timezone(value)


NOTE_MAX_LENGTH = 500
FLEXIBLE_WINDOW_MAX_MINUTES = 1440  # EventBridge's MaximumWindowInMinutes
CATCHUP_WINDOW_MIN_SECONDS = 60
CATCHUP_WINDOW_MAX_SECONDS = 604_800  # a week: the missed-fire check looks no further back


def _checked_note(value: str | None) -> str | None:
    if value is None:
        return None
    return checked_text(value, "note", if_blank=": send null to remove it")


def check_window(start_at: datetime | None, end_at: datetime | None) -> None:
    """ValueError unless the window is empty, open at one end, or ends after it starts."""
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise ValueError("endAt must be after startAt")


def first_fire_in_window(
    expr: str,
    timezone: str,
    now: datetime,
    start_at: datetime | None,
    end_at: datetime | None,
    count: int = 1,
) -> list[datetime]:
    """The next `count` fire times after `now` inside [start_at, end_at] (either end open)."""
    after = now if start_at is None else max(now, start_at - timedelta(microseconds=1))
    if end_at is not None and end_at <= after:
        return []
    try:
        return cron.next_fire_times(expr, timezone, after, count, until=end_at)
    except OverflowError:  # a window starting so late that its wall clock passes year 9999
        return []


# Descriptions shared by the models that carry the window fields (create, update, reads).
_START_AT = "The schedule fires only at fire times at or after this instant (EventBridge StartDate)"
_END_AT = "The schedule fires only at fire times at or before this instant (EventBridge EndDate)"
_FLEXIBLE = (
    "EventBridge FlexibleTimeWindow: 0 fires at the exact time; N lets EventBridge invoke up to "
    "N minutes later to spread load. The run is still recorded under the nominal fire time"
)
_NOTE = "Free text shown with the schedule (why it was paused, who owns it); never interpreted"
_CATCHUP = (
    "What to do with fire times that did not run (missed: no run had started some minutes after "
    "they were due). skip: record them `missed`; latest: run the most recent one within "
    "catchupWindowSeconds (trigger `catchup`); all: run every one within it, oldest first, one "
    "at a time"
)
_CATCHUP_WINDOW = (
    "A missed fire time runs only if the missed-fire check found it at most this many seconds "
    "after it was due: one due while the check was up always is; after an outage of the check, "
    "at its first pass"
)
_OVERLAP = (
    "A fire that finds its workflow running: skip records it `skipped`; buffer_one keeps at "
    "most one waiting (`buffered`) that runs as soon as the current run ends"
)


class ScheduleCreate(ApiModel):
    workflow_id: UUID
    cron: str = Field(max_length=256, examples=["0 7 * * *"])
    enabled: bool = True
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Berlin"])
    start_at: AwareDatetime | None = Field(
        default=None,
        description=_START_AT + "; null: from now on",
        examples=["2027-01-04T00:00:00+01:00"],
    )
    end_at: AwareDatetime | None = Field(
        default=None,
        description=_END_AT + "; null: for ever",
        examples=["2027-03-31T00:00:00+02:00"],
    )
    flexible_window_minutes: StrictInt = Field(
        default=0, ge=0, le=FLEXIBLE_WINDOW_MAX_MINUTES, description=_FLEXIBLE
    )
    note: str | None = Field(
        default=None,
        max_length=NOTE_MAX_LENGTH,
        description=_NOTE,
        examples=["paused until the Q1 data is in; owner: billing team"],
    )
    catchup_policy: CatchupPolicy = Field(default="skip", description=_CATCHUP)
    catchup_window_seconds: StrictInt = Field(
        default=3600,
        ge=CATCHUP_WINDOW_MIN_SECONDS,
        le=CATCHUP_WINDOW_MAX_SECONDS,
        description=_CATCHUP_WINDOW,
    )
    overlap_policy: OverlapPolicy = Field(default="skip", description=_OVERLAP)

    _cron = field_validator("cron")(_checked_cron)
    _timezone = field_validator("timezone")(_checked_timezone)
    _note = field_validator("note")(_checked_note)

    @field_validator("start_at", "end_at")
    @classmethod
    def _instant(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return utc_instant(value, to_camel(info.field_name or ""))

    @model_validator(mode="after")
    def _fires_in_its_timezone(self) -> ScheduleCreate:
        cron.ensure_fires(self.cron, self.timezone)
        check_window(self.start_at, self.end_at)
        now = datetime.now(UTC)
        if self.end_at is not None and self.end_at <= now:
            raise ValueError("endAt is in the past: a schedule created now would never fire")
        if (self.start_at or self.end_at) and not first_fire_in_window(
            self.cron, self.timezone, now, self.start_at, self.end_at
        ):
            raise ValueError("the cron has no fire time between startAt and endAt")
        return self


# The fields of ScheduleUpdate that null clears; every other one refuses null.
CLEARABLE_FIELDS = frozenset({"start_at", "end_at", "note"})


def _omittable(schema: dict[str, Any]) -> None:
    """The schema of what ScheduleUpdate accepts: each field may be left out, only the clearable
    ones may be null, and at least one must be given (pydantic alone would document `null` for
    every field and `{}` as fine)."""
    schema["minProperties"] = 1
    clearable = {to_camel(name) for name in CLEARABLE_FIELDS}
    for name, field in schema.get("properties", {}).items():
        field.pop("default", None)
        if name in clearable:
            continue
        alternatives = [s for s in field.pop("anyOf", []) if s.get("type") != "null"]
        if alternatives:
            field.update(alternatives[0])


class ScheduleUpdate(ApiModel):
    model_config = ConfigDict(json_schema_extra=_omittable)

    cron: str | None = Field(default=None, max_length=256)
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    start_at: AwareDatetime | None = Field(
        default=None, description=_START_AT + "; null removes it"
    )
    end_at: AwareDatetime | None = Field(default=None, description=_END_AT + "; null removes it")
    flexible_window_minutes: StrictInt | None = Field(
        default=None, ge=0, le=FLEXIBLE_WINDOW_MAX_MINUTES, description=_FLEXIBLE
    )
    note: str | None = Field(
        default=None, max_length=NOTE_MAX_LENGTH, description=_NOTE + "; null removes it"
    )
    catchup_policy: CatchupPolicy | None = Field(default=None, description=_CATCHUP)
    catchup_window_seconds: StrictInt | None = Field(
        default=None,
        ge=CATCHUP_WINDOW_MIN_SECONDS,
        le=CATCHUP_WINDOW_MAX_SECONDS,
        description=_CATCHUP_WINDOW,
    )
    overlap_policy: OverlapPolicy | None = Field(default=None, description=_OVERLAP)

    _note = field_validator("note")(_checked_note)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _checked_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _checked_timezone(value)

    @field_validator("start_at", "end_at")
    @classmethod
    def _instant(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return utc_instant(value, to_camel(info.field_name or ""))

    @model_validator(mode="after")
    def _something_to_change(self) -> ScheduleUpdate:
        if not self.model_fields_set:
            fields = ", ".join(to_camel(name) for name in type(self).model_fields)
            raise ValueError(f"nothing to update: give at least one of {fields}")
        for name in self.model_fields_set - CLEARABLE_FIELDS:
            if getattr(self, name) is None:
                raise ValueError(f"{to_camel(name)} cannot be null")
        # Both sent: checked here; one sent is checked against the stored other by the service.
        check_window(self.start_at, self.end_at)
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
    start_at: datetime | None = Field(default=None, description=_START_AT)
    end_at: datetime | None = Field(default=None, description=_END_AT)
    flexible_window_minutes: int = Field(default=0, description=_FLEXIBLE)
    note: str | None = Field(default=None, description=_NOTE)
    catchup_policy: CatchupPolicy = Field(default="skip", description=_CATCHUP)
    catchup_window_seconds: int = Field(default=3600, description=_CATCHUP_WINDOW)
    overlap_policy: OverlapPolicy = Field(default="skip", description=_OVERLAP)
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


class ScheduleListItem(ScheduleView):
    """A schedule as the list shows it: with its newest run, so a table needs no call per row."""

    last_run: LastRun | None = None


class ScheduleDetail(ScheduleView):
    next_run_times: list[datetime] = Field(default_factory=list)
    # Only an enabled, schedulable schedule has any; one per DST change of the next 365 days.
    dst_notes: list[DstNote] = Field(default_factory=list)
    last_run: LastRun | None = None


class SchedulePage(ApiModel):
    items: list[ScheduleListItem]
    next_cursor: str | None = None


class WorkflowPage(ApiModel):
    items: list[Workflow]
    next_cursor: str | None = None


class CronPreviewRequest(ApiModel):
    # Not validated here: an invalid cron is a normal answer of the preview, not a 422.
    cron: str = Field(max_length=1024, examples=["*/15 9-17 * * MON-FRI"])
    timezone: str = Field(default="UTC", max_length=256, examples=["Europe/Berlin"])
    # A schedule's window: the preview lists only fire times inside it (as a schedule's reads).
    start_at: AwareDatetime | None = Field(default=None, description=_START_AT)
    end_at: AwareDatetime | None = Field(default=None, description=_END_AT)

    @field_validator("start_at", "end_at")
    @classmethod
    def _instant(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return utc_instant(value, to_camel(info.field_name or ""))


class CronPreview(ApiModel):
    valid: bool
    cron: str
    timezone: str
    error: str | None = None
    description: str | None = None
    eventbridge_expressions: list[str] = Field(default_factory=list)
    next_run_times: list[datetime] = Field(default_factory=list)
    dst_notes: list[DstNote] = Field(default_factory=list)  # none for an invalid cron


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
        sys.exit("usage: python -m scheduler.models.schedules schema")
    for path in write_schemas(Path("schema")):
        print(f"wrote {path}")
