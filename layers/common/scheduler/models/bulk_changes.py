"""Bulk pause and resume: every schedule matching the list's filter, with a note, bounded.

The filter has the list's query parameters as fields (`label` a list of `key=value`, as the
query repeats it), parsed by the one parser the list uses (scheduler.models.schedule_filters),
so a filter that lists N schedules pauses those N.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from scheduler.models.base import ApiModel, ApiRequest
from scheduler.models.runs import RunStatus
from scheduler.models.schedule_fields import NOTE_MAX_LENGTH, _checked_note
from scheduler.models.schedule_filters import (
    LABEL_FILTER_DESCRIPTION,
    LAST_RUN_STATUS_DESCRIPTION,
    Q_DESCRIPTION,
    schedule_filter_from_query,
)
from scheduler.models.schedule_identity import EXTERNAL_ID_MAX_LENGTH
from scheduler.store.schedule_filters import ScheduleFilter

# What one request may change at most; the default bound is lower, and raising it up to this is
# the caller's explicit choice (a 422 names how many match when more do).
BULK_MAX_LIMIT = 10_000
BULK_DEFAULT_LIMIT = 1_000
BulkAction = Literal["pause", "resume"]

_LIMIT = (
    "the most schedules the request may change: when more match, nothing changes and the 422"
    f" says how many match (raise it up to {BULK_MAX_LIMIT:,}, or narrow the filter)"
)
_DRY_RUN = "only count and list what would change; nothing is written"


class BulkScheduleFilter(ApiRequest):
    """Which schedules: the list's filter (GET /api/schedules), every part optional, combined
    with AND; the empty filter is every schedule the caller sees."""

    workflow_id: UUID | None = None
    enabled: StrictBool | None = None
    external_id: str | None = Field(default=None, max_length=EXTERNAL_ID_MAX_LENGTH)
    label: list[str] = Field(
        default_factory=list, max_length=64, description=LABEL_FILTER_DESCRIPTION
    )
    q: str | None = Field(default=None, description=Q_DESCRIPTION)
    last_run_status: RunStatus | None = Field(default=None, description=LAST_RUN_STATUS_DESCRIPTION)

    def selected(self) -> ScheduleFilter:
        """The store's filter; InvalidInput naming the part (label, q) that is malformed."""
        return schedule_filter_from_query(
            workflow_id=self.workflow_id,
            enabled=self.enabled,
            external_id=self.external_id,
            labels=self.label,
            q=self.q,
            last_run_status=self.last_run_status,
        )


class BulkPause(ApiRequest):
    filter: BulkScheduleFilter = Field(default_factory=BulkScheduleFilter)
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=NOTE_MAX_LENGTH,
        description=(
            "why (the incident), required unless dryRun: set as the note of every schedule"
            " this pauses; a schedule already paused keeps its own note"
        ),
    )
    limit: StrictInt = Field(
        default=BULK_DEFAULT_LIMIT, ge=1, le=BULK_MAX_LIMIT, description=_LIMIT
    )
    dry_run: StrictBool = Field(default=False, description=_DRY_RUN)

    _note = field_validator("note")(_checked_note)

    @model_validator(mode="after")
    def _note_to_pause(self) -> BulkPause:
        # the note is what tells the schedules' owners, and the incident's review, why
        if self.note is None and not self.dry_run:
            raise ValueError("note: required to pause (say why); only a dryRun may leave it out")
        return self


class BulkResume(ApiRequest):
    filter: BulkScheduleFilter = Field(default_factory=BulkScheduleFilter)
    note: str | None = Field(
        default=None,
        max_length=NOTE_MAX_LENGTH,
        description=(
            "the note of every schedule this resumes: left out, notes stay as they are; null"
            " removes them"
        ),
    )
    limit: StrictInt = Field(
        default=BULK_DEFAULT_LIMIT, ge=1, le=BULK_MAX_LIMIT, description=_LIMIT
    )
    dry_run: StrictBool = Field(default=False, description=_DRY_RUN)

    _note = field_validator("note")(_checked_note)


class BulkChangeResult(ApiModel):
    action: BulkAction
    dry_run: bool
    # schedules the filter matched (the caller's own)
    matched: int = Field(description="schedules the filter matched")
    changed: int = Field(
        description="schedules this request paused or resumed (a dry run: would); the others"
        " were already so, or are `skipped`"
    )
    ids: list[UUID] = Field(description="the changed schedules' ids, in id order")
    skipped: list[UUID] = Field(
        default_factory=list,
        description=(
            "resume only: schedules left paused because their stored cron or timezone can no"
            " longer be scheduled (PATCH each with a new one)"
        ),
    )
    eventbridge_pending: int = Field(
        description=(
            "of the caller's schedules, how many EventBridge updates are still to be made when"
            " this answer was sent (the database is already changed: a paused schedule does not"
            " run); a retry of the request, or the drain it started, makes them"
        )
    )
