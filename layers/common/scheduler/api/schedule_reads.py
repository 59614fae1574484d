"""What a schedule's reads show beyond its row: its next fire times as its exclusion calendars
(scheduler.api.calendar_views) and its exceptions (scheduler.api.exception_previews) leave them,
and, on the read of one schedule, the fires they remove, the exceptions still to come and the
DST notes. The list, the read of one schedule and the answer of a write show the same next fire
time: each page (or row) costs one query for its calendars and one for its exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from scheduler import cron
from scheduler.api.calendar_views import excluding_calendars, exclusions_for
from scheduler.api.exception_previews import with_exceptions
from scheduler.api.schedule_views import NEXT_RUN_PREVIEW, view_fields, window_dst_notes
from scheduler.store.calendars import CalendarQueries
from scheduler.store.exceptions import ExceptionQueries


def listed_fields(
    calendars: CalendarQueries,
    exceptions: ExceptionQueries,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Each row's view (view_fields), its nextRunAt the first fire its calendars and
    exceptions leave."""
    excluded = exclusions_for(calendars, rows)
    upcoming = exceptions.upcoming_of([row["id"] for row in rows], now)

    def fields_of(row: Mapping[str, Any]) -> dict[str, Any]:
        own = upcoming.get(row["id"], [])
        wanted = 1 + len(own)  # enough that one is left once the exceptions take theirs out
        fields = excluding_calendars(view_fields(row, now, wanted), excluded, now, wanted)
        fields = with_exceptions(fields, own, now, 1, excluded)
        del fields["exceptions"], fields["excluded_run_times"]  # the read of one shows them
        return fields

    return [fields_of(row) for row in rows]


def detail_fields(
    calendars: CalendarQueries,
    exceptions: ExceptionQueries,
    row: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The row's view with its next NEXT_RUN_PREVIEW fire times (calendars and exceptions
    applied), the fires its calendars remove, its exceptions still to come and its DST notes."""
    upcoming = exceptions.list_exceptions(row["id"], since=now)
    # the fire times its calendars leave, enough that NEXT_RUN_PREVIEW remain once the
    # exceptions take theirs out
    wanted = NEXT_RUN_PREVIEW + len(upcoming)
    excluded = exclusions_for(calendars, [row])
    fields = excluding_calendars(
        view_fields(row, now, wanted), excluded, now, wanted, removed_count=NEXT_RUN_PREVIEW
    )
    notes: list[cron.DstNote] = []
    # enabled, schedulable, not ended: only then notes apply (a one-time schedule has none)
    if fields["next_run_times"] and row["cron"] is not None:
        notes = window_dst_notes(
            row["cron"],
            row["timezone"],
            now,
            row.get("start_at"),
            row.get("end_at"),
            cron.DstPolicy.of(row.get("dst_policy")),
        )
    fields = with_exceptions(fields, upcoming, now, NEXT_RUN_PREVIEW, excluded)
    return {**fields, "dst_notes": [asdict(note) for note in notes]}
