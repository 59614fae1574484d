"""What the Schedules API returns on top of the stored rows: a schedule with what its cron means
(description, EventBridge expressions, next fire times, DST notes), its newest run, and a page of
them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from scheduler.models.base import ApiModel
from scheduler.models.calendars import ExcludedFire
from scheduler.models.cron_previews import DstNote
from scheduler.models.runs import LastRun
from scheduler.models.schedule_exceptions import ScheduleException
from scheduler.models.schedules import Schedule


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


class ScheduleListItem(ScheduleView):
    """A schedule as the list shows it: with its newest run, so a table needs no call per row."""

    last_run: LastRun | None = None


class ScheduleDetail(ScheduleView):
    next_run_times: list[datetime] = Field(default_factory=list)
    excluded_run_times: list[ExcludedFire] = Field(
        default_factory=list,
        description=(
            "The next fire times (at most 5, within a year) that the schedule's excludeCalendars"
            " remove, each with the calendar's name; nextRunTimes leaves them out"
        ),
    )
    # Only an enabled, schedulable schedule has any; one per DST change of the next 365 days.
    dst_notes: list[DstNote] = Field(default_factory=list)
    last_run: LastRun | None = None
    # Its exceptions still to come (an occurrence or a move's new time after now), by
    # occurrence: nextRunTimes leaves the skipped out and shows the moved at their new time.
    exceptions: list[ScheduleException] = Field(default_factory=list)


class SchedulePage(ApiModel):
    items: list[ScheduleListItem]
    next_cursor: str | None = None
