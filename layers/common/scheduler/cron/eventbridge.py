"""An evaluator of EventBridge Scheduler `cron(...)` expressions: the fire times EventBridge
would produce, in UTC.

The local engine fires schedules with it, and the tests use it to prove that each converted
expression fires exactly when croniter says the Unix input does. DST as EventBridge does it: a
wall time inside the spring-forward gap is skipped, a repeated autumn wall time fires once, at
its first occurrence.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from scheduler.cron.fields import DOM, DOW, HOUR, MINUTE, MONTH, NUMBER, CronError, Special
from scheduler.cron.once import eventbridge_at_fire, is_at_expression
from scheduler.cron.timezones import load_zone, require_aware, validate_timezone, wall_to_utc

# EventBridge's year field ends at 2199: nothing fires after it.
_LAST_EVENTBRIDGE_YEAR = 2199
_NEXT_FIRE_HORIZON = timedelta(days=5 * 366)


@dataclass(frozen=True)
class _EventBridgeSchedule:
    """A parsed EventBridge `cron(...)`; exactly one of the day fields is `?`."""

    minutes_of_day: tuple[int, ...]  # sorted hour * 60 + minute
    months: frozenset[int]
    years: frozenset[int] | None  # None: every year
    dom: frozenset[int] | Special | None  # None: `?`
    dow: frozenset[int] | Special | None  # EventBridge numbering, 1 = Sunday


def _eb_values(text: str, lo: int, hi: int, field: str) -> frozenset[int]:
    values: set[int] = set()
    for element in text.split(","):
        base, slash, step_text = element.partition("/")
        if slash and not NUMBER.fullmatch(step_text):
            raise CronError(f"invalid step in '{element}'", f"EventBridge {field}")
        step = int(step_text) if slash else 1
        if base == "*":
            start, end = lo, hi
        elif match := re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", base):
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else (hi if slash else start)
        else:
            raise CronError(f"unsupported value '{element}'", f"EventBridge {field}")
        if not lo <= start <= end <= hi or step < 1:
            raise CronError(f"'{element}' is out of range {lo}-{hi}", f"EventBridge {field}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@lru_cache(maxsize=4096)
def _parse_eventbridge(expression: str) -> _EventBridgeSchedule:
    match = re.fullmatch(r"cron\(([^()]*)\)", expression.strip())
    parts = match.group(1).split() if match else []
    if len(parts) != 6:
        raise CronError(f"not an EventBridge cron(...) expression with 6 fields: {expression!r}")
    minute, hour, dom_text, month, dow_text, year = parts
    if (dom_text == "?") == (dow_text == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be '?'", "EventBridge")
    dom: frozenset[int] | Special | None = None
    dow: frozenset[int] | Special | None = None
    if dom_text == "L":
        dom = Special("last_day")
    elif nearest := re.fullmatch(r"([0-9]+)W", dom_text):
        dom = Special("nearest_weekday", value=int(nearest.group(1)))
    elif dom_text != "?":
        dom = _eb_values(dom_text, 1, 31, DOM)
    if last := re.fullmatch(r"([1-7])L", dow_text):
        dow = Special("last_dow", value=int(last.group(1)))
    elif nth := re.fullmatch(r"([1-7])#([1-5])", dow_text):
        dow = Special("nth_dow", value=int(nth.group(1)), nth=int(nth.group(2)))
    elif dow_text != "?":
        dow = _eb_values(dow_text, 1, 7, DOW)
    minutes = _eb_values(minute, 0, 59, MINUTE)
    hours = _eb_values(hour, 0, 23, HOUR)
    return _EventBridgeSchedule(
        minutes_of_day=tuple(sorted(h * 60 + m for h in hours for m in minutes)),
        months=_eb_values(month, 1, 12, MONTH),
        years=None if year == "*" else _eb_values(year, 1970, _LAST_EVENTBRIDGE_YEAR, "year"),
        dom=dom,
        dow=dow,
    )


def _eb_weekday(year: int, month: int, day: int) -> int:
    return (calendar.weekday(year, month, day) + 1) % 7 + 1  # Monday=0 -> EventBridge Monday=2


def _eb_days(schedule: _EventBridgeSchedule, year: int, month: int) -> list[int]:
    """The days of one month on which the schedule fires, ascending."""
    last = calendar.monthrange(year, month)[1]
    if schedule.dow is None:
        dom = schedule.dom
        if isinstance(dom, frozenset):
            return sorted(d for d in dom if d <= last)
        assert dom is not None
        if dom.kind == "last_day":
            return [last]
        return _nearest_weekday(year, month, dom.value, last)
    first = _eb_weekday(year, month, 1)
    dow = schedule.dow
    if isinstance(dow, frozenset):
        return [d for d in range(1, last + 1) if (first + d - 2) % 7 + 1 in dow]
    # the first day of the month with weekday `dow.value`, then every 7 days
    occurrences = list(range(1 + (dow.value - first) % 7, last + 1, 7))
    if dow.kind == "last_dow":
        return occurrences[-1:]
    return occurrences[dow.nth - 1 : dow.nth]


def _nearest_weekday(year: int, month: int, day: int, last: int) -> list[int]:
    """Quartz nW: the weekday nearest day n, never leaving the month."""
    if day > last:
        return []
    weekday = calendar.weekday(year, month, day)
    if weekday == 5:  # Saturday: Friday before, or Monday after when the 1st
        return [day - 1] if day > 1 else [day + 2]
    if weekday == 6:  # Sunday: Monday after, or Friday before when the last day
        return [day + 1] if day < last else [day - 2]
    return [day]


def _eb_iter(
    schedule: _EventBridgeSchedule, zone: ZoneInfo, after: datetime, until: datetime | None
) -> Iterator[datetime]:
    # Wall times map to UTC in order (the first of two repeated wall times is taken), so no
    # wall time earlier than `after`'s own can fire after `after`.
    start = after.astimezone(zone).replace(tzinfo=None)
    start_day = start.date()
    start_minute = start.hour * 60 + start.minute
    last_wall = None if until is None else until.astimezone(UTC).replace(tzinfo=None)
    year, month = start.year, start.month
    while year <= _LAST_EVENTBRIDGE_YEAR:
        if last_wall is not None and datetime(year, month, 1) > last_wall + timedelta(days=1):
            return
        if month in schedule.months and (schedule.years is None or year in schedule.years):
            for day in _eb_days(schedule, year, month):
                midnight = datetime(year, month, day)
                if midnight.date() < start_day:
                    continue
                first = 0
                if midnight.date() == start_day:
                    first = bisect_left(schedule.minutes_of_day, start_minute)
                for minute_of_day in schedule.minutes_of_day[first:]:
                    instant = wall_to_utc(midnight + timedelta(minutes=minute_of_day), zone)
                    if instant is None or instant <= after:
                        continue
                    if until is not None and instant > until:
                        return
                    yield instant
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def eventbridge_fire_times(
    expression: str,
    timezone: str,
    after: datetime,
    n: int,
    *,
    until: datetime | None = None,
) -> list[datetime]:
    """Fire times of an EventBridge `cron(...)` in `timezone`, strictly after `after`, in UTC.

    At most `n` of them, none later than `until` if given, none after EventBridge's last year
    (2199). DST as EventBridge Scheduler does it: a wall time inside the spring-forward gap is
    skipped, a repeated autumn wall time fires once, at its first occurrence.
    """
    schedule = _parse_eventbridge(expression)
    zone = load_zone(validate_timezone(timezone))
    require_aware(after, "after")
    if until is not None:
        require_aware(until, "until")
    fires: list[datetime] = []
    if n <= 0:
        return fires
    for instant in _eb_iter(schedule, zone, after, until):
        fires.append(instant)
        if len(fires) == n:
            break
    return fires


def eventbridge_next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The next fire time strictly after `after` (UTC), or None if none within about 5 years.
    A one-time `at(...)` fires once (scheduler.cron.once)."""
    if is_at_expression(expression):
        return eventbridge_at_fire(expression, timezone, after)
    fires = eventbridge_fire_times(expression, timezone, after, 1, until=after + _NEXT_FIRE_HORIZON)
    return fires[0] if fires else None
