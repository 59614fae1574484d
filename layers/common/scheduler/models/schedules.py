"""The schedules' request shapes and the stored row (pydantic v2): create, update, `Schedule`.
Python speaks snake_case, JSON speaks camelCase (scheduler.models.base). What the API shows on
top of a row is in scheduler.models.schedule_views, the cron preview's shapes in
scheduler.models.cron_previews, the workflows' in scheduler.models.workflows, the error bodies
in scheduler.models.errors, the runs' in scheduler.models.runs, the API keys' in
scheduler.models.api_keys.

`Schedule` is the Python counterpart of the seed's TypeScript `Schedule` interface;
`python -m scheduler.models.json_schema schema` writes the JSON Schema a TypeScript front end
generates types from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from scheduler import cron
from scheduler.models.base import ApiModel, ApiRequest, utc_instant
from scheduler.models.calendars import (
    EXCLUDE_CALENDARS_DESCRIPTION,
    MAX_CALENDARS_PER_SCHEDULE,
    checked_calendar_ids,
)
from scheduler.models.schedule_dst import (
    DST_POLICY_DESCRIPTION,
    DST_POLICY_EXAMPLE,
    DstPolicyRequest,
    DstPolicySetting,
)
from scheduler.models.schedule_fields import (
    _CATCHUP,
    _CATCHUP_WINDOW,
    _END_AT,
    _FLEXIBLE,
    _NOTE,
    _OVERLAP,
    _START_AT,
    CATCHUP_WINDOW_MAX_SECONDS,
    CATCHUP_WINDOW_MIN_SECONDS,
    FLEXIBLE_WINDOW_MAX_MINUTES,
    NOTE_MAX_LENGTH,
    CatchupPolicy,
    OverlapPolicy,
    _checked_cron,
    _checked_known_timezone,
    _checked_note,
    _checked_timezone,
    check_window,
    first_fire_in_window,
)
from scheduler.models.schedule_identity import (
    EXTERNAL_ID_DESCRIPTION,
    EXTERNAL_ID_MAX_LENGTH,
    NAME_DESCRIPTION,
    NAME_MAX_LENGTH,
    checked_external_id,
    checked_name,
)
from scheduler.models.schedule_input import MAX_INPUT_BYTES, MAX_INPUT_DEPTH, checked_input
from scheduler.models.schedule_labels import (
    LABELS_DESCRIPTION,
    LABELS_JSON_SCHEMA,
    MAX_LABELS,
    checked_labels,
)
from scheduler.models.schedule_once import (
    _AT,
    _AT_READ,
    _CRON,
    ONE_OF_CRON_OR_AT,
    check_no_window,
    checked_one_time,
)

_INPUT = (
    "A JSON object the schedule's runs receive: its values fill the placeholders"
    " ({{input.key}}) of the workflow's http steps and the lambda step's event carries it whole"
    f" (see Input and placeholders). At most {MAX_INPUT_BYTES} bytes of JSON and"
    f" {MAX_INPUT_DEPTH} levels of nesting; null is {{}}"
)
_INPUT_EXAMPLE = {"customerId": "c-42", "report": {"format": "pdf"}}
_LABELS_EXAMPLE = {"team": "billing", "env": "prod"}
PAUSE_AFTER_FAILURES_MAX = 1000
_PAUSE_AFTER_FAILURES = (
    "After this many consecutive failed runs the runner disables (pauses) the schedule, with"
    " disabledReason saying so, and publishes a Schedule Paused alert; 1 to"
    f" {PAUSE_AFTER_FAILURES_MAX}; null: never paused for failures (see Run policies)"
)
_CONSECUTIVE_FAILURES = (
    "How many runs in a row have failed since the last success (or since the schedule was"
    " re-enabled); a success resets it to 0 and publishes a Run Recovered alert"
)


class ScheduleUpsert(ApiRequest):
    """A whole schedule but its externalId: PUT /api/schedules/by-external-id/{externalId}'s
    body (the path names the externalId); a field left out takes its default."""

    workflow_id: UUID
    name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH, description=NAME_DESCRIPTION)
    cron: str | None = Field(
        default=None, max_length=256, examples=["0 7 * * *"], description=_CRON
    )
    at: str | None = Field(
        default=None, max_length=64, examples=["2026-12-11T17:00:00"], description=_AT
    )
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
    input: dict[str, Any] | None = Field(
        default_factory=dict, description=_INPUT, examples=[_INPUT_EXAMPLE]
    )
    pause_after_failures: StrictInt | None = Field(
        default=None, ge=1, le=PAUSE_AFTER_FAILURES_MAX, description=_PAUSE_AFTER_FAILURES
    )
    labels: dict[str, str] | None = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description=LABELS_DESCRIPTION + "; null is {}",
        examples=[_LABELS_EXAMPLE],
        json_schema_extra=LABELS_JSON_SCHEMA,
    )
    exclude_calendars: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_CALENDARS_PER_SCHEDULE,
        description=EXCLUDE_CALENDARS_DESCRIPTION,
    )

    dst_policy: DstPolicyRequest = Field(
        default_factory=DstPolicyRequest,
        description=DST_POLICY_DESCRIPTION,
        examples=[DST_POLICY_EXAMPLE],
    )

    _run_at: datetime | None = PrivateAttr(default=None)
    _exclude_calendars = field_validator("exclude_calendars")(checked_calendar_ids)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _checked_cron(value)

    _timezone = field_validator("timezone")(_checked_timezone)
    _note = field_validator("note")(_checked_note)
    _input = field_validator("input")(checked_input)
    _name = field_validator("name")(checked_name)
    _labels = field_validator("labels")(checked_labels)

    @field_validator("start_at", "end_at")
    @classmethod
    def _instant(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return utc_instant(value, to_camel(info.field_name or ""))

    @model_validator(mode="after")
    def _fires_in_its_timezone(self) -> ScheduleUpsert:
        now = datetime.now(UTC)
        if self.at is not None or self.cron is None:
            self._run_at = checked_one_time(self.cron, self.at, self.timezone, now)
            check_no_window(self.start_at, self.end_at)
            return self
        cron.policy_ensure_fires(self.cron, self.timezone, now, self.dst_policy.policy())
        check_window(self.start_at, self.end_at)
        if self.end_at is not None and self.end_at <= now:
            raise ValueError("endAt is in the past: a schedule created now would never fire")
        if (self.start_at or self.end_at) and not first_fire_in_window(
            self.cron,
            self.timezone,
            now,
            self.start_at,
            self.end_at,
            policy=self.dst_policy.policy(),
        ):
            raise ValueError("the cron has no fire time between startAt and endAt")
        return self

    def columns(self) -> dict[str, Any]:
        """Every field, snake_case, as the store's columns (input and labels null are {})."""
        columns = self.model_dump(by_alias=False, exclude={"workflow_id", "at"})
        columns["input"] = columns["input"] or {}
        columns["labels"] = columns["labels"] or {}
        columns["run_at"] = self._run_at
        return columns


class ScheduleCreate(ScheduleUpsert):
    external_id: str | None = Field(
        default=None,
        max_length=EXTERNAL_ID_MAX_LENGTH,
        description=EXTERNAL_ID_DESCRIPTION,
        examples=["invoice-run-c42"],
    )

    _external_id = field_validator("external_id")(checked_external_id)


# The fields of ScheduleUpdate that null clears; every other one refuses null but `input`, for
# which null is the empty object.
CLEARABLE_FIELDS = frozenset(
    {"start_at", "end_at", "note", "name", "external_id", "pause_after_failures"}
)
_NULL_IS_EMPTY_FIELDS = frozenset({"input", "labels"})


def _omittable(schema: dict[str, Any]) -> None:
    """The schema of what ScheduleUpdate accepts: each field may be left out, only the clearable
    ones may be null, and at least one must be given (pydantic alone would document `null` for
    every field and `{}` as fine)."""
    schema["minProperties"] = 1
    clearable = {to_camel(name) for name in CLEARABLE_FIELDS | _NULL_IS_EMPTY_FIELDS}
    for name, field in schema.get("properties", {}).items():
        field.pop("default", None)
        if name in clearable:
            continue
        alternatives = [s for s in field.pop("anyOf", []) if s.get("type") != "null"]
        if alternatives:
            field.update(alternatives[0])


class ScheduleUpdate(ApiRequest):
    model_config = ConfigDict(json_schema_extra=_omittable)

    cron: str | None = Field(
        default=None, max_length=256, description=_CRON + "; makes a one-time schedule recurring"
    )
    at: str | None = Field(
        default=None,
        max_length=64,
        description=_AT + "; makes a recurring schedule one-time, and re-arms a one-time one",
    )
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
    input: dict[str, Any] | None = Field(
        default=None, description=_INPUT + "; replaces the whole input"
    )
    name: str | None = Field(
        default=None, max_length=NAME_MAX_LENGTH, description=NAME_DESCRIPTION + "; null removes it"
    )
    external_id: str | None = Field(
        default=None,
        max_length=EXTERNAL_ID_MAX_LENGTH,
        description=EXTERNAL_ID_DESCRIPTION + "; null removes it",
    )
    pause_after_failures: StrictInt | None = Field(
        default=None,
        ge=1,
        le=PAUSE_AFTER_FAILURES_MAX,
        description=_PAUSE_AFTER_FAILURES + "; null removes it",
    )
    labels: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_LABELS,
        description=LABELS_DESCRIPTION + "; replaces all the labels ({} or null removes them)",
        examples=[_LABELS_EXAMPLE],
        json_schema_extra=LABELS_JSON_SCHEMA,
    )
    exclude_calendars: list[UUID] | None = Field(
        default=None,
        max_length=MAX_CALENDARS_PER_SCHEDULE,
        description=EXCLUDE_CALENDARS_DESCRIPTION + "; replaces the list ([] removes them all)",
    )
    dst_policy: DstPolicyRequest | None = Field(
        default=None,
        description=DST_POLICY_DESCRIPTION + "; replaces the whole policy",
        examples=[DST_POLICY_EXAMPLE],
    )

    _exclude_calendars = field_validator("exclude_calendars")(checked_calendar_ids)

    _note = field_validator("note")(_checked_note)
    _input = field_validator("input")(checked_input)
    _labels = field_validator("labels")(checked_labels)
    _name = field_validator("name")(checked_name)
    _external_id = field_validator("external_id")(checked_external_id)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _checked_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _checked_known_timezone(value)

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
        if self.cron is not None and self.at is not None:
            raise ValueError(ONE_OF_CRON_OR_AT)
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent, snake_case, for the store."""
        return self.model_dump(include=self.model_fields_set, by_alias=False)


class Schedule(ApiModel):
    id: UUID
    workflow_id: UUID
    name: str | None = Field(default=None, description=NAME_DESCRIPTION)
    external_id: str | None = Field(default=None, description=EXTERNAL_ID_DESCRIPTION)
    cron: str | None = Field(description=_CRON + "; null for a one-time schedule")
    at: str | None = Field(
        default=None,
        description=_AT_READ,
        examples=["2026-12-11T17:00:00+01:00"],
    )
    timezone: str
    enabled: bool
    start_at: datetime | None = Field(default=None, description=_START_AT)
    end_at: datetime | None = Field(default=None, description=_END_AT)
    flexible_window_minutes: int = Field(default=0, description=_FLEXIBLE)
    note: str | None = Field(default=None, description=_NOTE)
    catchup_policy: CatchupPolicy = Field(default="skip", description=_CATCHUP)
    catchup_window_seconds: int = Field(default=3600, description=_CATCHUP_WINDOW)
    overlap_policy: OverlapPolicy = Field(default="skip", description=_OVERLAP)
    input: dict[str, Any] = Field(default_factory=dict, description=_INPUT)
    labels: dict[str, str] = Field(default_factory=dict, description=LABELS_DESCRIPTION)
    exclude_calendars: list[UUID] = Field(
        default_factory=list, description=EXCLUDE_CALENDARS_DESCRIPTION
    )
    dst_policy: DstPolicySetting = Field(
        default_factory=DstPolicySetting, description=DST_POLICY_DESCRIPTION
    )
    pause_after_failures: int | None = Field(default=None, description=_PAUSE_AFTER_FAILURES)
    consecutive_failures: int = Field(default=0, description=_CONSECUTIVE_FAILURES)
    last_run_at: datetime | None = None
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime
