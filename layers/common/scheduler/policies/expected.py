"""Which fire times a schedule should have had: the one definition of "expected".

A schedule row's expected fire times are its cron's (or its one-time `run_at`), as
scheduler.policies.fire_times lists them (the row's timezone and DST rules), inside its window
[start_at, end_at]. The missed-fire check, backfill, a schedule's nextRunTimes and the
accounting endpoint all walk them through `window_fires_after`; the accounting also starts them
at the row's creation (`expected_fires`): a schedule never owed a fire time before it existed.

Which of those fire times are *skipped on purpose* (a calendar of excluded days, an exception
of one occurrence) `SlotExceptions` says, as the runner's claim decides it. The runner records
such a slot as a `skipped` run whose error starts with one of the constant prefixes below;
`skip_kind` reads a skipped run's error back into its kind, in this one place.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from scheduler.cron.exclusions import Exclusion, excluded_by
from scheduler.policies.fire_times import schedule_fires_after
from scheduler.run import exceptions as run_exceptions
from scheduler.run.overlap import OVERLAP_REASON
from scheduler.store.runs import CALENDAR_SKIP_REASON

_TICK = timedelta(microseconds=1)

# The errors of skipped runs, by why they were skipped: the prefix says it (the rest names the
# exception's note or the calendar), as the runner writes them.
SKIPPED_BY_EXCEPTION = run_exceptions.SKIPPED
SKIPPED_BY_CALENDAR = CALENDAR_SKIP_REASON.rstrip()
# written by a trigger (migrations/20261206000000_run_policies.sql), so not a constant to import
SKIPPED_DISABLED = "skipped: its schedule was disabled while it waited"

SkipKind = Literal["overlap", "exception", "calendar", "disabled", "other"]


@dataclass(frozen=True)
class SlotExceptions:
    """Which of a schedule's fire times are taken out of what runs on purpose, as the runner's
    claim decides them: a date a calendar of the schedule excludes first (its reason names the
    calendar), then the slot's own exception (`skip`; a `move` runs it at another instant)."""

    exceptions: Mapping[datetime, Mapping[str, Any]]  # by occurrence (the slot)
    calendars: Sequence[Exclusion]

    def skip_reason(self, slot: datetime) -> str | None:
        """The reason the slot is skipped on purpose (as its run's error says), or None."""
        calendar = excluded_by(slot, self.calendars)
        if calendar is not None:
            return CALENDAR_SKIP_REASON + calendar
        exception = self.exceptions.get(slot)
        if exception is not None and exception["action"] == "skip":
            return run_exceptions.skip_reason(exception["note"])
        return None

    def moved_to(self, slot: datetime) -> datetime | None:
        """The instant a moved slot runs at instead, or None."""
        exception = self.exceptions.get(slot)
        return exception["move_to"] if exception and exception["action"] == "move" else None


NO_EXCEPTIONS = SlotExceptions({}, ())


def window_fires_after(
    row: Mapping[str, Any], after: datetime, until: datetime | None, *, most: int
) -> Iterator[datetime]:
    """The row's fire times after `after` (none later than `until`) inside its window
    [start_at, end_at], oldest first, computed a few at a time (chunks of at most `most`)."""
    start_at, end_at = row.get("start_at"), row.get("end_at")
    if start_at is not None:
        after = max(after, start_at - _TICK)  # startAt itself may be a fire time
    if end_at is not None:
        until = end_at if until is None else min(until, end_at)
    if until is not None and until <= after:
        return iter(())
    return schedule_fires_after(row, after, until, most=most)


def next_window_fires(row: Mapping[str, Any], after: datetime, count: int) -> list[datetime]:
    """The row's next `count` fire times after `after` inside its window (a read's
    nextRunTimes, a preview); none for a window whose wall clock passes year 9999."""
    try:
        return list(itertools.islice(window_fires_after(row, after, None, most=count), count))
    except OverflowError:
        return []


def expected_fires(
    row: Mapping[str, Any], after: datetime, until: datetime, *, most: int
) -> Iterator[datetime]:
    """The fire times the row should have had in (after, until]: window_fires_after, from its
    creation on."""
    created = row.get("created_at")
    if created is not None:
        after = max(after, created)
    return window_fires_after(row, after, until, most=most)


def skip_kind(error: str | None) -> SkipKind:
    """Why a `skipped` run was skipped, read from its error."""
    text = error or ""
    if text.startswith(SKIPPED_BY_EXCEPTION):
        return "exception"
    if text.startswith(SKIPPED_BY_CALENDAR):
        return "calendar"
    if text.startswith(OVERLAP_REASON):
        return "overlap"
    if text.startswith(SKIPPED_DISABLED):
        return "disabled"
    return "other"
