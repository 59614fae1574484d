"""Which fire times exclusion calendars remove (scheduler.cron.exclusions): the date of the
fire's instant on the calendar's clock, inclusive ranges, the first calendar by name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from scheduler import cron
from scheduler.cron.exclusions import MAX_WALK, Exclusion, excluded_by, split_fires


def _calendar(name: str, timezone: str, *ranges: tuple[str, str]) -> Exclusion:
    return Exclusion.of({"name": name, "timezone": timezone, "dates": list(ranges)})


def test_a_range_includes_both_its_ends_and_nothing_around_them() -> None:
    calendar = _calendar("Holidays", "UTC", ("2026-12-24", "2026-12-26"))
    for day, inside in ((23, False), (24, True), (26, True), (27, False)):
        start, end = (datetime(2026, 12, day, h, m, tzinfo=UTC) for h, m in ((0, 0), (23, 59)))
        assert calendar.covers(start) is inside
        assert calendar.covers(end) is inside


def test_the_calendars_timezone_decides_the_date() -> None:
    # 02:00Z on Nov 28 is still Nov 27 (21:00) in New York
    instant = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert excluded_by(instant, [_calendar("NY", "America/New_York", ("2026-11-27", "2026-11-27"))])
    assert not excluded_by(instant, [_calendar("UTC", "UTC", ("2026-11-27", "2026-11-27"))])


def test_both_instants_of_a_repeated_wall_time_fall_on_the_dst_day() -> None:
    # 01:30 New York happens at 05:30Z (EDT) and 06:30Z (EST) on 2026-11-01
    calendar = _calendar("Election day", "America/New_York", ("2026-11-01", "2026-11-01"))
    fires = cron.next_fire_times(
        "30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=UTC), 2
    )
    assert [f.date() for f in fires] == [date(2026, 11, 1), date(2026, 11, 2)]
    assert calendar.covers(fires[0])
    assert calendar.covers(datetime(2026, 11, 1, 6, 30, tzinfo=UTC))
    assert not calendar.covers(fires[1])


def test_the_first_calendar_by_name_is_the_one_named() -> None:
    instant = datetime(2026, 12, 25, 9, tzinfo=UTC)
    calendars = [
        _calendar("Year-end freeze", "UTC", ("2026-12-15", "2027-01-05")),
        _calendar("Holidays", "UTC", ("2026-12-25", "2026-12-25")),
    ]
    assert excluded_by(instant, calendars) == "Holidays"
    assert excluded_by(instant + timedelta(days=1), calendars) == "Year-end freeze"
    assert excluded_by(instant, []) is None


def _next(expr: str) -> Callable[[datetime], datetime | None]:
    def next_fire(after: datetime) -> datetime | None:
        return cron.next_fire_times(expr, "UTC", after, 1)[0]

    return next_fire


def test_split_fires_keeps_and_removes_up_to_their_counts() -> None:
    weekend = _calendar("Weekend", "UTC", ("2026-12-05", "2026-12-06"))
    kept, removed = split_fires(
        _next("0 9 * * *"), datetime(2026, 12, 3, tzinfo=UTC), [weekend], 3, 5
    )
    assert [f.day for f in kept] == [3, 4, 7]
    # the walk stopped once it had its 3 kept: the weekend's 2 were on the way
    assert [(t.day, name) for t, name in removed] == [(5, "Weekend"), (6, "Weekend")]


def test_split_fires_leaps_over_a_range_and_to_the_next_one() -> None:
    # an every-minute cron and a whole excluded day: the next kept fire is the day after,
    # found in a few steps, not 1,440
    holiday = _calendar("Holiday", "Europe/Berlin", ("2026-12-25", "2026-12-25"))
    steps = 0
    every_minute = _next("* * * * *")

    def counted(after: datetime) -> datetime | None:
        nonlocal steps
        steps += 1
        return every_minute(after)

    start = datetime(2026, 12, 24, 22, 59, 30, tzinfo=UTC)  # 23:59:30 in Berlin
    kept, removed = split_fires(counted, start, [holiday], 2, 1)
    assert removed == [(datetime(2026, 12, 24, 23, 0, tzinfo=UTC), "Holiday")]
    assert kept == [
        datetime(2026, 12, 25, 23, 0, tzinfo=UTC),  # 00:00 on the 26th in Berlin
        datetime(2026, 12, 25, 23, 1, tzinfo=UTC),
    ]
    assert steps < 10
    # only excluded fires wanted: from months before, straight to the range
    steps = 0
    kept, removed = split_fires(counted, datetime(2026, 9, 1, tzinfo=UTC), [holiday], 0, 2)
    assert kept == []
    assert [t for t, _ in removed] == [
        datetime(2026, 12, 24, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 24, 23, 1, tzinfo=UTC),
    ]
    assert steps < 10


def test_split_fires_stops_after_max_walk_steps() -> None:
    always = _calendar("Always", "UTC", ("2000-01-01", "2199-12-31"))
    steps = 0

    def hourly(after: datetime) -> datetime:
        nonlocal steps
        steps += 1
        return after + timedelta(hours=1)

    kept, removed = split_fires(hourly, datetime(2026, 1, 1, tzinfo=UTC), [always], 0, 10_000)
    assert kept == []
    assert len(removed) == steps == MAX_WALK
