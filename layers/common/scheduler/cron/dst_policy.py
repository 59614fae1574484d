"""A schedule's DST policy: at which instants a cron's wall times that a DST change skips or
repeats fire (docs/cron-and-time-zones.md, "DST policy").

One choice per kind of change:

- springForward, for a wall time inside the spring-forward gap (it does not exist):
  `skip` (the default, what EventBridge's cron does) does not fire it; `shift` fires it at the
  first instant after the gap (02:30 on Berlin's spring-forward night fires at 03:00 CEST =
  01:00Z). Every gap time of one change shifts to that one instant, so they fire once, together,
  and together with the cron's own fire at that instant if it names one (one slot: one run).
- fallBack, for a wall time in the repeated range (it occurs twice): `first` (the default)
  fires it once, at its first instant; `last` once, at its second; `both` at each.

The default policy is today's behaviour, and with it every function here returns exactly what
scheduler.cron.fires returns (it is called). A zone without DST changes nothing under any policy.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError

from scheduler.cron.convert import compile_expression
from scheduler.cron.fires import (
    croniter_at,
    ensure_fires,
    fire_slot,
    last_occurrence,
    next_fire_times,
)
from scheduler.cron.timezones import load_zone, require_aware, validate_timezone

SpringForward = Literal["skip", "shift"]
FallBack = Literal["first", "last", "both"]
SPRING_FORWARD_CHOICES: tuple[str, ...] = get_args(SpringForward)
FALL_BACK_CHOICES: tuple[str, ...] = get_args(FallBack)

# As scheduler.cron.fires: how far a preview looks ahead.
_PREVIEW_HORIZON = timedelta(days=40 * 366)
_DAY = timedelta(days=1)  # real zones never change their offset twice within a day


@dataclass(frozen=True)
class DstPolicy:
    """What a schedule does with the wall times a DST change skips or repeats."""

    spring_forward: SpringForward = "skip"
    fall_back: FallBack = "first"

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_DST_POLICY

    @classmethod
    def of(cls, value: object) -> DstPolicy:
        """The policy a stored value holds ({"spring_forward", "fall_back"}, either missing is
        its default; None is the default policy). ValueError naming a choice it does not know."""
        if value is None:
            return DEFAULT_DST_POLICY
        if isinstance(value, DstPolicy):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"a DST policy is an object, not {type(value).__name__}")
        spring = value.get("spring_forward", "skip")
        fall = value.get("fall_back", "first")
        if spring not in SPRING_FORWARD_CHOICES:
            raise ValueError(f"springForward must be one of {', '.join(SPRING_FORWARD_CHOICES)}")
        if fall not in FALL_BACK_CHOICES:
            raise ValueError(f"fallBack must be one of {', '.join(FALL_BACK_CHOICES)}")
        return cls(spring, fall)

    def as_columns(self) -> dict[str, str]:
        """The stored form (schedules.dst_policy, snake_case like every column)."""
        return {"spring_forward": self.spring_forward, "fall_back": self.fall_back}


DEFAULT_DST_POLICY = DstPolicy()


def policy_fire_times(
    expr: str,
    timezone: str,
    after: datetime,
    n: int,
    *,
    until: datetime | None = None,
    policy: DstPolicy = DEFAULT_DST_POLICY,
) -> list[datetime]:
    """The next `n` fire times strictly after `after` (none later than `until`), in UTC, under
    `policy`: next_fire_times, with the gap and repeated times placed as the policy says.

    The walk goes over the cron's wall times in order. The instants of one wall time may be
    later than the next wall time's (`both`: 02:30 fires at 00:30Z and 01:30Z, 02:45 at 00:45Z
    first), so instants wait in a heap until no later wall time can come before them: a wall
    time's earliest instant (its first occurrence, or the gap's end) never decreases as the
    wall time grows. Instants that coincide (shifted gap times and the fire at the gap's end)
    are one fire time.
    """
    if policy.is_default:
        return next_fire_times(expr, timezone, after, n, until=until)
    compiled = compile_expression(expr)
    require_aware(after, "after")
    if until is not None:
        require_aware(until, "until")
    zone = load_zone(validate_timezone(timezone))
    after = after.astimezone(UTC)
    # Start at the earliest wall time any of whose instants can be after `after`: on the
    # smallest offset near it (the second occurrence of a repeated time is that offset's).
    nearest = min(_offset(after + k * _DAY, zone) for k in (-1, 0, 1))
    start = (after + nearest).replace(tzinfo=None)
    wall_horizon = min(start, datetime.max - _PREVIEW_HORIZON) + _PREVIEW_HORIZON
    schedule = croniter_at(compiled.normalized, start)
    waiting: list[datetime] = []
    fires: list[datetime] = []

    def take(through: datetime | None) -> bool:
        """Move the waiting instants not later than `through` (all if None) to `fires`; False
        once no more fire times are wanted."""
        while waiting and (through is None or waiting[0] <= through):
            instant = heapq.heappop(waiting)
            if until is not None and instant > until:
                return False
            if not fires or fires[-1] != instant:
                fires.append(instant)
            if len(fires) >= n:
                return False
        return len(fires) < n

    while len(fires) < n:
        try:
            wall: datetime = schedule.get_next(datetime)
        except CroniterBadDateError:
            break
        if wall > wall_horizon:
            break
        earliest, instants = wall_instants(wall, zone, policy)
        for instant in instants:
            if instant > after:
                heapq.heappush(waiting, instant)
        if not take(earliest) or (until is not None and earliest > until):
            break
    take(None)
    return fires[:n]


def wall_instants(
    wall: datetime, zone: ZoneInfo, policy: DstPolicy
) -> tuple[datetime, tuple[datetime, ...]]:
    """The instants (UTC, ascending) at which a wall time the cron names fires under `policy`,
    and the earliest instant the wall time could have under any policy (the walk's bound)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:  # inside a gap
        # zoneinfo reads a gap time on the offset before (fold=0) or after (fold=1) the change;
        # the change itself lies between the two instants.
        end = gap_end(zone, second, first)
        return end, ((end,) if policy.spring_forward == "shift" else ())
    if first == second:
        return first, (first,)
    chosen = {"first": (first,), "last": (second,), "both": (first, second)}
    return first, chosen[policy.fall_back]


def gap_end(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant after the gap that lies between instants `lo` and `hi` (UTC, on the
    offsets before and after it), to the second."""
    return _gap_end(zone.key, lo.date())


@lru_cache(maxsize=512)
def _gap_end(zone_name: str, day: date) -> datetime:
    """The change between the day before `day` and the day after it: one key for all the gap
    times of one change (a zone never changes its offset twice within days)."""
    zone = load_zone(zone_name)
    lo = datetime.combine(day, time(), UTC) - _DAY
    hi = lo + 3 * _DAY
    before = _offset(lo, zone)
    while hi - lo > timedelta(seconds=1):
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if _offset(mid, zone) == before:
            lo = mid
        else:
            hi = mid
    return hi


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta()


def policy_fire_slot(
    expr: str, timezone: str, at: datetime, policy: DstPolicy = DEFAULT_DST_POLICY
) -> datetime | None:
    """The slot a delivery at `at` stands for under `policy`, in UTC; None if it stands for
    none (fire_slot, which this is for the default policy):

    - an ordinary time is its own slot;
    - a repeated time: `first` → its first instant, whichever instant delivered it; `last` →
      its second instant, and a delivery at the first is no slot (the cron's own delivery there
      is a no-op: the second instant's one-time schedule runs it); `both` → each instant;
    - `shift`: the first instant after a gap is the slot of the gap times the cron names.

    Every instant policy_fire_times lists is its own slot.
    """
    if policy.is_default:
        return fire_slot(expr, timezone, at)
    compiled = compile_expression(expr)
    zone = load_zone(validate_timezone(timezone))
    require_aware(at, "at")
    if at.second or at.microsecond:
        return None
    at = at.astimezone(UTC)
    wall = at.astimezone(zone).replace(tzinfo=None)
    if _names(compiled.normalized, wall, wall + timedelta(minutes=1)):
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if first == second or policy.fall_back == "both":
            return at
        if policy.fall_back == "first":
            return first
        return second if at == second else None
    if policy.spring_forward == "shift":
        before, after = _offset(at - timedelta(seconds=1), zone), _offset(at, zone)
        if after > before and _names(compiled.normalized, wall - (after - before), wall):
            return at  # the first instant after a gap the cron names a time in
    return None


def _names(normalized: str, start: datetime, end: datetime) -> bool:
    """Whether the cron names a wall time in [start, end)."""
    try:
        wall: datetime = croniter_at(normalized, start - timedelta(minutes=1)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return wall < end


def policy_last_occurrence(
    slot: datetime, timezone: str, policy: DstPolicy = DEFAULT_DST_POLICY
) -> datetime:
    """The last instant a delivery of `slot` may come at, so the slot is not overdue before it:
    under `first`, a repeated time's second instant (last_occurrence: the cron may deliver it at
    either); under `last` and `both` each slot is delivered at its own instant only."""
    if policy.fall_back == "first":
        return last_occurrence(slot, timezone)
    require_aware(slot, "slot")
    return slot.astimezone(UTC)


def policy_ensure_fires(
    expr: str, timezone: str, after: datetime, policy: DstPolicy = DEFAULT_DST_POLICY
) -> None:
    """ensure_fires under `policy`: a cron whose every time falls into a gap fires when its
    gap times shift (springForward shift)."""
    if policy.spring_forward == "skip":
        ensure_fires(expr, timezone, after)
    elif not policy_fire_times(expr, timezone, after, 1, policy=policy):
        ensure_fires(expr, timezone, after)  # raises, in the words a skipped-only cron gets
