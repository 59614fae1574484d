"""Which fire times a schedule should have had: the one definition of "expected".

A schedule row's expected fire times are its cron's (or its one-time `run_at`), as
scheduler.policies.fire_times lists them (the row's timezone and DST rules), inside its window
[start_at, end_at]. The missed-fire check, backfill, a schedule's nextRunTimes and the
accounting endpoint all walk them through `window_fires_after`; the accounting also starts them
at the row's creation (`expected_fires`): a schedule never owed a fire time before it existed.

Which of those fire times are *skipped on purpose* (an exception of one occurrence, a calendar
of excluded days) is a rule of the row and the slot: `SLOT_RULES` is where such rules plug in,
and `slot_exclusion` asks them. The runner records such a slot as a `skipped` run whose error
starts with one of the constant prefixes below; `skip_kind` reads a skipped run's error back
into its kind, in this one place.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from scheduler.policies.fire_times import schedule_fires_after
from scheduler.run.overlap import OVERLAP_REASON

_TICK = timedelta(microseconds=1)

# The errors of skipped runs, by why they were skipped: the prefix says it (the rest names the
# exception or the calendar). The exception and calendar features write these.
SKIPPED_BY_EXCEPTION = "skipped by exception"
SKIPPED_BY_CALENDAR = "skipped by calendar"
SKIPPED_DISABLED = "skipped: its schedule was disabled while it waited"

SkipKind = Literal["overlap", "exception", "calendar", "disabled", "other"]

# A rule that takes one fire time of a schedule out of what runs, on purpose: the cause (a text
# starting SKIPPED_BY_EXCEPTION or SKIPPED_BY_CALENDAR), or None when the slot is not excluded.
SlotRule = Callable[[Mapping[str, Any], datetime], str | None]
# The rules in force, asked in order (exceptions, then calendars, as their features register).
SLOT_RULES: list[SlotRule] = []


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


def slot_exclusion(row: Mapping[str, Any], slot: datetime) -> str | None:
    """Why the slot is skipped on purpose (the first rule that excludes it), or None."""
    for rule in SLOT_RULES:
        cause = rule(row, slot)
        if cause is not None:
            return cause
    return None


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
