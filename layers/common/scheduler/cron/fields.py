"""The grammar of one Unix cron field: its values, names, ranges, steps and L / W / # extensions.

A field parses into a set of values, or into one `Special` for the day-field extensions; anything
outside the grammar of CRON.md raises CronError naming the field and the reason in a user's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal


class CronError(ValueError):
    """A cron expression that cannot be accepted; the message names the field and the reason."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


MINUTE, HOUR, DOM, MONTH, DOW = "minute", "hour", "day-of-month", "month", "day-of-week"

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_DOW_NAMES = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}

NUMBER = re.compile(r"[0-9]+")
_NAME = re.compile(r"[A-Z]+")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    lo: int
    hi: int  # highest value a user may type (day-of-week accepts 7 for Sunday)
    size: int  # number of distinct values, the largest allowed step
    names: dict[str, int]

    @property
    def full(self) -> frozenset[int]:
        return frozenset(range(self.lo, self.lo + self.size))


SPECS = (
    FieldSpec(MINUTE, 0, 59, 60, {}),
    FieldSpec(HOUR, 0, 23, 24, {}),
    FieldSpec(DOM, 1, 31, 31, {}),
    FieldSpec(MONTH, 1, 12, 12, _MONTH_NAMES),
    FieldSpec(DOW, 0, 7, 7, _DOW_NAMES),
)


@dataclass(frozen=True)
class Special:
    """One day-field extension: L (last day), nW, Ln (last weekday n), n#k (k-th weekday n)."""

    kind: Literal["last_day", "nearest_weekday", "last_dow", "nth_dow"]
    value: int = 0  # the day for nW, the weekday (0 = Sunday) for Ln and n#k
    nth: int = 0


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]  # empty when `special` is set
    special: Special | None
    unrestricted: bool  # the field is exactly `*` or `?`
    complete: bool  # the values are the whole field
    has_star: bool  # croniter's test when it decides whether to collapse the other day field
    starts_with_star: bool  # Vixie cron's test for AND instead of OR of the day fields


def _field(text: str, values: frozenset[int], spec: FieldSpec) -> Field:
    return Field(
        text=text,
        values=values,
        special=None,
        unrestricted=text in ("*", "?"),
        complete=values == spec.full,
        has_star="*" in text,
        starts_with_star=text.startswith("*"),
    )


def _special_field(text: str, special: Special) -> Field:
    return Field(text, frozenset(), special, False, False, False, False)


def parse_field(text: str, spec: FieldSpec) -> Field:
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


def _parse_dom_special(upper: str) -> Special:
    if "," in upper:
        raise CronError("L and W cannot be combined with other values in a list", DOM)
    if upper == "L":
        return Special("last_day")
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
    return Special("nearest_weekday", value=day)


def _parse_dow_special(upper: str) -> Special:
    if "," in upper:
        raise CronError("L and # cannot be combined with other values in a list", DOW)
    if upper == "L":
        raise CronError("a bare L is not supported; write L5 for the last Friday", DOW)
    if match := re.fullmatch(r"L([0-9]+)", upper):
        return Special("last_dow", value=_dow_value(match.group(1)))
    if match := re.fullmatch(r"([0-9]+)L", upper):
        raise CronError(f"{upper} is not supported; write L{match.group(1)} for the last one", DOW)
    if match := re.fullmatch(r"([0-9]+|[A-Z]+)#([0-9]+)", upper):
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise CronError(f"{upper}: the occurrence after # must be from 1 to 5", DOW)
        return Special("nth_dow", value=_dow_value(match.group(1)), nth=nth)
    raise CronError(
        f"'{upper}' is not supported: use Ln for the last weekday n (L5 = last Friday) or "
        "n#k for the k-th weekday n (5#3 = third Friday), each alone",
        DOW,
    )


def _dow_value(text: str) -> int:
    return _value(text, SPECS[4]) % 7


def _parse_element(element: str, spec: FieldSpec) -> set[int]:
    """One list element: `*`, `a`, `a-b`, each optionally with `/step`."""
    if not element:
        raise CronError("empty value in a list (check the commas)", spec.name)
    if element in ("H", "R") or element.startswith(("H/", "R/")):
        raise CronError("hashed (H) and random (R) values are not supported", spec.name)
    base, slash, step_text = element.partition("/")
    step = 1
    if slash:
        if not NUMBER.fullmatch(step_text):
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


def _value(text: str, spec: FieldSpec) -> int:
    if NUMBER.fullmatch(text):
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


def _range(start: int, end: int, step: int, spec: FieldSpec, text: str, stepped: bool) -> set[int]:
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


def format_set(values: frozenset[int], full: frozenset[int], shift: int = 0) -> str:
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
