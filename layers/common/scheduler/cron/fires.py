"""Fire times of a Unix cron in a timezone: previews, "does it ever fire", and fire slots.

croniter's Unix semantics evaluated on the wall clock of the schedule's timezone, with
EventBridge Scheduler's DST rules (see scheduler.cron): a wall time inside the spring-forward gap
does not fire, a repeated autumn wall time fires once, at its first occurrence.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from croniter import CroniterBadDateError, croniter

from scheduler.cron.convert import compile_expression
from scheduler.cron.fields import CronError
from scheduler.cron.timezones import load_zone, require_aware, validate_timezone, wall_to_utc


@lru_cache(maxsize=2048)
def _croniter_template(normalized: str) -> croniter:
    return croniter(normalized, datetime(2000, 1, 1))


def croniter_at(normalized: str, wall: datetime) -> croniter:
    """A croniter starting at `wall`. Parsing the expression costs more than a whole lookup,
    so each expression is parsed once; copies share its parsed fields, which croniter only reads.
    """
    schedule = copy.copy(_croniter_template(normalized))
    schedule.set_current(wall, force=True)
    return schedule


# Previews look this far ahead. Long enough for the rarest accepted cron (a fifth Sunday in
# February comes every 28 years); a cron whose every time falls into a DST gap ends here
# instead of at year 9999.
_PREVIEW_HORIZON = timedelta(days=40 * 366)

# (expr, timezone, n) -> (after, the n fires after it). The same answer holds for any later
# `after` before the first of those fires, so a warm process lists schedules without croniter.
_PREVIEWS: dict[tuple[str, str, int], tuple[datetime, list[datetime]]] = {}
_PREVIEWS_MAX = 4096


def next_fire_times(
    expr: str, timezone: str, after: datetime, n: int, *, until: datetime | None = None
) -> list[datetime]:
    """The next `n` fire times strictly after `after` (none later than `until`), in UTC.

    croniter's Unix semantics evaluated on the wall clock of `timezone`, with EventBridge's DST
    rules: a wall time inside a spring-forward gap does not fire (croniter alone would fire
    it at the end of the gap), and a repeated autumn wall time fires once, at its first
    occurrence (croniter alone fires both).
    """
    compiled = compile_expression(expr)
    require_aware(after, "after")
    if until is not None:
        require_aware(until, "until")
    key = (compiled.normalized, timezone, n)
    cached = _PREVIEWS.get(key) if until is None else None
    if cached is not None and cached[0] <= after < cached[1][0]:
        return list(cached[1])  # only a valid timezone is ever cached: no need to check it again
    zone = load_zone(validate_timezone(timezone))
    wall = after.astimezone(zone).replace(tzinfo=None)
    # capped at the end of year 9999: a window may start close to it
    wall_horizon = min(wall, datetime.max - _PREVIEW_HORIZON) + _PREVIEW_HORIZON
    schedule = croniter_at(compiled.normalized, wall)
    fires: list[datetime] = []
    # Wall times map to UTC in order, so every fire after `after` comes after its wall time.
    while len(fires) < n:
        try:
            candidate: datetime = schedule.get_next(datetime)
        except CroniterBadDateError:
            break
        if candidate > wall_horizon:
            break
        instant = wall_to_utc(candidate, zone)
        if instant is None or instant <= after:
            continue
        if until is not None and instant > until:
            break
        fires.append(instant)
    if until is None and fires and len(fires) == n:
        if len(_PREVIEWS) >= _PREVIEWS_MAX:
            _PREVIEWS.clear()
        _PREVIEWS[key] = (after, fires)
    return list(fires)


def ensure_fires(expr: str, timezone: str, after: datetime | None = None) -> None:
    """CronError unless the expression fires in `timezone` within the preview horizon: e.g.
    `30 2 * 3 L0` in Europe/Berlin names only times that the spring-forward change skips."""
    if not next_fire_times(expr, timezone, after or datetime.now(UTC), 1):
        raise CronError(
            f"never fires in {timezone}: every time it names falls into a daylight-saving gap"
        )


def fire_slot(expr: str, timezone: str, at: datetime) -> datetime | None:
    """The fire time (slot) that a fire delivered at `at` stands for, in UTC; None if no slot.

    `at` is a fire of the expression in `timezone` when it is on a whole minute (zero seconds
    and microseconds) and its wall-clock time there is one the expression names. The slot is the
    UTC instant of that wall time's first occurrence:

    - an ordinary time (and any time in a zone without DST) is its own slot;
    - in the repeated autumn hour, both instants of one wall time (e.g. 02:30 CEST = 00:30Z and
      02:30 CET = 01:30Z in Berlin on 2026-10-25) give the first one, 00:30Z. EventBridge runs a
      repeated time once but does not say at which instant, so either delivery is accepted and
      both share one (schedule, slot) dedupe key: the wall time runs at most once. This holds for
      every expression, `0 * * * *` included: 01:00Z (02:00 CET) is the slot 00:00Z (02:00 CEST),
      so an hourly schedule runs once for the wall hour 02:00 although two real hours pass;
    - a wall time inside the spring-forward gap is never a slot: no instant reads as it.

    These are the instants `next_fire_times` and `eventbridge_fire_times` list: for each of them
    `fire_slot` returns it unchanged. Raises CronError, InvalidTimezone, or ValueError for a naive
    `at`.
    """
    compiled = compile_expression(expr)
    zone = load_zone(validate_timezone(timezone))
    require_aware(at, "at")
    if at.second or at.microsecond:
        return None
    # Through UTC: astimezone() returns an `at` already in `zone` as it is, and a wall time that
    # does not exist (02:30 on the spring-forward night) would then be read as if it did.
    wall = at.astimezone(UTC).astimezone(zone).replace(tzinfo=None)  # same for either fold
    schedule = croniter_at(compiled.normalized, wall - timedelta(minutes=1))
    try:
        if schedule.get_next(datetime) != wall:
            return None
    except CroniterBadDateError:
        return None
    # `wall` was read off a real instant, so it exists; fold=0 picks its first occurrence.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def is_fire_time(expr: str, timezone: str, at: datetime) -> bool:
    """True iff `at` is a fire of the expression in `timezone`, at either occurrence of a
    repeated autumn wall time (see fire_slot, which also says which slot it is)."""
    return fire_slot(expr, timezone, at) is not None


def last_occurrence(slot: datetime, timezone: str) -> datetime:
    """The last instant at which the wall time of `slot` (a fire slot, see fire_slot) occurs:
    the second occurrence of a repeated autumn wall time, else the slot itself. A delivery may
    come at either, so the slot is not overdue before this."""
    zone = load_zone(validate_timezone(timezone))
    require_aware(slot, "slot")
    wall = slot.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
