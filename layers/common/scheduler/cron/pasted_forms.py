"""EventBridge's own expressions pasted where a Unix cron belongs: `cron(0 7 * * ? *)`, as the
API itself shows them, and `rate(5 minutes)`. Neither is accepted (a schedule is one Unix cron);
each is recognised and answered with the Unix cron to write instead, or why there is none.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_EVENTBRIDGE_CRON = re.compile(r"\s*cron\((?P<fields>[^()]*)\)\s*", re.IGNORECASE)
_RATE = re.compile(r"\s*rate\((?P<body>[^()]*)\)\s*", re.IGNORECASE)
_RATE_BODY = re.compile(r"\s*(?P<count>[0-9]+)\s+(?P<unit>minutes?|hours?|days?)\s*")
_DOW_ELEMENT = re.compile(r"(?P<start>[1-7])(?:-(?P<end>[1-7]))?(?P<step>/[0-9]+)?")
_NAMES_ONLY = re.compile(r"(\*|[A-Za-z]+(-[A-Za-z]+)?)(/[0-9]+)?")
_MINUTES_PER = {"minute": 1, "hour": 60, "day": 1440}
_NO_UNIX_FORM = "write the 5-field Unix cron of the times you want (minute hour day month weekday)"


def explain_pasted_form(expr: str, converts: Callable[[str], bool]) -> str | None:
    """Why `expr`, an EventBridge cron(...) or rate(...), is not accepted and what to write;
    None when it is neither. `converts` says whether a Unix cron would be accepted."""
    if match := _EVENTBRIDGE_CRON.fullmatch(expr):
        return _explain_eventbridge_cron(match.group("fields").split(), converts)
    if match := _RATE.fullmatch(expr):
        return _explain_rate(match.group("body"))
    return None


def _explain_eventbridge_cron(fields: list[str], converts: Callable[[str], bool]) -> str:
    intro = "cron(...) is EventBridge's form, which the API writes for you"
    if len(fields) != 6:
        return f"{intro}; {_NO_UNIX_FORM}"
    minute, hour, dom, month, dow, year = fields
    if year not in ("*", "?"):
        return (
            f"{intro}; a Unix cron has no year field: write the other 5 fields and limit the "
            "years with startAt and endAt"
        )
    unix_dow = _unix_dow(dow)
    unix = " ".join((minute, hour, _unix_dom(dom), month, unix_dow or ""))
    if (dom == "?") == (dow == "?") or unix_dow is None or not converts(unix):
        return f"{intro}; {_NO_UNIX_FORM}"
    return f"{intro}; write `{unix}`"


def _unix_dom(dom: str) -> str:
    return "*" if dom == "?" else dom


def _unix_dow(dow: str) -> str | None:
    """EventBridge's weekdays (1-7 from Sunday) in Unix numbers (0-6 from Sunday)."""
    if dow in ("?", "*"):
        return "*"
    if last := re.fullmatch(r"([1-7])L", dow):
        return f"L{int(last.group(1)) - 1}"
    if nth := re.fullmatch(r"([1-7])#([1-5])", dow):
        return f"{int(nth.group(1)) - 1}#{nth.group(2)}"
    elements = [_unix_dow_element(element) for element in dow.split(",")]
    return None if None in elements else ",".join(e for e in elements if e is not None)


def _unix_dow_element(element: str) -> str | None:
    match = _DOW_ELEMENT.fullmatch(element)
    if match is None:
        if _NAMES_ONLY.fullmatch(element):
            return element  # names (MON-FRI) and `*/n` mean the same weekdays in both
        return None  # a name and a number mixed (MON-5): no suggestion
    start = int(match.group("start")) - 1
    step = match.group("step") or ""
    if match.group("end"):
        return f"{start}-{int(match.group('end')) - 1}{step}"
    return f"{start}-6{step}" if step else str(start)  # EventBridge's a/n runs to Saturday


def _explain_rate(body: str) -> str:
    intro = "rate(...) is EventBridge's form; a schedule takes a Unix cron"
    match = _RATE_BODY.fullmatch(body)
    if match is None:
        return f"{intro}: {_NO_UNIX_FORM}"
    count, unit = int(match.group("count")), match.group("unit").rstrip("s")
    if count == 0:
        return f"{intro}: {_NO_UNIX_FORM}"
    minutes = count * _MINUTES_PER[unit]
    unix = _unix_cron_of_rate(minutes)
    if unix is not None:
        return (
            f"{intro}: write `{unix}` (it fires at round clock times; a rate counts from its start)"
        )
    if minutes < 60:
        why = "a minute step restarts every hour: use a number of minutes that divides 60"
    elif minutes < 1440:
        why = "an hour step restarts every day: use a number of hours that divides 24"
    else:
        why = "a day-of-month step restarts every month: use `0 0 * * *` (daily) or name the days"
    return f"{intro}: every {count} {unit}s has no cron equivalent ({why})"


def _unix_cron_of_rate(minutes: int) -> str | None:
    """The Unix cron that fires every `minutes` at round clock times, if one does."""
    if minutes == 1:
        return "* * * * *"
    if minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes == 60:
        return "0 * * * *"
    if minutes < 1440 and minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        return f"0 */{minutes // 60} * * *"
    if minutes == 1440:
        return "0 0 * * *"
    return None
