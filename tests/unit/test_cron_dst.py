"""Daylight saving time: previews and the local engine fire as EventBridge Scheduler does.

EventBridge evaluates the expression on the zone's wall clock: a time inside the spring-forward
gap is skipped, a time in the repeated autumn hour fires once, at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import assume, given
from hypothesis import strategies as st
from scheduler.cron import (
    CronError,
    InvalidTimezone,
    eventbridge_fire_times,
    fire_slot,
    is_fire_time,
    next_fire_times,
    to_eventbridge,
)

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


# ------------------------------------------------------------------ the slot of a delivered fire
# Berlin falls back on 2026-10-25 at 01:00Z (03:00 CEST -> 02:00 CET): 02:00-02:59 happens twice.
# New York falls back on 2026-11-01 at 06:00Z (02:00 EDT -> 01:00 EST): 01:00-01:59 twice.


@pytest.mark.parametrize(
    ("expr", "zone", "second"),
    [
        ("30 2 * * *", BERLIN, utc(2026, 10, 25, 1, 30)),  # 02:30 CET
        ("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 6, 30)),  # 01:30 EST
    ],
)
def test_is_fire_time_accepts_the_second_occurrence(expr: str, zone: str, second: datetime) -> None:
    # Given a fire delivered at the second occurrence of a repeated wall time (AWS documents
    # that it runs once, not at which occurrence)
    # When the runner asks whether it is a fire time / Then it is, not a stale fire to drop
    assert is_fire_time(expr, zone, second)


@pytest.mark.parametrize(
    ("expr", "zone", "first", "second"),
    [
        # 02:30 daily in Berlin: 02:30 CEST = 00:30Z, then 02:30 CET = 01:30Z
        ("30 2 * * *", BERLIN, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
        # 01:30 daily in New York: 01:30 EDT = 05:30Z, then 01:30 EST = 06:30Z
        ("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)),
        # the 2024 changes too (Berlin 2024-10-27, New York 2024-11-03)
        ("30 2 * * *", BERLIN, utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 1, 30)),
        ("30 1 * * *", NEW_YORK, utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30)),
    ],
)
def test_both_occurrences_of_a_repeated_time_are_one_slot(
    expr: str, zone: str, first: datetime, second: datetime
) -> None:
    # Given a daily time that the autumn change repeats
    # When EventBridge delivers it at either occurrence
    # Then both are that day's one slot, keyed by the first occurrence
    assert fire_slot(expr, zone, first) == first
    assert fire_slot(expr, zone, second) == first
    # And the engine and the preview fire it once, at the first occurrence
    before = first - timedelta(hours=12)
    assert next_fire_times(expr, zone, before, 2)[0] == first
    assert eventbridge_fire_times(to_eventbridge(expr)[0], zone, before, 1) == [first]


def test_a_repeated_time_given_in_the_zone_itself_is_one_slot() -> None:
    # Given both 02:30s of Berlin's fall-back night as aware Berlin datetimes (fold 0 and 1)
    berlin = ZoneInfo(BERLIN)
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=berlin)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 30),
    )
    # When asked for their slot / Then both give the first occurrence, in UTC
    assert fire_slot("30 2 * * *", BERLIN, first) == utc(2026, 10, 25, 0, 30)
    assert fire_slot("30 2 * * *", BERLIN, second) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # Berlin: 01:00 CEST, 02:00 CEST, 02:00 CET (repeat), 03:00 CET
        (
            BERLIN,
            {
                utc(2026, 10, 24, 23): utc(2026, 10, 24, 23),
                utc(2026, 10, 25, 0): utc(2026, 10, 25, 0),
                utc(2026, 10, 25, 1): utc(2026, 10, 25, 0),
                utc(2026, 10, 25, 2): utc(2026, 10, 25, 2),
            },
        ),
        # New York: 00:00 EDT, 01:00 EDT, 01:00 EST (repeat), 02:00 EST
        (
            NEW_YORK,
            {
                utc(2026, 11, 1, 4): utc(2026, 11, 1, 4),
                utc(2026, 11, 1, 5): utc(2026, 11, 1, 5),
                utc(2026, 11, 1, 6): utc(2026, 11, 1, 5),
                utc(2026, 11, 1, 7): utc(2026, 11, 1, 7),
            },
        ),
    ],
)
def test_hourly_schedule_runs_the_repeated_wall_hour_once(
    zone: str, expected: dict[datetime, datetime]
) -> None:
    # Given an hourly schedule across the fall-back night. The wall time of the repeated hour
    # (02:00 Berlin, 01:00 New York) happens twice; EventBridge runs it once, so it is one slot:
    # the hourly job skips one real hour that night, as it does on EventBridge itself.
    # When each on-the-hour instant is delivered / Then it maps to its wall time's first instant
    assert {at: fire_slot("0 * * * *", zone, at) for at in expected} == expected
    # And the engine fires exactly the distinct slots, one per wall hour
    start = min(expected) - timedelta(minutes=1)
    assert eventbridge_fire_times("cron(0 * * * ? *)", zone, start, 3) == sorted(
        set(expected.values())
    )


# (zone, an instant 3 hours before a DST change) for the changes of 2026
DST_CHANGES_2026 = [
    (BERLIN, utc(2026, 3, 28, 22)),
    (BERLIN, utc(2026, 10, 24, 22)),
    (NEW_YORK, utc(2026, 3, 8, 4)),
    (NEW_YORK, utc(2026, 11, 1, 3)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 12)),  # a 30-minute change
    ("Asia/Tokyo", utc(2026, 3, 28, 22)),  # no DST
]


@pytest.mark.parametrize(("zone", "start"), DST_CHANGES_2026)
@pytest.mark.parametrize("expr", ["*/20 * * * *", "0 * * * *", "30 1,2 * * *", "15 2 * * 0"])
def test_every_delivery_maps_to_a_slot_the_engine_fires(
    expr: str, zone: str, start: datetime
) -> None:
    # Given every whole minute of the 6 hours around a DST change
    minutes = [start + timedelta(minutes=m) for m in range(6 * 60)]
    # When each is taken as a delivery
    slots = {at: fire_slot(expr, zone, at) for at in minutes}
    # Then the slots are exactly the fire times the engine and the preview list
    before, last = start - timedelta(minutes=1), minutes[-1]
    engine = set(eventbridge_fire_times(to_eventbridge(expr)[0], zone, before, 100, until=last))
    preview = set(next_fire_times(expr, zone, before, 100, until=last))
    assert {slot for slot in slots.values() if slot is not None} == engine == preview
    # And each slot is its own slot, and any other delivery of it comes within the repeat
    for at, slot in slots.items():
        if slot is not None:
            assert fire_slot(expr, zone, slot) == slot
            assert timedelta(0) <= at - slot <= timedelta(hours=1)
            assert is_fire_time(expr, zone, at)
        else:
            assert not is_fire_time(expr, zone, at)


@pytest.mark.parametrize(
    ("zone", "day"),
    [(BERLIN, date(2026, 3, 29)), (NEW_YORK, date(2026, 3, 8))],
)
def test_a_time_in_the_spring_gap_is_never_a_slot(zone: str, day: date) -> None:
    # Given 02:30 daily, on the day the clocks skip 02:00-03:00 (a local day of 23 hours)
    tz = ZoneInfo(zone)
    midnight = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    minutes = [midnight + timedelta(minutes=m) for m in range(23 * 60)]
    assert (minutes[-1] + timedelta(minutes=1)).astimezone(tz).date() > day
    # When any whole minute of that local day is delivered / Then none is a slot
    assert [at for at in minutes if fire_slot("30 2 * * *", zone, at) is not None] == []
    # And the gap's wall time written as an aware datetime is read as the instant it denotes
    # (03:30 summer time), which is not 02:30 either
    assert fire_slot("30 2 * * *", zone, datetime.combine(day, time(2, 30), tzinfo=tz)) is None
    # While the day before and after, 02:30 is a slot as usual
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        ordinary = datetime.combine(other, time(2, 30), tzinfo=tz)
        assert fire_slot("30 2 * * *", zone, ordinary) == ordinary


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 5, 1, 7).replace(second=30),
        utc(2026, 5, 1, 7).replace(microsecond=1),
        utc(2026, 10, 25, 1, 30).replace(second=1),  # a second-occurrence instant, off the minute
    ],
)
def test_a_delivery_off_the_whole_minute_is_no_slot(at: datetime) -> None:
    # Given an instant with seconds or microseconds / Then it is no slot, even where the minute is
    assert fire_slot("* * * * *", BERLIN, at) is None
    assert fire_slot("* * * * *", "UTC", at) is None


def test_an_ordinary_time_is_its_own_slot_in_utc() -> None:
    # Given ordinary fire times in UTC and in a zone, given in any zone
    summer = datetime(2026, 7, 10, 7, tzinfo=ZoneInfo(BERLIN))  # 05:00Z
    slot = fire_slot("0 7 * * *", BERLIN, summer)
    # Then the slot is the same instant, as an aware UTC datetime
    assert slot == utc(2026, 7, 10, 5)
    assert slot is not None
    assert slot.tzinfo is UTC
    assert fire_slot("0 7 * * *", "UTC", utc(2026, 5, 1, 7)) == utc(2026, 5, 1, 7)
    assert fire_slot("0 0 13 * 5", "UTC", utc(2026, 2, 13)) == utc(2026, 2, 13)  # the OR split
    # And a time the expression does not name is no slot
    assert fire_slot("0 7 * * *", BERLIN, utc(2026, 7, 10, 6)) is None
    assert fire_slot("0 7 * * *", "UTC", utc(2026, 5, 1, 7, 1)) is None


def test_fire_slot_rejects_naive_and_invalid_input() -> None:
    # Given a naive instant, an invalid expression or timezone / When asked / Then an error
    with pytest.raises(ValueError, match="timezone-aware"):
        fire_slot("0 7 * * *", "UTC", datetime(2026, 5, 1, 7))
    with pytest.raises(CronError):
        fire_slot("0 0 31 2 *", "UTC", utc(2026, 5, 1, 7))
    with pytest.raises(InvalidTimezone):
        fire_slot("0 7 * * *", "Mars/Olympus", utc(2026, 5, 1, 7))
