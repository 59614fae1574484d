"""What the DST changes of the coming year do to a cron's fires in its timezone, in words.

Fire times follow the wall clock of the schedule's timezone, as EventBridge Scheduler does
(scheduler.cron): a wall time the spring-forward change skips does not fire that day, and a wall
time the autumn change repeats fires once, at its first occurrence. Nothing else moves, so those
two are the fires a user must be told about:

- "skipped": the cron names wall times inside a gap (02:30 on the last Sunday of March in
  Berlin); they do not fire, and an hourly cron has one fire fewer that day;
- "once": the cron names wall times inside a repeated range (02:30 on the last Sunday of
  October); each fires at its first occurrence only, so an hourly cron runs once for the two
  real hours of 02:00.

The work is bounded without listing a year of fires (an every-minute cron has 525,600): the
zone's offset changes are found by probing its UTC offset once a day over the year, then
bisecting to the second; only the cron's fires in the shifted wall-time range of each change
are looked at (at most that range's minutes, 60 for a one-hour change), and they make one note
per change, however many fires it touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError

from scheduler.cron.convert import compile_expression
from scheduler.cron.fires import croniter_at
from scheduler.cron.timezones import load_zone, require_aware, validate_timezone

NOTE_HORIZON = timedelta(days=365)
_PROBE_STEP = timedelta(days=1)  # real zones never change their offset twice within a day


@dataclass(frozen=True)
class DstNote:
    """The fires of one offset change: which wall times, what happens to them, in words."""

    kind: Literal["skipped", "once"]
    wall_time: str  # the first affected wall time the cron names, "2027-03-28T02:30"
    last_wall_time: str  # the last one (the same when the change touches one fire)
    fires: int  # how many of the cron's wall times the change touches
    at: datetime | None  # the first one's UTC instant, None when skipped
    note: str


@dataclass(frozen=True)
class _Change:
    at: datetime  # the first instant on the new offset, UTC
    before: timedelta
    after: timedelta


def dst_notes(
    expr: str, timezone: str, after: datetime, *, horizon: timedelta = NOTE_HORIZON
) -> list[DstNote]:
    """The notes for the offset changes of `timezone` strictly after `after`, within `horizon`
    (at most NOTE_HORIZON), in order.

    Empty for a zone without changes (UTC, Asia/Tokyo) and for a cron that names no wall time
    a change skips or repeats. Raises CronError, InvalidTimezone, or ValueError for a naive
    `after`.
    """
    normalized = compile_expression(expr).normalized
    zone_name = validate_timezone(timezone)
    require_aware(after, "after")
    after, horizon = after.astimezone(UTC), min(horizon, NOTE_HORIZON)
    notes: list[DstNote] = []
    for change in _changes(zone_name, after.date()):
        if after < change.at <= after + horizon:
            note = _note(normalized, zone_name, change, after)
            if note is not None:
                notes.append(note)
    return notes


@lru_cache(maxsize=512)
def _changes(zone_name: str, day: date) -> tuple[_Change, ...]:
    """The offset changes of a zone from `day` (UTC midnight) for a year and a day after it."""
    zone = load_zone(zone_name)
    changes: list[_Change] = []
    start = datetime.combine(day, time(), UTC)
    probe, offset = start, _offset(start, zone)
    while probe < start + NOTE_HORIZON + _PROBE_STEP:
        following = probe + _PROBE_STEP
        following_offset = _offset(following, zone)
        if following_offset != offset:
            changes.append(_bisect(probe, following, zone))
        probe, offset = following, following_offset
    return tuple(changes)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta()


def _bisect(lo: datetime, hi: datetime, zone: ZoneInfo) -> _Change:
    """The change between `lo` and `hi` (one offset each), to the second."""
    before, after = _offset(lo, zone), _offset(hi, zone)
    while hi - lo > timedelta(seconds=1):
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if _offset(mid, zone) == before:
            lo = mid
        else:
            hi = mid
    return _Change(hi, before, after)


def _note(normalized: str, zone_name: str, change: _Change, after: datetime) -> DstNote | None:
    # The wall-time range the change skips (a gap) or repeats (an overlap).
    skipped = change.after > change.before
    start = (change.at + min(change.before, change.after)).replace(tzinfo=None)
    end = (change.at + max(change.before, change.after)).replace(tzinfo=None)
    walls = list(_fires_between(normalized, start, end))
    if not skipped:  # a repeated time fires at its first occurrence: only the future ones count
        walls = [wall for wall in walls if wall - change.before > after.replace(tzinfo=None)]
    if not walls:
        return None
    zone = load_zone(zone_name)
    first, last = walls[0], walls[-1]
    times = _times(walls)
    day = first.date().isoformat()
    if skipped:
        verb, outcome = ("does", "this fire is skipped") if len(walls) == 1 else ("do", None)
        text = (
            f"{times} {verb} not exist on {day} in {zone_name}: "
            f"{outcome or f'these {len(walls)} fires are skipped'}"
        )
        return DstNote("skipped", _iso(first), _iso(last), len(walls), None, text)
    instant = (first - change.before).replace(tzinfo=UTC)
    first_name = instant.astimezone(zone).tzname()
    second_name = (first - change.after).replace(tzinfo=UTC).astimezone(zone).tzname()
    if len(walls) == 1:
        text = (
            f"{times} occurs twice on {day} in {zone_name}: this fire runs once, at "
            f"{times} {first_name} ({instant:%H:%M} UTC), not again at {times} {second_name}"
        )
    else:
        text = (
            f"{times} occur twice on {day} in {zone_name}: these {len(walls)} fires run once "
            f"each, in {first_name} (from {instant:%H:%M} UTC), not again in {second_name}"
        )
    return DstNote("once", _iso(first), _iso(last), len(walls), instant, text)


@lru_cache(maxsize=1024)  # a croniter step costs ~25 us: an every-minute cron takes 60 a change
def _fires_between(normalized: str, start: datetime, end: datetime) -> tuple[datetime, ...]:
    """The cron's wall times in [start, end): at most one per minute of the range."""
    schedule = croniter_at(normalized, start - timedelta(minutes=1))
    walls: list[datetime] = []
    while True:
        try:
            wall: datetime = schedule.get_next(datetime)
        except CroniterBadDateError:  # no later fire at all
            break
        if wall >= end:
            break
        if wall >= start:
            walls.append(wall)
    return tuple(walls)


def _times(walls: list[datetime]) -> str:
    if len(walls) == 1:
        return f"{walls[0]:%H:%M}"
    joiner = " and " if len(walls) == 2 else " to "
    return f"{walls[0]:%H:%M}{joiner}{walls[-1]:%H:%M}"


def _iso(wall: datetime) -> str:
    return wall.strftime("%Y-%m-%dT%H:%M")
