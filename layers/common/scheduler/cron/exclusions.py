"""Which fire times exclusion calendars remove (issue #26): the rule the runner's claim applies
in SQL (scheduler.store.runs), for the previews and the missed-fire check.

A fire is excluded by a calendar when its instant, read on the wall clock of the CALENDAR's
timezone (not the schedule's), falls on a date inside one of the calendar's inclusive ranges.
When several calendars exclude it, the first by name is the one named.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# How many steps a preview's walk takes at most (each a fire time, or a leap over a range).
MAX_WALK = 500
_TICK = timedelta(microseconds=1)


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
        day = self._day_of(instant)
        at = bisect.bisect_right(self.ranges, (day, date.max)) - 1
        return at >= 0 and self.ranges[at][0] <= day <= self.ranges[at][1]

    def range_end(self, instant: datetime) -> datetime:
        """The first instant after the range that covers `instant` (the next day's start)."""
        day = self._day_of(instant)
        at = bisect.bisect_right(self.ranges, (day, date.max)) - 1
        return self._start_of(self.ranges[at][1] + timedelta(days=1))

    def next_start(self, instant: datetime) -> datetime | None:
        """The start of the first range after the day of `instant`, if any."""
        day = self._day_of(instant)
        at = bisect.bisect_right(self.ranges, (day, date.max))
        return self._start_of(self.ranges[at][0]) if at < len(self.ranges) else None

    def _day_of(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def _start_of(self, day: date) -> datetime:
        # a midnight that does not exist (a DST jump at 00:00) reads as the day's first instant
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.timezone)).astimezone(
            UTC
        )


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def excluded_by(instant: datetime, exclusions: Sequence[Exclusion]) -> str | None:
    """The name of the first calendar (by name) that excludes the fire at `instant`, if any."""
    for exclusion in sorted(exclusions, key=lambda e: e.name):
        if exclusion.covers(instant):
            return exclusion.name
    return None


def split_fires(
    next_fire: Callable[[datetime], datetime | None],
    after: datetime,
    exclusions: Sequence[Exclusion],
    kept: int,
    removed: int,
) -> tuple[list[datetime], list[tuple[datetime, str]]]:
    """The first `kept` fire times after `after` that no calendar excludes, and the first
    `removed` excluded ones (instant, calendar name); `next_fire(t)` is the first fire time
    after t (None: no more). A walk of at most MAX_WALK steps that leaps over what it need not
    look at: once it has enough excluded fires, past the end of an excluded range; once it has
    enough kept ones, to the start of the next range."""
    kept_times: list[datetime] = []
    removed_times: list[tuple[datetime, str]] = []
    ordered = sorted(exclusions, key=lambda e: e.name)
    for _ in range(MAX_WALK):
        if len(kept_times) >= kept and len(removed_times) >= removed:
            break
        fire = next_fire(after)
        if fire is None:
            break
        covering = [e for e in ordered if e.covers(fire)]
        if not covering:
            after = fire
            if len(kept_times) < kept:
                kept_times.append(fire)
            else:  # only excluded fires are still wanted: on to the next range's first day
                starts = [t for e in ordered if (t := e.next_start(fire)) is not None]
                if not starts:
                    break
                after = max(fire, min(starts) - _TICK)
        elif len(removed_times) < removed:
            removed_times.append((fire, covering[0].name))
            after = fire
        else:  # only kept fires are still wanted: past every range that covers this one
            after = max(e.range_end(fire) for e in covering) - _TICK
    return kept_times, removed_times
