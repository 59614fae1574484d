"""Timezones of schedules: which IANA names are accepted, and wall-clock times to UTC instants.

`validate_timezone` is what a stored schedule must hold to be read, fired and reconciled;
`validate_timezone_to_write` adds what a new write must not use: the legacy names of
scheduler.cron.zone_names (EST, CET, ...), refused with the zone to write instead.

Fire times are evaluated on the wall clock of a schedule's timezone, as EventBridge Scheduler
does; `wall_to_utc` holds its DST rules for one wall time: a time inside the spring-forward gap
does not exist (None), a repeated autumn time is its first occurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from scheduler.cron.zone_names import did_you_mean, legacy_zone_problem


class InvalidTimezone(ValueError):
    """A timezone name that is not a usable IANA zone."""


_TZ_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
# Present in tz databases but not zones a user means: the host's own zone, a placeholder,
# a rules template, and the leap-second and POSIX copies of real zones.
_NOT_SCHEDULE_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=512)
def load_zone(name: str) -> ZoneInfo:
    """The zone of a name validate_timezone accepted (cached: each ZoneInfo reads a file)."""
    return ZoneInfo(name)


def validate_timezone(name: str) -> str:
    """Return `name` if it is an IANA timezone usable for a schedule, else raise InvalidTimezone."""
    if not isinstance(name, str) or not name:
        raise InvalidTimezone("the timezone is empty; use an IANA name such as Europe/Berlin")
    if len(name) > 64 or not _TZ_NAME.fullmatch(name):
        hint = did_you_mean(name.strip()) if len(name) <= 64 else ""
        raise InvalidTimezone(
            f"'{name[:64]}' is not an IANA timezone name{hint or ' (e.g. Europe/Berlin)'}"
        )
    if name in _NOT_SCHEDULE_ZONES or name.startswith(("posix/", "right/")):
        raise InvalidTimezone(f"'{name}' is not a timezone for schedules; use e.g. Europe/Berlin")
    try:
        load_zone(name)
    except Exception as exc:  # zoneinfo raises several kinds for a bad key or file
        hint = did_you_mean(name) or " (use an IANA name such as Europe/Berlin or UTC)"
        raise InvalidTimezone(f"unknown timezone '{name}'{hint}") from exc
    return name


def validate_timezone_to_write(name: str) -> str:
    """validate_timezone, refusing too the legacy names a new schedule must not use (a stored
    one keeps working: only writes call this)."""
    validate_timezone(name)
    if (problem := legacy_zone_problem(name)) is not None:
        raise InvalidTimezone(problem)
    return name


def require_aware(moment: datetime, what: str) -> None:
    """ValueError naming `what` unless `moment` carries a timezone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC instant of a naive wall-clock time: None in a DST gap, the first one when repeated."""
    aware = wall.replace(tzinfo=zone, fold=0)  # fold=0: the earlier of two repeated wall times
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # the wall time was skipped by a spring-forward jump
    return instant


def iso_utc(moment: datetime) -> str:
    """An instant as the product writes it for others (run context, headers, alerts): UTC, Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
