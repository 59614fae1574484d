"""Which fire times exclusion calendars remove (issue #26): the rule the runner's claim applies
in SQL (scheduler.store.runs), for the previews and the missed-fire check.

A fire is excluded by a calendar when its instant, read on the wall clock of the CALENDAR's
timezone (not the schedule's), falls on a date inside one of the calendar's inclusive ranges.
When several calendars exclude it, the first by name is the one named.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

# How many fire times a preview walks at most to find the ones it shows (a schedule whose every
# fire is excluded for years would walk for ever).
MAX_WALK = 500


@dataclass(frozen=True)
class Exclusion:
    """One calendar: its name, its timezone and its dates, sorted, merged inclusive ranges."""

    name: str
    timezone: str
    ranges: tuple[tuple[date, date], ...]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Exclusion:
        """From a row of `name`, `timezone` and `dates`: [[start, end], ...] (ISO or dates)."""
        ranges = tuple(
            (_day(start), _day(end)) for start, end in sorted(row["dates"], key=lambda r: r[0])
        )
        return cls(row["name"], row["timezone"], ranges)

    def covers(self, instant: datetime) -> bool:
        day = instant.astimezone(ZoneInfo(self.timezone)).date()
        at = bisect.bisect_right(self.ranges, (day, date.max)) - 1
        return at >= 0 and self.ranges[at][0] <= day <= self.ranges[at][1]


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def excluded_by(instant: datetime, exclusions: Sequence[Exclusion]) -> str | None:
    """The name of the first calendar (by name) that excludes the fire at `instant`, if any."""
    for exclusion in sorted(exclusions, key=lambda e: e.name):
        if exclusion.covers(instant):
            return exclusion.name
    return None


def split_fires(
    fires: Iterable[datetime], exclusions: Sequence[Exclusion], kept: int, removed: int
) -> tuple[list[datetime], list[tuple[datetime, str]]]:
    """The first `kept` fire times no calendar excludes, and the first `removed` excluded ones
    (instant, calendar name) before the walk stops: once both are found, or after MAX_WALK."""
    kept_times: list[datetime] = []
    removed_times: list[tuple[datetime, str]] = []
    for walked, fire in enumerate(fires):
        if walked >= MAX_WALK or (len(kept_times) >= kept and len(removed_times) >= removed):
            break
        name = excluded_by(fire, exclusions)
        if name is None:
            if len(kept_times) < kept:
                kept_times.append(fire)
        elif len(removed_times) < removed:
            removed_times.append((fire, name))
    return kept_times, removed_times
