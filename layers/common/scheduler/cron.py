"""Cron for schedules: validate Unix cron, convert it to EventBridge syntax, preview fire times.

Users write 5-field Unix cron meaning what croniter (and Vixie cron) mean; EventBridge Scheduler
wants its own 6-field dialect. The rules are in CRON.md. The conversion parses each field into a
set of values (or one "special" for L / W / # / Ln), decides how the two day fields combine, and
formats the sets back in EventBridge syntax. Anything that cannot be converted exactly raises
CronError with the field and the reason in a user's words.

Daylight saving time follows EventBridge Scheduler, which evaluates the expression on the wall
clock of the schedule's timezone:

- a wall-clock time that does not exist (skipped by the spring-forward jump) does not fire;
- a wall-clock time that happens twice (the repeated autumn hour) fires once, at its first
  occurrence.

The previews (`next_fire_times`) and the local engine's evaluator (`eventbridge_fire_times`)
both apply exactly these rules, so a preview shows what EventBridge will do.

AWS documents only that a repeated time "runs once", not at which of its two instants, so a
delivery at either must be accepted: `fire_slot` maps both instants of one repeated wall time to
the same slot, the first one's, and a runner that claims (schedule, slot) rather than the
delivered instant runs that wall time at most once.
"""

from __future__ import annotations

import calendar
import copy
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

__all__ = [
    "CronError",
    "InvalidTimezone",
    "describe",
    "ensure_fires",
    "eventbridge_fire_times",
    "eventbridge_next_fire",
    "fire_slot",
    "is_fire_time",
    "next_fire_times",
    "to_eventbridge",
    "validate",
    "validate_timezone",
]

MAX_EXPRESSION_LENGTH = 256
# EventBridge's year field ends at 2199: nothing fires after it.
_LAST_EVENTBRIDGE_YEAR = 2199
_NEXT_FIRE_HORIZON = timedelta(days=5 * 366)


class CronError(ValueError):
    """A cron expression that cannot be accepted; the message names the field and the reason."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidTimezone(ValueError):
    """A timezone name that is not a usable IANA zone."""


# --------------------------------------------------------------------------- field grammar

MINUTE, HOUR, DOM, MONTH, DOW = "minute", "hour", "day-of-month", "month", "day-of-week"
_FIELD_ORDER = f"{MINUTE} {HOUR} {DOM} {MONTH} {DOW}"

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_DOW_NAMES = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_DOW_LABELS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_LABELS = tuple(calendar.month_name)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# ASCII only on purpose: str.isdigit() and \s would let Unicode digits and spaces through.
_ALLOWED = re.compile(r"[0-9A-Za-z*?,/#@ \t-]*")
_NUMBER = re.compile(r"[0-9]+")
_NAME = re.compile(r"[A-Z]+")


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    lo: int
    hi: int  # highest value a user may type (day-of-week accepts 7 for Sunday)
    size: int  # number of distinct values, the largest allowed step
    names: dict[str, int]

    @property
    def full(self) -> frozenset[int]:
        return frozenset(range(self.lo, self.lo + self.size))


_SPECS = (
    _FieldSpec(MINUTE, 0, 59, 60, {}),
    _FieldSpec(HOUR, 0, 23, 24, {}),
    _FieldSpec(DOM, 1, 31, 31, {}),
    _FieldSpec(MONTH, 1, 12, 12, _MONTH_NAMES),
    _FieldSpec(DOW, 0, 7, 7, _DOW_NAMES),
)


@dataclass(frozen=True)
class _Special:
    """One day-field extension: L (last day), nW, Ln (last weekday n), n#k (k-th weekday n)."""

    kind: Literal["last_day", "nearest_weekday", "last_dow", "nth_dow"]
    value: int = 0  # the day for nW, the weekday (0 = Sunday) for Ln and n#k
    nth: int = 0


@dataclass(frozen=True)
class _Field:
    text: str
    values: frozenset[int]  # empty when `special` is set
    special: _Special | None
    unrestricted: bool  # the field is exactly `*` or `?`
    complete: bool  # the values are the whole field
    has_star: bool  # croniter's test when it decides whether to collapse the other day field
    starts_with_star: bool  # Vixie cron's test for AND instead of OR of the day fields


def _field(text: str, values: frozenset[int], spec: _FieldSpec) -> _Field:
    return _Field(
        text=text,
        values=values,
        special=None,
        unrestricted=text in ("*", "?"),
        complete=values == spec.full,
        has_star="*" in text,
        starts_with_star=text.startswith("*"),
    )


def _special_field(text: str, special: _Special) -> _Field:
    return _Field(text, frozenset(), special, False, False, False, False)


def _parse_field(text: str, spec: _FieldSpec) -> _Field:
    """Parse one field into its set of values, or into one special for the day fields."""
    upper = text.upper()
    if upper == "?" and spec.name in (DOM, DOW):
        return _field("?", spec.full, spec)
    if "?" in upper:
        raise CronError("'?' is only allowed as the whole day-of-month or day-of-week", spec.name)
    if "#" in upper and spec.name != DOW:
        raise CronError("'#' (n-th weekday) is only allowed in day-of-week", spec.name)
    if spec.name == DOM and ("L" in upper or "W" in upper):
        return _special_field(text, _parse_dom_special(upper))
    if spec.name == DOW and ("L" in upper or "#" in upper):
        return _special_field(text, _parse_dow_special(upper))
    elements = upper.split(",")
    if "*" in elements and len(elements) > 1 and spec.name in (DOM, DOW):
        # croniter reads such a day field as `*`, Vixie cron as a restriction: they disagree.
        raise CronError("'*' cannot be combined with other values in a list", spec.name)
    values: set[int] = set()
    for element in elements:
        values |= _parse_element(element, spec)
    return _field(text, frozenset(values), spec)


def _parse_dom_special(upper: str) -> _Special:
    if "," in upper:
        raise CronError("L and W cannot be combined with other values in a list", DOM)
    if upper == "L":
        return _Special("last_day")
    if upper == "LW":
        raise CronError("LW (last weekday of the month) is not supported", DOM)
    match = re.fullmatch(r"([0-9]+)W", upper)
    if match is None:
        raise CronError(
            f"'{upper}' is not supported: use L alone for the last day of the month, or nW "
            "(e.g. 15W) for the weekday nearest day n",
            DOM,
        )
    day = int(match.group(1))
    if not 1 <= day <= 28:
        # croniter moves 29W-31W to the month's last day, EventBridge does not: they disagree.
        raise CronError(f"{upper}: nearest weekday nW needs a day n from 1 to 28", DOM)
    return _Special("nearest_weekday", value=day)


def _parse_dow_special(upper: str) -> _Special:
    if "," in upper:
        raise CronError("L and # cannot be combined with other values in a list", DOW)
    if upper == "L":
        raise CronError("a bare L is not supported; write L5 for the last Friday", DOW)
    if match := re.fullmatch(r"L([0-9]+)", upper):
        return _Special("last_dow", value=_dow_value(match.group(1)))
    if match := re.fullmatch(r"([0-9]+)L", upper):
        raise CronError(f"{upper} is not supported; write L{match.group(1)} for the last one", DOW)
    if match := re.fullmatch(r"([0-9]+|[A-Z]+)#([0-9]+)", upper):
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise CronError(f"{upper}: the occurrence after # must be from 1 to 5", DOW)
        return _Special("nth_dow", value=_dow_value(match.group(1)), nth=nth)
    raise CronError(
        f"'{upper}' is not supported: use Ln for the last weekday n (L5 = last Friday) or "
        "n#k for the k-th weekday n (5#3 = third Friday), each alone",
        DOW,
    )


def _dow_value(text: str) -> int:
    return _value(text, _SPECS[4]) % 7


def _parse_element(element: str, spec: _FieldSpec) -> set[int]:
    """One list element: `*`, `a`, `a-b`, each optionally with `/step`."""
    if not element:
        raise CronError("empty value in a list (check the commas)", spec.name)
    if element in ("H", "R") or element.startswith(("H/", "R/")):
        raise CronError("hashed (H) and random (R) values are not supported", spec.name)
    base, slash, step_text = element.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text):
            raise CronError(f"step '{step_text}' in '{element}' must be a number", spec.name)
        step = int(step_text)
        if not 1 <= step <= spec.size:
            raise CronError(f"step {step} is out of range 1-{spec.size}", spec.name)
    if base == "*":
        return set(range(spec.lo, spec.lo + spec.size, step))
    if "-" in base:
        start_text, _, end_text = base.partition("-")
        if not start_text or not end_text or "-" in end_text:
            raise CronError(f"'{element}' is not a range of the form a-b", spec.name)
        start, end = _value(start_text, spec), _value(end_text, spec)
        return _range(start, end, step, spec, f"{start_text}-{end_text}", bool(slash))
    start = _value(base, spec)
    if not slash:
        return {start % 7} if spec.name == DOW else {start}
    if spec.name == DOW:
        raise CronError(
            f"'{element}' (a start with a step) is not allowed; write a range such as 1-5/2",
            spec.name,
        )
    return set(range(start, spec.hi + 1, step))


def _value(text: str, spec: _FieldSpec) -> int:
    if _NUMBER.fullmatch(text):
        number = int(text)
        if not spec.lo <= number <= spec.hi:
            raise CronError(f"{number} is out of range {spec.lo}-{spec.hi}", spec.name)
        return number
    if _NAME.fullmatch(text):
        if not spec.names:
            raise CronError(
                f"'{text}' is not a number (names are only allowed in month and day-of-week)",
                spec.name,
            )
        if text not in spec.names:
            raise CronError(f"unknown name '{text}'", spec.name)
        return spec.names[text]
    raise CronError(f"'{text}' is not a valid value", spec.name)


def _range(start: int, end: int, step: int, spec: _FieldSpec, text: str, stepped: bool) -> set[int]:
    is_dow = spec.name == DOW
    if is_dow and (start, end) == (0, 7):
        return {v % 7 for v in range(0, 8, step)}
    same = start % 7 == end % 7 if is_dow else start == end
    if same:
        # croniter reads a-a as the whole field, Vixie cron as one value.
        raise CronError(
            f"range {text} is ambiguous (cron implementations read it as one value or as "
            "every value); write the single value instead",
            spec.name,
        )
    if is_dow and start == 7:
        if stepped:  # written as a wrapping range, whatever croniter makes of it
            raise CronError(f"range {text} with a step cannot wrap around", spec.name)
        start = 0  # 7-2 is Sunday to Tuesday
    if start > end:
        if stepped:
            raise CronError(f"range {text} with a step cannot wrap around", spec.name)
        top = 6 if is_dow else spec.hi
        return set(range(start, top + 1)) | set(range(spec.lo, end + 1))
    values = range(start, end + 1, step)
    return {v % 7 for v in values} if is_dow else set(values)


# --------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class _Compiled:
    """A validated expression: its normalized text, its EventBridge form and its parsed fields."""

    normalized: str
    eventbridge: tuple[str, ...]
    fields: tuple[_Field, ...]
    day_mode: Literal["every", "dom", "dow", "or"]


def _checked_text(expr: object) -> str:
    if not isinstance(expr, str):
        raise CronError("the cron expression must be a string")
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise CronError(f"the cron expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    return expr


def _split(expr: str) -> list[str]:
    """Input hygiene, macros and field count; returns the five field texts."""
    if not _ALLOWED.fullmatch(expr):
        bad = next(ch for ch in expr if not _ALLOWED.fullmatch(ch))
        raise CronError(
            f"character {bad!r} is not allowed (use digits, letters, spaces and * ? , / # - @)"
        )
    tokens = expr.split()
    if not tokens:
        raise CronError("the cron expression is empty")
    if tokens[0].startswith("@"):
        macro = tokens[0].lower()
        if len(tokens) > 1:
            raise CronError(f"{tokens[0]} must stand alone")
        if macro == "@reboot":
            raise CronError("@reboot is not supported: a schedule needs a time")
        if macro not in _MACROS:
            raise CronError(f"unknown macro {tokens[0]} (use @hourly, @daily, @weekly, ...)")
        tokens = _MACROS[macro].split()
    if any("@" in token for token in tokens):
        raise CronError("'@' is only allowed at the start of a macro such as @daily")
    if len(tokens) != 5:
        raise CronError(f"expected 5 fields ({_FIELD_ORDER}), got {len(tokens)}")
    return tokens


def _day_mode(dom: _Field, dow: _Field) -> Literal["every", "dom", "dow", "or"]:
    """How the two day fields combine: every day, one of them, or either (the OR split)."""
    if dom.special and dom.special.kind == "nearest_weekday" and not dow.unrestricted:
        # croniter keeps nW even on the day-of-week side of its OR: not a plain union.
        raise CronError("nW cannot be combined with a day-of-week restriction", DOM)
    if dow.special and not dom.unrestricted:
        # croniter applies Ln / n#k to the day-of-month side of its OR too: not a plain union.
        raise CronError(f"{dow.text} cannot be combined with a day-of-month restriction", DOW)
    if dom.unrestricted and dow.unrestricted:
        return "every"
    if dow.unrestricted:
        return "every" if dom.complete else "dom"
    if dom.unrestricted:
        return "every" if dow.complete else "dow"
    if dom.complete and dow.complete:
        return "every"
    # croniter treats a complete day field as `*` when the other one contains `*`; Vixie cron
    # intersects the day fields when either starts with `*`. Both read the rest as a union.
    croniter_and = (dom.complete and dow.has_star) or (dow.complete and dom.has_star)
    vixie_and = dom.starts_with_star or dow.starts_with_star
    if croniter_and != vixie_and:
        raise CronError(
            "both day fields are restricted and one uses '*': cron implementations "
            "disagree whether a day must match both or either; restrict only one day field, "
            "or write it without '*'",
            f"{DOM} and {DOW}",
        )
    if croniter_and:
        return "dow" if dom.complete else "dom"
    return "every" if dom.complete or dow.complete else "or"


def _dom_can_fire(dom: _Field, months: frozenset[int]) -> bool:
    if dom.special:  # L exists in every month, nW only accepts n <= 28
        return True
    longest = max(calendar.monthrange(2000, month)[1] for month in months)  # 2000: a leap year
    return min(dom.values) <= longest


def _format_set(values: frozenset[int], full: frozenset[int], shift: int = 0) -> str:
    """`*` for a complete set, else sorted values with runs of three or more as a-b."""
    if values == full:
        return "*"
    ordered = sorted(v + shift for v in values)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(v) for v in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _eventbridge_dom(dom: _Field) -> str:
    if dom.special is None:
        return _format_set(dom.values, _SPECS[2].full)
    if dom.special.kind == "last_day":
        return "L"
    return f"{dom.special.value}W"


def _eventbridge_dow(dow: _Field) -> str:
    # EventBridge numbers weekdays 1-7 from Sunday, Unix 0-6: shift by one.
    if dow.special is None:
        return _format_set(dow.values, _SPECS[4].full, shift=1)
    if dow.special.kind == "last_dow":
        return f"{dow.special.value + 1}L"
    return f"{dow.special.value + 1}#{dow.special.nth}"


@lru_cache(maxsize=2048)
def _compile(expr: str) -> _Compiled:
    tokens = _split(expr)
    fields = tuple(_parse_field(text, spec) for text, spec in zip(tokens, _SPECS, strict=True))
    minute, hour, dom, month, dow = fields
    mode = _day_mode(dom, dow)
    if mode in ("dom", "or") and not _dom_can_fire(dom, month.values):
        if mode == "dom":
            raise CronError(
                f"the schedule never fires: day {min(dom.values)} does not occur in "
                f"{', '.join(_MONTH_LABELS[m] for m in sorted(month.values))}",
                DOM,
            )
        mode = "dow"  # the day-of-month half of the OR never fires; the weekday half does
    head = (
        f"{_format_set(minute.values, _SPECS[0].full)} {_format_set(hour.values, _SPECS[1].full)}"
    )
    months = _format_set(month.values, _SPECS[3].full)
    day_pairs = {
        "every": [("*", "?")],
        "dom": [(_eventbridge_dom(dom), "?")],
        "dow": [("?", _eventbridge_dow(dow))],
        "or": [(_eventbridge_dom(dom), "?"), ("?", _eventbridge_dow(dow))],
    }[mode]
    outputs = tuple(f"cron({head} {d} {months} {w} *)" for d, w in day_pairs)
    for output in outputs:
        if len(output) > MAX_EXPRESSION_LENGTH:
            raise CronError(
                f"the EventBridge expression would be longer than {MAX_EXPRESSION_LENGTH} "
                "characters; use fewer separate values"
            )
    return _Compiled(" ".join(tokens), outputs, fields, mode)


def _compiled(expr: object) -> _Compiled:
    # Check the length before the cache: hashing a huge string would cost more than rejecting it.
    return _compile(_checked_text(expr))


def validate(expr: str) -> str:
    """Return the normalized expression (macros expanded, single spaces) or raise CronError."""
    return _compiled(expr).normalized


def to_eventbridge(expr: str) -> list[str]:
    """Convert Unix cron to one EventBridge `cron(...)`, or two for the day-field OR split.

    The day-of-month expression comes first. Raises CronError for anything that cannot be
    converted exactly.
    """
    return list(_compiled(expr).eventbridge)


# --------------------------------------------------------------------------- timezones

_TZ_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
# Present in tz databases but not zones a user means: the host's own zone, a placeholder,
# a rules template, and the leap-second and POSIX copies of real zones.
_NOT_SCHEDULE_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def validate_timezone(name: str) -> str:
    """Return `name` if it is an IANA timezone usable for a schedule, else raise InvalidTimezone."""
    if not isinstance(name, str) or not name:
        raise InvalidTimezone("the timezone is empty; use an IANA name such as Europe/Berlin")
    if len(name) > 64 or not _TZ_NAME.fullmatch(name):
        raise InvalidTimezone(f"'{name[:64]}' is not an IANA timezone name (e.g. Europe/Berlin)")
    if name in _NOT_SCHEDULE_ZONES or name.startswith(("posix/", "right/")):
        raise InvalidTimezone(f"'{name}' is not a timezone for schedules; use e.g. Europe/Berlin")
    try:
        _zone(name)
    except Exception as exc:  # zoneinfo raises several kinds for a bad key or file
        raise InvalidTimezone(f"unknown timezone '{name}' (use an IANA name such as UTC)") from exc
    return name


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC instant of a naive wall-clock time: None in a DST gap, the first one when repeated."""
    aware = wall.replace(tzinfo=zone, fold=0)  # fold=0: the earlier of two repeated wall times
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # the wall time was skipped by a spring-forward jump
    return instant


# --------------------------------------------------------------------------- Unix previews


@lru_cache(maxsize=2048)
def _croniter_template(normalized: str) -> croniter:
    return croniter(normalized, datetime(2000, 1, 1))


def _croniter_at(normalized: str, wall: datetime) -> croniter:
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
    compiled = _compiled(expr)
    _require_aware(after, "after")
    if until is not None:
        _require_aware(until, "until")
    key = (compiled.normalized, timezone, n)
    cached = _PREVIEWS.get(key) if until is None else None
    if cached is not None and cached[0] <= after < cached[1][0]:
        return list(cached[1])  # only a valid timezone is ever cached: no need to check it again
    zone = _zone(validate_timezone(timezone))
    wall = after.astimezone(zone).replace(tzinfo=None)
    wall_horizon = wall + _PREVIEW_HORIZON
    schedule = _croniter_at(compiled.normalized, wall)
    fires: list[datetime] = []
    # Wall times map to UTC in order, so every fire after `after` comes after its wall time.
    while len(fires) < n:
        try:
            candidate: datetime = schedule.get_next(datetime)
        except CroniterBadDateError:
            break
        if candidate > wall_horizon:
            break
        instant = _wall_to_utc(candidate, zone)
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
    compiled = _compiled(expr)
    zone = _zone(validate_timezone(timezone))
    _require_aware(at, "at")
    if at.second or at.microsecond:
        return None
    # Through UTC: astimezone() returns an `at` already in `zone` as it is, and a wall time that
    # does not exist (02:30 on the spring-forward night) would then be read as if it did.
    wall = at.astimezone(UTC).astimezone(zone).replace(tzinfo=None)  # same for either fold
    schedule = _croniter_at(compiled.normalized, wall - timedelta(minutes=1))
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


# --------------------------------------------------------------------------- descriptions

_DESCRIBE_OPTIONS = Options(locale_code="en_US", use_24hour_time_format=False)


def _describe_set(values: frozenset[int], spec: _FieldSpec) -> str:
    """A Unix field for the describer: `*`, `*/n`, `a-b/n` or a plain list."""
    full = spec.full
    if values == full:
        return "*"
    ordered = sorted(values)
    steps = {b - a for a, b in pairwise(ordered)}
    if len(ordered) >= 3 and len(steps) == 1 and (step := steps.pop()) > 1:
        if ordered[0] == spec.lo and ordered[-1] + step > max(full):
            return f"*/{step}"
        return f"{ordered[0]}-{ordered[-1]}/{step}"
    breaks = [i for i in range(1, len(ordered)) if ordered[i] != ordered[i - 1] + 1]
    if len(breaks) == 1 and ordered[0] == spec.lo and ordered[-1] == max(full):
        # one run across the end of the field, e.g. hours 22-2: say it as the user would
        return f"{ordered[breaks[0]]}-{ordered[breaks[0] - 1]}"
    return _format_set(values, full)


@lru_cache(maxsize=2048)  # cron-descriptor reloads its locale on every call (~0.5 ms)
def describe(expr: str) -> str:
    """A human description of the expression via cron-descriptor, e.g. "At 07:00 AM".

    It describes what the expression does (macros expanded, `59/15` as minute 59, complete
    fields as every value), not its spelling.
    """
    compiled = _compiled(expr)
    minute, hour, dom, month, dow = compiled.fields
    dom_text = dow_text = "*"
    if compiled.day_mode in ("dom", "or"):
        if dom.special is None:
            dom_text = _describe_set(dom.values, _SPECS[2])
        else:
            dom_text = _eventbridge_dom(dom)
    if compiled.day_mode in ("dow", "or"):
        if dow.special is None:
            dow_text = _describe_set(dow.values, _FieldSpec(DOW, 0, 6, 7, {}))
        elif dow.special.kind == "last_dow":
            dow_text = f"{dow.special.value}L"
        else:
            dow_text = f"{dow.special.value}#{dow.special.nth}"
    unix = " ".join(
        (
            _describe_set(minute.values, _SPECS[0]),
            _describe_set(hour.values, _SPECS[1]),
            dom_text,
            _describe_set(month.values, _SPECS[3]),
            dow_text,
        )
    )
    try:
        return str(ExpressionDescriptor(unix, _DESCRIBE_OPTIONS).get_description())
    except Exception:  # the describer is a nicety: never fail a request over it
        return compiled.normalized


# --------------------------------------------------------------------------- EventBridge evaluator


@dataclass(frozen=True)
class _EventBridgeSchedule:
    """A parsed EventBridge `cron(...)`; exactly one of the day fields is `?`."""

    minutes_of_day: tuple[int, ...]  # sorted hour * 60 + minute
    months: frozenset[int]
    years: frozenset[int] | None  # None: every year
    dom: frozenset[int] | _Special | None  # None: `?`
    dow: frozenset[int] | _Special | None  # EventBridge numbering, 1 = Sunday


def _eb_values(text: str, lo: int, hi: int, field: str) -> frozenset[int]:
    values: set[int] = set()
    for element in text.split(","):
        base, slash, step_text = element.partition("/")
        if slash and not _NUMBER.fullmatch(step_text):
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
    dom: frozenset[int] | _Special | None = None
    dow: frozenset[int] | _Special | None = None
    if dom_text == "L":
        dom = _Special("last_day")
    elif nearest := re.fullmatch(r"([0-9]+)W", dom_text):
        dom = _Special("nearest_weekday", value=int(nearest.group(1)))
    elif dom_text != "?":
        dom = _eb_values(dom_text, 1, 31, DOM)
    if last := re.fullmatch(r"([1-7])L", dow_text):
        dow = _Special("last_dow", value=int(last.group(1)))
    elif nth := re.fullmatch(r"([1-7])#([1-5])", dow_text):
        dow = _Special("nth_dow", value=int(nth.group(1)), nth=int(nth.group(2)))
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
                    instant = _wall_to_utc(midnight + timedelta(minutes=minute_of_day), zone)
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
    zone = _zone(validate_timezone(timezone))
    _require_aware(after, "after")
    if until is not None:
        _require_aware(until, "until")
    fires: list[datetime] = []
    if n <= 0:
        return fires
    for instant in _eb_iter(schedule, zone, after, until):
        fires.append(instant)
        if len(fires) == n:
            break
    return fires


def eventbridge_next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The next fire time strictly after `after` (UTC), or None if none within about 5 years."""
    fires = eventbridge_fire_times(expression, timezone, after, 1, until=after + _NEXT_FIRE_HORIZON)
    return fires[0] if fires else None
