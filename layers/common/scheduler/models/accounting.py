"""The accounting's data shapes: each fire time a schedule should have had in an interval, what
became of it and why, the runs that match none, and the totals (GET
/api/schedules/{id}/accounting)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from scheduler.models.base import ApiModel
from scheduler.models.runs import RunStatus, RunTrigger

# The closed set of what became of an expected fire time (docs/reliability.md, "Expected versus
# actual"): the six run statuses, and five for a fire time without a run.
Outcome = Literal[
    "succeeded",  # it ran, and the workflow succeeded
    "failed",  # it ran, and the workflow failed
    "running",  # it is running now
    "buffered",  # it waits to run (behind a run of its workflow, a catch-up or a backfill)
    "skipped",  # it did not run on purpose: overlap, an exception, a calendar, a pause
    "missed",  # the missed-fire check found no run and recorded it missed
    "paused",  # no run: the schedule was paused then (its audit log says so)
    "outsideRetention",  # no run: older than the run history kept (RunHistoryDays)
    "upcoming",  # no run yet, and none is due yet
    "noRecord",  # no run, due, not paused: not checked yet, or lost (the cause says which)
]
OUTCOMES: tuple[Outcome, ...] = (
    "succeeded",
    "failed",
    "running",
    "buffered",
    "skipped",
    "missed",
    "paused",
    "outsideRetention",
    "upcoming",
    "noRecord",
)

ACCOUNTING_MAX_DAYS = 31
ACCOUNTING_MAX_FIRES = 5000

_OUTCOME = (
    "succeeded | failed | running | buffered (a run's status); skipped (on purpose: overlap,"
    " an exception, a calendar); missed (recorded by the missed-fire check); paused (no run,"
    " the schedule was paused then); outsideRetention (no run, older than the run history"
    " kept); upcoming (not due yet); noRecord (due, no run: not checked yet, or lost)"
)


class ExpectedFire(ApiModel):
    """One fire time the schedule should have had, and what became of it."""

    scheduled_time: datetime
    outcome: Outcome = Field(description=_OUTCOME)
    cause: str = Field(description="Why, in words: the run's error, the pause, the check's state")
    run_id: UUID | None = None
    status: RunStatus | None = Field(default=None, description="The run's status, if it has one")
    trigger: RunTrigger | None = Field(default=None, description="The run's trigger, if any")
    error: str | None = None


class OtherRun(ApiModel):
    """A run of the interval at no expected fire time: a run now, a backfill at another
    instant, or a fire time the audit log does not account for."""

    run_id: UUID
    scheduled_time: datetime
    trigger: RunTrigger
    status: RunStatus
    cause: str
    error: str | None = None


class AccountingTotals(ApiModel):
    """How many expected fire times had each outcome, how many there were, and the other runs."""

    expected: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    buffered: int = 0
    skipped: int = 0
    missed: int = 0
    paused: int = 0
    outside_retention: int = 0
    upcoming: int = 0
    no_record: int = 0
    other_runs: int = 0


class ScheduleAccounting(ApiModel):
    """Expected versus actual over (from, to]: every expected fire time, oldest first."""

    schedule_id: UUID
    from_: datetime = Field(alias="from")
    to: datetime
    generated_at: datetime = Field(description="The instant the outcomes were decided at")
    items: list[ExpectedFire]
    other_runs: list[OtherRun]
    totals: AccountingTotals
