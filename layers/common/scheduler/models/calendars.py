"""Exclusion calendars' shapes (issue #26): an owner's named dates in a timezone that schedules
exclude (`excludeCalendars`), their create and change bodies, a calendar as the API shows it,
and what a calendar removes from the schedules that use it (its preview).

Dates are inclusive ranges `{start, end}` of calendar days (a single day is `{start}`), read in
the calendar's timezone. The store keeps them as one datemultirange, so overlapping or adjacent
ranges come back merged and sorted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from scheduler.models.base import ApiModel, ApiRequest, checked_text
from scheduler.models.schedule_fields import _checked_timezone

CALENDAR_NAME_MAX_LENGTH = 100
CALENDAR_NOTE_MAX_LENGTH = 1000
MAX_CALENDAR_RANGES = 1000
MAX_CALENDARS_PER_OWNER = 100
MAX_CALENDARS_PER_SCHEDULE = 10
# Years a date may name: a calendar is about the schedules' foreseeable future and past.
FIRST_YEAR, LAST_YEAR = 2000, 2199
# How many excluded fire times a preview shows per schedule.
PREVIEW_FIRES = 5

EXCLUDE_CALENDARS_DESCRIPTION = (
    f"Ids of the owner's calendars (at most {MAX_CALENDARS_PER_SCHEDULE}) whose dates this"
    " schedule does not fire on: a scheduled, caught-up or backfilled fire whose instant falls on"
    " one of a calendar's dates, read in the calendar's timezone, is recorded skipped with the"
    " calendar's name (see Calendars)"
)
_DATES = (
    f"Inclusive date ranges, at most {MAX_CALENDAR_RANGES}; `end` left out is `start` (one day)."
    " Read in the calendar's timezone. Stored merged: overlapping or adjacent ranges come back as"
    " one, sorted"
)
_NAME = f"Unique among the owner's calendars; 1 to {CALENDAR_NAME_MAX_LENGTH} characters"


class DateRange(ApiModel):
    """Calendar days from `start` to `end`, both included."""

    start: date = Field(examples=["2026-12-24"])
    end: date | None = Field(default=None, examples=["2026-12-26"], description="null: `start`")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end is None:
            self.end = self.start
        for day in (self.start, self.end):
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise ValueError(f"dates: {day} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
        if self.end < self.start:
            raise ValueError(f"dates: end {self.end} is before start {self.start}")
        return self


def checked_calendar_ids(value: list[UUID] | None) -> list[UUID] | None:
    """Each id once, in the order given."""
    return None if value is None else list(dict.fromkeys(value))


def _checked_name(value: str) -> str:
    return checked_text(value, "name")


def _checked_calendar_note(value: str | None) -> str | None:
    return None if value is None else checked_text(value, "note", if_blank=": send null")


class CalendarCreate(ApiRequest):
    name: str = Field(min_length=1, max_length=CALENDAR_NAME_MAX_LENGTH, description=_NAME)
    timezone: str = Field(default="UTC", max_length=64, examples=["America/New_York"])
    note: str | None = Field(default=None, max_length=CALENDAR_NOTE_MAX_LENGTH)
    dates: list[DateRange] = Field(
        default_factory=list, max_length=MAX_CALENDAR_RANGES, description=_DATES
    )
    owner_id: UUID | None = Field(
        default=None,
        description=(
            "Service credentials only: whose calendar it is (null: the service's own, for"
            " schedules of workflows without an owner). A user's calendar is always their own"
        ),
    )

    _name = field_validator("name")(_checked_name)
    _timezone = field_validator("timezone")(_checked_timezone)
    _note = field_validator("note")(_checked_calendar_note)


_CLEARABLE = frozenset({"note"})


def _omittable(schema: dict[str, Any]) -> None:
    schema["minProperties"] = 1


class CalendarUpdate(ApiRequest):
    """A change of a calendar: only the fields sent; `dates` replaces all of them. It applies to
    fires claimed from then on: a run already claimed or running is not affected."""

    model_config = ConfigDict(json_schema_extra=_omittable)

    name: str | None = Field(default=None, max_length=CALENDAR_NAME_MAX_LENGTH, description=_NAME)
    timezone: str | None = Field(default=None, max_length=64)
    note: str | None = Field(
        default=None, max_length=CALENDAR_NOTE_MAX_LENGTH, description="null removes it"
    )
    dates: list[DateRange] | None = Field(
        default=None, max_length=MAX_CALENDAR_RANGES, description=_DATES + "; replaces them all"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _checked_name(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _checked_timezone(value)

    _note = field_validator("note")(_checked_calendar_note)

    @model_validator(mode="after")
    def _something_to_change(self) -> CalendarUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to update: give at least one of name, timezone, note, dates")
        for name in self.model_fields_set - _CLEARABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{to_camel(name)} cannot be null")
        return self


class Calendar(ApiModel):
    model_config = ConfigDict(extra="ignore")  # built from rows

    id: UUID
    owner_id: UUID | None = None
    name: str
    timezone: str
    note: str | None = None
    dates: list[DateRange] = Field(description=_DATES)
    schedule_count: int = Field(default=0, description="How many schedules exclude it")
    created_at: datetime
    updated_at: datetime


class CalendarPage(ApiModel):
    items: list[Calendar]
    next_cursor: str | None = None


class ExcludedFire(ApiModel):
    """A fire time a calendar removes: the instant and the calendar's name."""

    time: datetime
    calendar: str = Field(description="the name of the calendar that excludes it")


class CalendarPreviewItem(ApiModel):
    schedule_id: UUID
    schedule_name: str | None = None
    excluded_run_times: list[datetime] = Field(
        description=f"The schedule's next {PREVIEW_FIRES} fire times (at most) the calendar removes"
    )


class CalendarPreview(ApiModel):
    """What a calendar removes from each schedule that uses it, within the next year."""

    calendar_id: UUID
    schedules: list[CalendarPreviewItem]
