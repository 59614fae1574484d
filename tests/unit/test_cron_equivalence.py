"""Proof of the converter: EventBridge fire times of the output equal croniter's of the input.

The EventBridge side is evaluated by scheduler.cron's own evaluator (the local engine's), the
Unix side by croniter itself, both in UTC, for the next 200 fires from several start instants
(bounded by a 30-year horizon for the rare schedules, such as February 29).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import CroniterBadDateError, croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scheduler.cron import (
    CronError,
    eventbridge_fire_times,
    eventbridge_next_fire,
    to_eventbridge,
)

from tests.unit.test_cron import ACCEPTED

FIRES = 200
HORIZON = timedelta(days=30 * 366)
STARTS = (
    datetime(2024, 2, 28, 23, 59, 30, tzinfo=UTC),  # just before a leap day
    datetime(2025, 12, 31, 23, 45, tzinfo=UTC),  # across a year end
    datetime(2027, 3, 13, 7, 0, tzinfo=UTC),
)
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def croniter_fires(expr: str, start: datetime, until: datetime) -> list[datetime]:
    """croniter's own fire times of the Unix expression, in UTC."""
    schedule = croniter(expr, start)
    fires: list[datetime] = []
    while len(fires) < FIRES:
        try:
            fire = schedule.get_next(datetime).astimezone(UTC)
        except CroniterBadDateError:
            break
        if fire > until:
            break
        fires.append(fire)
    return fires


def eventbridge_union(
    expressions: list[str], timezone: str, start: datetime, until: datetime, n: int = FIRES
) -> list[datetime]:
    """The deduplicated, sorted union of the fire times of one or two EventBridge schedules."""
    fires = {
        fire
        for expression in expressions
        for fire in eventbridge_fire_times(expression, timezone, start, n, until=until)
    }
    return sorted(fires)[:n]


def assert_equivalent(expr: str) -> None:
    expressions = to_eventbridge(expr)
    for start in STARTS:
        until = start + HORIZON
        expected = croniter_fires(expr, start, until)
        assert expected, f"{expr!r} never fires from {start}"
        assert eventbridge_union(expressions, "UTC", start, until) == expected, (expr, start)


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[repr(t) for t, _ in ACCEPTED])
def test_vector_outputs_fire_when_croniter_fires(text: str, expected: list[str]) -> None:
    # Given an accepted vector / When its output is evaluated with EventBridge semantics
    # Then the fire times equal croniter's fire times of the input
    assert to_eventbridge(text) == expected
    assert_equivalent(text)


# ------------------------------------------------------------------ generated expressions


def _values(lo: int, hi: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    numbers = st.integers(lo, hi).map(str)
    if not names:
        return numbers
    named = st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.lower(), n.title()]))
    return st.one_of(numbers, named)


def _element(lo: int, hi: int, size: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = _values(lo, hi, names)
    # Small steps are what people write; large ones still reach the field-size bound.
    step = st.one_of(st.integers(1, 6), st.integers(1, size)).map(str)
    return st.one_of(
        st.just("*"),
        step.map(lambda s: f"*/{s}"),
        value,
        st.tuples(value, value).map(lambda p: f"{p[0]}-{p[1]}"),
        st.tuples(value, value, step).map(lambda p: f"{p[0]}-{p[1]}/{p[2]}"),
        st.tuples(value, step).map(lambda p: f"{p[0]}/{p[1]}"),
    )


def _field(lo: int, hi: int, size: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    return st.lists(_element(lo, hi, size, names), min_size=1, max_size=3).map(",".join)


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

minutes = _field(0, 59, 60)
hours = _field(0, 23, 24)
days_of_month = st.one_of(
    _field(1, 31, 31),
    st.sampled_from(["*", "?", "L"]),
    st.integers(1, 31).map(lambda n: f"{n}W"),
)
months = st.one_of(st.just("*"), _field(1, 12, 12, MONTHS))
days_of_week = st.one_of(
    _field(0, 7, 7, WEEKDAYS),
    st.sampled_from(["*", "?"]),
    st.integers(0, 7).map(lambda n: f"L{n}"),
    st.tuples(_values(0, 7, WEEKDAYS), st.integers(1, 5)).map(lambda p: f"{p[0]}#{p[1]}"),
)
expressions = st.tuples(minutes, hours, days_of_month, months, days_of_week).map(" ".join)


def accepted(expr: str) -> bool:
    try:
        to_eventbridge(expr)
    except CronError:
        return False
    return True


@HYPOTHESIS
@given(expressions)
def test_generated_expressions_fire_when_croniter_fires(expr: str) -> None:
    # Given a generated expression the converter accepts
    assume(accepted(expr))
    # When its EventBridge output is evaluated / Then it fires exactly when croniter fires
    assert_equivalent(expr)


# Day fields carry most of the rules; minutes and hours only multiply the fires.
day_focused = st.tuples(
    st.sampled_from(["0", "30", "*/20"]),
    st.sampled_from(["0", "23", "9-17"]),
    days_of_month,
    months,
    days_of_week,
).map(" ".join)


@HYPOTHESIS
@given(day_focused)
def test_generated_day_rules_fire_when_croniter_fires(expr: str) -> None:
    # Given a generated expression stressing the day fields, accepted by the converter
    assume(accepted(expr))
    # When its EventBridge output is evaluated / Then it fires exactly when croniter fires
    assert_equivalent(expr)


# ------------------------------------------------------------------ the evaluator itself


def _days(expression: str, after: datetime, n: int) -> list[str]:
    return [f.strftime("%Y-%m-%d") for f in eventbridge_fire_times(expression, "UTC", after, n)]


def test_evaluator_nearest_weekday_stays_in_the_month() -> None:
    # Given 1W and 30W / When evaluated in months whose day falls on a weekend
    start = datetime(2024, 5, 31, tzinfo=UTC)
    # Then Saturday June 1st moves to Monday the 3rd, Sunday June 30th to Friday the 28th
    assert _days("cron(0 0 1W * ? *)", start, 1) == ["2024-06-03"]
    assert _days("cron(0 0 30W * ? *)", start, 1) == ["2024-06-28"]
    # And a day the month lacks does not fire (31W skips June)
    assert _days("cron(0 0 31W * ? *)", start, 1) == ["2024-07-31"]


def test_evaluator_weekday_extensions() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Given the 5th Friday / Then only months that have one fire
    assert _days("cron(0 0 ? * 6#5 *)", start, 3) == ["2024-03-29", "2024-05-31", "2024-08-30"]
    # Given the last Sunday / Then the last Sunday of each month
    assert _days("cron(0 0 ? * 1L *)", start, 2) == ["2024-01-28", "2024-02-25"]
    # Given weekdays 2-6 (Monday-Friday) / Then the weekend is skipped
    assert _days("cron(0 0 ? * 2-6 *)", datetime(2024, 1, 5, tzinfo=UTC), 2) == [
        "2024-01-08",
        "2024-01-09",
    ]


def test_evaluator_years_steps_and_limits() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Given a year list and a step / Then only those years and minutes fire
    assert eventbridge_fire_times("cron(0/30 0 1 1 ? 2026,2028)", "UTC", start, 3) == [
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 30, tzinfo=UTC),
        datetime(2028, 1, 1, 0, 0, tzinfo=UTC),
    ]
    # Given n=0 or an `until` before the first fire / Then nothing
    assert eventbridge_fire_times("cron(0 0 * * ? *)", "UTC", start, 0) == []
    assert eventbridge_fire_times("cron(0 0 29 2 ? *)", "UTC", start, 5, until=start) == []
    # Given a schedule that fires once in 28 years / Then next_fire gives up after ~5 years
    assert (
        eventbridge_next_fire("cron(0 0 ? 2 6#5 *)", "UTC", datetime(2024, 3, 1, tzinfo=UTC))
        is None
    )
    assert eventbridge_next_fire(
        "cron(0 0 ? 2 6#5 *)", "UTC", datetime(2035, 3, 1, tzinfo=UTC)
    ) == (datetime(2036, 2, 29, tzinfo=UTC))


@pytest.mark.parametrize(
    "expression",
    [
        "0 7 * * *",
        "cron(0 7 * * *)",
        "cron(0 7 * * * *)",
        "cron(0 7 ? * ? *)",
        "cron(0 7 1 * 2 *)",
        "cron(60 7 * * ? *)",
        "cron(0 7 * * ? 2300)",
        "cron(0 7 x * ? *)",
        "rate(5 minutes)",
    ],
)
def test_evaluator_rejects_what_it_cannot_evaluate(expression: str) -> None:
    # Given something that is not a supported EventBridge cron / When evaluated / Then CronError
    with pytest.raises(CronError):
        eventbridge_fire_times(expression, "UTC", datetime(2024, 1, 1, tzinfo=UTC), 1)
