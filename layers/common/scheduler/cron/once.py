"""One-time schedules: `at`, the one instant a schedule fires at instead of a cron's many.

A client writes `at` as an ISO 8601 date and time, either an instant (with `Z` or an offset:
"2026-12-11T17:00:00Z") or a wall-clock time without offset, read on the clock of the
schedule's timezone ("2026-12-11T17:00:00" in Europe/Berlin is 16:00Z). The schedule stores the
instant. EventBridge gets `at(<wall time>)` in the schedule's timezone (ScheduleExpression plus
ScheduleExpressionTimezone), the same instant.

DST rules for a wall time, as for a cron's (scheduler.cron.timezones.wall_to_utc):
- one inside the spring-forward gap does not exist: refused (AtError names it);
- one in the repeated autumn hour is its first occurrence (write an offset for the second).
EventBridge fires on whole minutes, so `at` must have zero seconds: refused otherwise, never
rounded (a rounded time would fire at a time the client did not write).

Because EventBridge documents no choice between the two instants of a repeated wall time, a
delivery at either instant of the `at`'s wall time is its one slot (`at_slot`), as fire_slot
does for a cron.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from scheduler.cron.timezones import load_zone, require_aware, validate_timezone, wall_to_utc

_AT_EXPRESSION = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
# The date and time a client writes: a date, T, hours and minutes (seconds optional), and an
# optional Z or offset; nothing else (no week dates, no ordinal days, no space separator).
_AT_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.IGNORECASE
)


class AtError(ValueError):
    """An `at` that is not one instant a schedule can fire at; the message names the field."""


def parse_at(text: str, timezone: str) -> datetime:
    """The UTC instant `text` names (an instant, or a wall time in `timezone`); AtError if it
    is malformed, not on a whole minute, or a wall time the DST change skips."""
    if not isinstance(text, str) or not _AT_TEXT.fullmatch(text.strip()):
        raise AtError(
            f"at: {str(text)[:64]!r} is not an ISO 8601 date and time; write e.g."
            " 2026-12-11T17:00:00Z (an instant) or 2026-12-11T17:00:00 (in the timezone)"
        )
    moment = datetime.fromisoformat(text.strip().upper())
    if moment.second or moment.microsecond:
        raise AtError(
            f"at: {text.strip()} has seconds: EventBridge fires on whole minutes, so write"
            f" {moment.replace(second=0, microsecond=0).isoformat()} (or the next minute)"
        )
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    zone = load_zone(validate_timezone(timezone))
    instant = wall_to_utc(moment, zone)
    if instant is None:
        raise AtError(
            f"at: {moment.isoformat()} does not exist in {timezone}: the clocks skip it when"
            " daylight saving time starts; write a time before or after the jump, or an offset"
        )
    return instant


def ensure_future(run_at: datetime, now: datetime) -> None:
    """AtError unless `run_at` is after `now`: a schedule created for a past instant would never
    fire (EventBridge does not fire an at() in the past), so it is refused, without grace."""
    require_aware(now, "now")
    if run_at <= now:
        raise AtError(
            f"at: {iso(run_at)} is in the past (now is {iso(now.replace(microsecond=0))}):"
            " a one-time schedule must fire later than now"
        )


def wall_time(run_at: datetime, timezone: str) -> datetime:
    """`run_at` on the clock of `timezone` (aware, with the zone's offset then)."""
    require_aware(run_at, "run_at")
    return run_at.astimezone(UTC).astimezone(load_zone(validate_timezone(timezone)))


def to_eventbridge_at(run_at: datetime, timezone: str) -> str:
    """EventBridge's one-time expression: `at(yyyy-mm-ddThh:mm:ss)` on the zone's clock."""
    return f"at({wall_time(run_at, timezone).replace(tzinfo=None).isoformat(timespec='seconds')})"


def at_text(run_at: datetime, timezone: str) -> str:
    """How the API shows `at`: the instant with the timezone's offset then (unambiguous, and the
    wall time the client wrote when it wrote one)."""
    return wall_time(run_at, timezone).isoformat(timespec="seconds")


def describe_at(run_at: datetime, timezone: str) -> str:
    """The words a read shows where a cron's description goes."""
    wall = wall_time(run_at, timezone)
    return f"Once, at {wall:%Y-%m-%d %H:%M} ({timezone}, UTC{wall:%z})"


@lru_cache(maxsize=4096)
def at_shown(run_at: datetime, timezone: str) -> tuple[str, str, str]:
    """(at_text, describe_at, to_eventbridge_at) of one `at`, remembered: a page of schedules
    shows each (about 50 µs uncached, each converting through the zone)."""
    return (
        at_text(run_at, timezone),
        describe_at(run_at, timezone),
        to_eventbridge_at(run_at, timezone),
    )


def once_fire_times(
    run_at: datetime, after: datetime, n: int, until: datetime | None = None
) -> list[datetime]:
    """The one-time schedule's fire times strictly after `after` (none later than `until`): its
    `run_at`, or none; the counterpart of next_fire_times."""
    require_aware(after, "after")
    if n <= 0 or run_at <= after or (until is not None and run_at > until):
        return []
    return [run_at.astimezone(UTC)]


def at_slot(run_at: datetime, timezone: str, delivered: datetime) -> datetime | None:
    """The slot (`run_at`) a delivery at `delivered` stands for, or None when it is not this
    schedule's fire (a stale at(), from before a change of `at`). Either instant of a repeated
    wall time is the slot, as fire_slot does for a cron."""
    require_aware(delivered, "delivered")
    if delivered.second or delivered.microsecond:
        return None
    if delivered == run_at:
        return run_at.astimezone(UTC)
    zone = load_zone(validate_timezone(timezone))
    delivered_wall = delivered.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if delivered_wall == wall_time(run_at, timezone).replace(tzinfo=None):
        return run_at.astimezone(UTC)
    return None


def eventbridge_at_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The fire time of an EventBridge `at(...)` in `timezone` strictly after `after`, if any
    (the local engine's evaluator). ValueError when `expression` is not an at()."""
    match = _AT_EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise ValueError(f"not an at() expression: {expression!r}")
    wall = datetime.fromisoformat(match.group(1))
    instant = wall_to_utc(wall, load_zone(validate_timezone(timezone)))
    if instant is None or instant <= after:
        return None
    return instant


def is_at_expression(expression: str) -> bool:
    return expression.strip().startswith("at(")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
