"""Daylight saving time: previews and the local engine fire as EventBridge Scheduler does.

EventBridge evaluates the expression on the zone's wall clock: a time inside the spring-forward
gap is skipped, a time in the repeated autumn hour fires once, at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import assume, given
from hypothesis import strategies as st
from scheduler.cron import eventbridge_fire_times, next_fire_times, to_eventbridge

from tests.unit.test_cron_equivalence import HYPOTHESIS, accepted, eventbridge_union, expressions

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def both(expr: str, zone: str, after: datetime, n: int) -> list[datetime]:
    """The preview's fire times, after checking the EventBridge evaluator gives the same."""
    preview = next_fire_times(expr, zone, after, n)
    engine = eventbridge_union(to_eventbridge(expr), zone, after, after + timedelta(days=400), n)
    assert preview == engine
    return preview


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Berlin jumps from 02:00 to 03:00 on 2024-03-31: no 02:30 that day
        (BERLIN, utc(2024, 3, 29, 12), [utc(2024, 3, 30, 1, 30), utc(2024, 4, 1, 0, 30)]),
        # New York jumps from 02:00 to 03:00 on 2024-03-10
        (NEW_YORK, utc(2024, 3, 8, 12), [utc(2024, 3, 9, 7, 30), utc(2024, 3, 11, 6, 30)]),
    ],
)
def test_spring_forward_skips_the_missing_time(
    zone: str, after: datetime, expected: list[datetime]
) -> None:
    # Given 02:30 daily in a zone whose clocks skip 02:00-03:00 one night
    # When previewed and evaluated as EventBridge does
    fires = both("30 2 * * *", zone, after, 2)
    # Then that night has no fire (croniter alone would fire at 03:00)
    assert fires == expected


def test_fall_back_fires_the_repeated_time_once() -> None:
    # Given 01:30 daily in New York, where 01:00-02:00 happens twice on 2024-11-03
    # When previewed and evaluated
    fires = both("30 1 * * *", NEW_YORK, utc(2024, 11, 2, 12), 2)
    # Then it fires once, at the first 01:30 (EDT, 05:30Z), then at 01:30 EST the next day
    assert fires == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]


def test_fall_back_in_berlin_fires_the_first_occurrence() -> None:
    # Given 02:30 daily in Berlin, where 02:00-03:00 happens twice on 2024-10-27
    fires = both("30 2 * * *", BERLIN, utc(2024, 10, 26, 12), 2)
    # Then the first 02:30 (CEST, 00:30Z) fires, not the second (CET, 01:30Z)
    assert fires == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]


def test_frequent_schedule_does_not_repeat_the_repeated_hour() -> None:
    # Given every 20 minutes in New York, starting 00:50 EDT on the fall-back day
    fires = both("*/20 * * * *", NEW_YORK, utc(2024, 11, 3, 4, 50), 5)
    # Then 01:00-01:40 fire once (EDT) and the next fire is 02:00 EST
    assert fires == [
        utc(2024, 11, 3, 5, 0),
        utc(2024, 11, 3, 5, 20),
        utc(2024, 11, 3, 5, 40),
        utc(2024, 11, 3, 7, 0),
        utc(2024, 11, 3, 7, 20),
    ]


def test_start_inside_the_repeated_hour() -> None:
    # Given an instant in the second 01:00-02:00 of New York (01:10 EST)
    fires = both("*/20 * * * *", NEW_YORK, utc(2024, 11, 3, 6, 10), 1)
    # Then the next fire is 02:00 EST: the repeated wall times already fired in the first pass
    assert fires == [utc(2024, 11, 3, 7, 0)]


@pytest.mark.parametrize(
    "zone",
    [BERLIN, NEW_YORK, "Australia/Lord_Howe", "America/Santiago", "Asia/Tokyo", "UTC"],
)
@pytest.mark.parametrize(
    "expr",
    [
        "30 2 * * *",
        "*/30 1-3 * * 0",
        "0 0,2 * * *",
        "15 2 L * *",
        "45 1,2 * 3,4,9,10,11 L0",
        "0 2 8-14 3,11 0",
        "30 0 * * 6#1",
        "0 2 15W * *",
    ],
)
def test_preview_and_engine_agree_over_a_year(expr: str, zone: str) -> None:
    # Given an expression around the DST hours, in a zone with or without DST
    start = utc(2024, 1, 1)
    until = start + timedelta(days=366)
    # When previewed (croniter on the wall clock) and evaluated (EventBridge evaluator)
    preview = next_fire_times(expr, zone, start, 3000, until=until)
    engine = eventbridge_union(to_eventbridge(expr), zone, start, until, 3000)
    # Then the fire times are the same
    assert preview
    assert preview == engine


def test_skipped_night_is_really_missing_over_a_year() -> None:
    # Given 02:30 daily in Berlin over 2025 (365 days, one of them without 02:30)
    start, until = utc(2025, 1, 1), utc(2026, 1, 1)
    fires = next_fire_times("30 2 * * *", BERLIN, start, 400, until=until)
    # Then there are 364 fires, each at 02:30 Berlin time
    assert len(fires) == 364
    assert {f.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M") for f in fires} == {"02:30"}


def test_preview_equals_croniter_where_there_is_no_dst() -> None:
    # Given a zone without DST / When previewed / Then the fires are croniter's own
    start = datetime(2024, 5, 1, 9, 15, tzinfo=ZoneInfo("Asia/Tokyo"))
    schedule = croniter("*/7 9-17 * * 1-5", start)
    expected = [schedule.get_next(datetime).astimezone(UTC) for _ in range(100)]
    assert next_fire_times("*/7 9-17 * * 1-5", "Asia/Tokyo", start, 100) == expected


def test_fire_times_are_aware_utc_and_strictly_after() -> None:
    # Given a start exactly on a fire time / When previewed
    start = utc(2024, 5, 1, 7)
    fires = next_fire_times("0 7 * * *", "UTC", start, 2)
    engine = eventbridge_fire_times("cron(0 7 * * ? *)", "UTC", start, 2)
    # Then the start itself is excluded and the results are aware UTC
    assert fires == engine == [utc(2024, 5, 2, 7), utc(2024, 5, 3, 7)]
    assert all(fire.tzinfo is UTC for fire in fires + engine)


# Instants shortly before DST transitions of 2024-2026 in the zones under test.
DST_STARTS = [
    (BERLIN, utc(2024, 3, 30, 22)),
    (BERLIN, utc(2025, 10, 25, 22)),
    (NEW_YORK, utc(2025, 3, 8, 23)),
    (NEW_YORK, utc(2024, 11, 2, 23)),
    ("Australia/Lord_Howe", utc(2025, 4, 5, 12)),
    ("America/Santiago", utc(2025, 9, 6, 0)),
]


@HYPOTHESIS
@given(expressions, st.sampled_from(DST_STARTS))
def test_generated_expressions_agree_across_dst(
    expr: str, zone_start: tuple[str, datetime]
) -> None:
    # Given a generated expression and a start just before a DST transition
    assume(accepted(expr))
    zone, start = zone_start
    until = start + timedelta(days=60)
    # When previewed and evaluated by the engine
    preview = next_fire_times(expr, zone, start, 100, until=until)
    engine = eventbridge_union(to_eventbridge(expr), zone, start, until, 100)
    # Then both give the same fire times
    assert preview == engine


def test_until_bounds_the_preview() -> None:
    # Given a daily schedule and an `until` two days later / When previewed
    fires = next_fire_times("0 7 * * *", "UTC", utc(2024, 5, 1), 10, until=utc(2024, 5, 3, 7))
    # Then only the fires up to and including `until` are returned
    assert fires == [utc(2024, 5, 1, 7), utc(2024, 5, 2, 7), utc(2024, 5, 3, 7)]
