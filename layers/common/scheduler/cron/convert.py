"""Unix cron as a whole expression: input hygiene, macros, how the day fields combine, and the
conversion to EventBridge Scheduler's `cron(...)` dialect (the rules are in CRON.md).

Each field parses into a set of values or one special (cron_fields); this module decides how the
two day fields combine and formats the sets back in EventBridge syntax. Anything that cannot be
converted exactly raises CronError with the field and the reason in a user's words.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from scheduler.cron.fields import (
    DOM,
    DOW,
    HOUR,
    MINUTE,
    MONTH,
    SPECS,
    CronError,
    Field,
    format_set,
    parse_field,
)
from scheduler.cron.pasted_forms import explain_pasted_form

MAX_EXPRESSION_LENGTH = 256
_FIELD_ORDER = f"{MINUTE} {HOUR} {DOM} {MONTH} {DOW}"
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


@dataclass(frozen=True)
class Compiled:
    """A validated expression: its normalized text, its EventBridge form and its parsed fields."""

    normalized: str
    eventbridge: tuple[str, ...]
    fields: tuple[Field, ...]
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
        if (pasted := explain_pasted_form(expr, _converts)) is not None:
            raise CronError(pasted)
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


def _day_mode(dom: Field, dow: Field) -> Literal["every", "dom", "dow", "or"]:
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


def _dom_can_fire(dom: Field, months: frozenset[int]) -> bool:
    if dom.special:  # L exists in every month, nW only accepts n <= 28
        return True
    longest = max(calendar.monthrange(2000, month)[1] for month in months)  # 2000: a leap year
    return min(dom.values) <= longest


def eventbridge_dom(dom: Field) -> str:
    if dom.special is None:
        return format_set(dom.values, SPECS[2].full)
    if dom.special.kind == "last_day":
        return "L"
    return f"{dom.special.value}W"


def _eventbridge_dow(dow: Field) -> str:
    # EventBridge numbers weekdays 1-7 from Sunday, Unix 0-6: shift by one.
    if dow.special is None:
        return format_set(dow.values, SPECS[4].full, shift=1)
    if dow.special.kind == "last_dow":
        return f"{dow.special.value + 1}L"
    return f"{dow.special.value + 1}#{dow.special.nth}"


@lru_cache(maxsize=2048)
def _compile(expr: str) -> Compiled:
    tokens = _split(expr)
    fields = tuple(parse_field(text, spec) for text, spec in zip(tokens, SPECS, strict=True))
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
    head = f"{format_set(minute.values, SPECS[0].full)} {format_set(hour.values, SPECS[1].full)}"
    months = format_set(month.values, SPECS[3].full)
    day_pairs = {
        "every": [("*", "?")],
        "dom": [(eventbridge_dom(dom), "?")],
        "dow": [("?", _eventbridge_dow(dow))],
        "or": [(eventbridge_dom(dom), "?"), ("?", _eventbridge_dow(dow))],
    }[mode]
    outputs = tuple(f"cron({head} {d} {months} {w} *)" for d, w in day_pairs)
    for output in outputs:
        if len(output) > MAX_EXPRESSION_LENGTH:
            raise CronError(
                f"the EventBridge expression would be longer than {MAX_EXPRESSION_LENGTH} "
                "characters; use fewer separate values"
            )
    return Compiled(" ".join(tokens), outputs, fields, mode)


def _converts(expr: str) -> bool:
    try:
        compile_expression(expr)
    except CronError:
        return False
    return True


def compile_expression(expr: object) -> Compiled:
    # Check the length before the cache: hashing a huge string would cost more than rejecting it.
    return _compile(_checked_text(expr))


def validate(expr: str) -> str:
    """Return the normalized expression (macros expanded, single spaces) or raise CronError."""
    return compile_expression(expr).normalized


def to_eventbridge(expr: str) -> list[str]:
    """Convert Unix cron to one EventBridge `cron(...)`, or two for the day-field OR split.

    The day-of-month expression comes first. Raises CronError for anything that cannot be
    converted exactly.
    """
    return list(compile_expression(expr).eventbridge)
