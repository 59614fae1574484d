"""Which zone a user meant: the closest IANA names to an unknown one, and the zone to write
instead of a legacy name that does not keep the clock its name suggests.

A legacy name is refused for new writes only (create, change, preview): a stored schedule
with one keeps working (its reads, fires and reconcile use `validate_timezone`, which still
accepts it). Which names are legacy, and why:

- EST, MST, HST: fixed offsets all year (tzdata now links them to Panama, Phoenix, Honolulu);
  someone who writes EST means New York's clock, which changes to EDT in summer;
- EST5EDT, CST6CDT, MST7MDT, PST8PDT: the old POSIX-style US zones, the clock of no place;
- CET, MET, EET, WET: names of a standard time, not of a place; which country's rules (and
  their history) apply is better said by naming the place.

The `Etc/GMT±N` zones stay accepted: the `Etc/` prefix is a deliberate choice of a fixed
offset (their sign is POSIX's, inverted: Etc/GMT+5 is UTC-05:00; docs/cron-and-time-zones.md
says so). UTC, GMT and their aliases are UTC and stay accepted.
"""

from __future__ import annotations

import difflib
from functools import cache
from zoneinfo import available_timezones

# Legacy name -> the zone(s) to write instead, and what the legacy name does.
LEGACY_ZONES: dict[str, tuple[tuple[str, ...], str]] = {
    "EST": (("America/New_York",), "a fixed UTC-05:00 without daylight saving time"),
    "MST": (("America/Denver", "America/Phoenix"), "a fixed UTC-07:00 without daylight saving"),
    "HST": (("Pacific/Honolulu",), "a legacy name for Hawaii's fixed UTC-10:00"),
    "EST5EDT": (("America/New_York",), "a legacy POSIX-style zone of no place"),
    "CST6CDT": (("America/Chicago",), "a legacy POSIX-style zone of no place"),
    "MST7MDT": (("America/Denver",), "a legacy POSIX-style zone of no place"),
    "PST8PDT": (("America/Los_Angeles",), "a legacy POSIX-style zone of no place"),
    "CET": (("Europe/Berlin", "Europe/Paris"), "the name of a standard time, not of a place"),
    "MET": (("Europe/Berlin", "Europe/Paris"), "the name of a standard time, not of a place"),
    "EET": (("Europe/Athens", "Europe/Helsinki"), "the name of a standard time, not of a place"),
    "WET": (("Europe/Lisbon",), "the name of a standard time, not of a place"),
}
_MAX_SUGGESTIONS = 3
_SIMILAR_ENOUGH = 0.75  # difflib's ratio: close enough to be a typo of, not just another zone
_TIE = 0.05  # a suggestion this much less similar than the best is still shown


def legacy_zone_problem(name: str) -> str | None:
    """Why a new schedule may not use `name`, with the zone(s) to use; None if it may."""
    if name not in LEGACY_ZONES:
        return None
    instead, what = LEGACY_ZONES[name]
    return f"'{name}' is {what}; write the place's zone instead: {_either(instead)}"


@cache
def _suggestable_zones() -> tuple[str, ...]:
    """The zones a suggestion may name (sorted: equal scores come out in one order)."""
    return tuple(
        sorted(
            zone
            for zone in available_timezones()
            if zone not in LEGACY_ZONES
            and zone not in ("localtime", "Factory", "posixrules")
            and not zone.startswith(("posix/", "right/"))
        )
    )


def closest_zones(name: str) -> list[str]:
    """The IANA names most like `name` (the wrong case, a city alone, a typo), best first."""
    lowered = name.lower()
    zones = _suggestable_zones()
    for same in (
        [zone for zone in zones if zone.lower() == lowered],
        [zone for zone in zones if zone.lower().rpartition("/")[2] == lowered],
    ):
        if same:
            return same[:_MAX_SUGGESTIONS]
    matcher = difflib.SequenceMatcher(b=lowered, autojunk=False)
    scored = []
    for zone in zones:
        matcher.set_seq1(zone.lower())
        if matcher.real_quick_ratio() < _SIMILAR_ENOUGH or matcher.quick_ratio() < _SIMILAR_ENOUGH:
            continue  # the cheap upper bounds rule it out
        if (ratio := matcher.ratio()) >= _SIMILAR_ENOUGH:
            scored.append((-ratio, zone))
    scored.sort()
    # Only the best and those as good as it: one clear typo suggests one zone.
    return [zone for score, zone in scored[:_MAX_SUGGESTIONS] if score <= scored[0][0] + _TIE]


def did_you_mean(name: str) -> str:
    """`; did you mean 'Europe/Berlin'?` for a name close to zones, else empty."""
    closest = closest_zones(name)
    return f"; did you mean {_either(closest)}?" if closest else ""


def _either(zones: tuple[str, ...] | list[str]) -> str:
    quoted = [f"'{zone}'" for zone in zones]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
