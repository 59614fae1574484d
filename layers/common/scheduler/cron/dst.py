"""What the DST changes of the coming year do to a cron's fires in its timezone, in words.

Fire times follow the wall clock of the schedule's timezone, as EventBridge Scheduler does
(scheduler.cron), placed by the schedule's DST policy (scheduler.cron.dst_policy) where a change
skips or repeats wall times. Nothing else moves, so those are the fires a user must be told
about, one note per change:

- "skipped" (springForward skip): the cron names wall times inside a gap (02:30 on the last
  Sunday of March in Berlin); they do not fire, and an hourly cron has one fire fewer that day;
- "shifted" (springForward shift): they fire once, at the first instant after the gap (03:00);
- "once": the cron names wall times inside a repeated range (02:30 on the last Sunday of
  October); each fires once, at its first occurrence (fallBack first) or its second (last);
- "twice" (fallBack both): each fires at both of its occurrences.

`policy_instants` lists the fire times of the next changes that EventBridge's cron cannot be
relied on to deliver: reconcile keeps a one-time at() schedule for each.

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
from scheduler.cron.dst_policy import DEFAULT_DST_POLICY, DstPolicy
from scheduler.cron.fires import croniter_at
from scheduler.cron.timezones import load_zone, require_aware, validate_timezone

NOTE_HORIZON = timedelta(days=365)
_PROBE_STEP = timedelta(days=1)  # real zones never change their offset twice within a day


@dataclass(frozen=True)
class DstNote:
    """The fires of one offset change: which wall times, what happens to them, in words."""

    kind: Literal["skipped", "shifted", "once", "twice"]
    wall_time: str  # the first affected wall time the cron names, "2027-03-28T02:30"
    last_wall_time: str  # the last one (the same when the change touches one fire)
    fires: int  # how many of the cron's wall times the change touches
    at: datetime | None  # the first one's (first) UTC instant, None when skipped
    note: str


@dataclass(frozen=True)
class _Change:
    at: datetime  # the first instant on the new offset, UTC
    before: timedelta
    after: timedelta


def dst_notes(
    expr: str,
    timezone: str,
    after: datetime,
    *,
    horizon: timedelta = NOTE_HORIZON,
    policy: DstPolicy = DEFAULT_DST_POLICY,
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
            note = _note(normalized, zone_name, change, after, policy)
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


def _note(
    normalized: str, zone_name: str, change: _Change, after: datetime, policy: DstPolicy
) -> DstNote | None:
    walls = _affected_walls(normalized, change, after, policy)
    if not walls:
        return None
    zone = load_zone(zone_name)
    if change.after > change.before:  # a gap
        return _gap_note(normalized, zone, change, walls, policy)
    first, last = walls[0], walls[-1]
    times = _times(walls)
    day = first.date().isoformat()
    instant = (first - change.before).replace(tzinfo=UTC)
    second = (first - change.after).replace(tzinfo=UTC)
    first_name, second_name = instant.astimezone(zone).tzname(), second.astimezone(zone).tzname()
    one = len(walls) == 1
    head = f"{times} {'occurs' if one else 'occur'} twice on {day} in {zone_name}: "
    if policy.fall_back == "both":
        text = head + (
            f"this fire runs twice, at {times} {first_name} ({instant:%H:%M} UTC) and again at "
            f"{times} {second_name} ({second:%H:%M} UTC)"
            if one
            else f"these {len(walls)} fires run twice each, in {first_name} (from "
            f"{instant:%H:%M} UTC) and again in {second_name} (from {second:%H:%M} UTC)"
        )
        return DstNote("twice", _iso(first), _iso(last), len(walls), instant, text + _BOTH)
    if policy.fall_back == "last":
        text = head + (
            f"this fire runs once, at {times} {second_name} ({second:%H:%M} UTC), not at "
            f"{times} {first_name}"
            if one
            else f"these {len(walls)} fires run once each, in {second_name} (from "
            f"{second:%H:%M} UTC), not in {first_name}"
        )
        return DstNote("once", _iso(first), _iso(last), len(walls), second, text + _LAST)
    if one:
        text = head + (
            f"this fire runs once, at {times} {first_name} ({instant:%H:%M} UTC), not again at "
            f"{times} {second_name}"
        )
    else:
        text = head + (
            f"these {len(walls)} fires run once each, in {first_name} (from {instant:%H:%M} "
            f"UTC), not again in {second_name}"
        )
    return DstNote("once", _iso(first), _iso(last), len(walls), instant, text)


_LAST = " (fallBack last)"
_BOTH = " (fallBack both)"


def _affected_walls(
    normalized: str, change: _Change, after: datetime, policy: DstPolicy
) -> list[datetime]:
    """The cron's wall times in the range the change skips (a gap) or repeats, whose fires
    under `policy` are not all over by `after`."""
    start = (change.at + min(change.before, change.after)).replace(tzinfo=None)
    end = (change.at + max(change.before, change.after)).replace(tzinfo=None)
    walls = list(_fires_between(normalized, start, end))
    naive_after = after.replace(tzinfo=None)
    if change.after > change.before:
        return walls  # the change itself is after `after`, and so is the shifted instant
    # A repeated time fires at its first or second instant: only the future ones count.
    offset = change.before if policy.fall_back == "first" else change.after
    return [wall for wall in walls if wall - offset > naive_after]


def _gap_note(
    normalized: str, zone: ZoneInfo, change: _Change, walls: list[datetime], policy: DstPolicy
) -> DstNote:
    first, last, times = walls[0], walls[-1], _times(walls)
    day, one = first.date().isoformat(), len(walls) == 1
    head = f"{times} {'does' if one else 'do'} not exist on {day} in {zone.key}: "
    if policy.spring_forward == "skip":
        outcome = "this fire is skipped" if one else f"these {len(walls)} fires are skipped"
        return DstNote("skipped", _iso(first), _iso(last), len(walls), None, head + outcome)
    end = change.at.astimezone(zone)
    what = "this fire runs" if one else f"these {len(walls)} fires run once"
    text = head + f"{what} at {end:%H:%M} {end.tzname()} ({change.at:%H:%M} UTC) instead"
    if _fires_between(normalized, end.replace(tzinfo=None), end.replace(tzinfo=None) + _MINUTE):
        text += f", together with the {end:%H:%M} fire"
    return DstNote("shifted", _iso(first), _iso(last), len(walls), change.at, text + _SHIFT)


_SHIFT = " (springForward shift)"
_MINUTE = timedelta(minutes=1)


def policy_instants(
    expr: str,
    timezone: str,
    after: datetime,
    policy: DstPolicy,
    *,
    horizon: timedelta = NOTE_HORIZON,
    changes: int = 2,
) -> list[datetime]:
    """The fire times under `policy` after `after` that EventBridge's cron cannot be relied on
    to deliver, within the next `changes` offset changes in `horizon`, ascending (UTC): the
    first instant after a gap (`shift`, unless the cron names that wall time itself), the
    second instant of each repeated time (`last`, `both`) and under `both` the first too (AWS
    does not say at which instant its cron delivers a repeated time). Empty for the default
    policy. These are what reconcile keeps one-time at() schedules for (scheduler.sync)."""
    if policy.is_default:
        return []
    normalized = compile_expression(expr).normalized
    zone_name = validate_timezone(timezone)
    require_aware(after, "after")
    after, horizon = after.astimezone(UTC), min(horizon, NOTE_HORIZON)
    zone = load_zone(zone_name)
    instants: set[datetime] = set()
    upcoming = [c for c in _changes(zone_name, after.date()) if after < c.at <= after + horizon]
    for change in upcoming[:changes]:
        walls = _affected_walls(normalized, change, after, policy)
        if not walls:
            continue
        if change.after > change.before:
            end = change.at.astimezone(zone).replace(tzinfo=None)
            if policy.spring_forward == "shift" and not _fires_between(
                normalized, end, end + _MINUTE
            ):
                instants.add(change.at)
            continue
        for wall in walls:
            if policy.fall_back in ("last", "both"):
                instants.add((wall - change.after).replace(tzinfo=UTC))
            if policy.fall_back == "both":
                instants.add((wall - change.before).replace(tzinfo=UTC))
    return sorted(instant for instant in instants if instant > after)


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
