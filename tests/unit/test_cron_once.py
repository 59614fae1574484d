"""scheduler.cron.once: what an `at` means (an instant, or a wall time in a zone, with the DST
rules), EventBridge's at() of it, its one slot, and the local engine's evaluator of at()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scheduler import cron
from scheduler.cron.once import eventbridge_at_fire

BERLIN = "Europe/Berlin"
# 2026-03-29: Berlin jumps from 02:00 to 03:00; 2026-10-25: 02:00-03:00 happens twice.
SPRING_GAP = "2026-03-29T02:30:00"
AUTUMN_REPEAT = "2026-10-25T02:30:00"


@pytest.mark.parametrize(
    ("text", "zone", "instant"),
    [
        ("2026-12-11T16:00:00Z", BERLIN, datetime(2026, 12, 11, 16, 0, tzinfo=UTC)),
        ("2026-12-11T16:00Z", "UTC", datetime(2026, 12, 11, 16, 0, tzinfo=UTC)),
        ("2026-12-11t16:00:00z", "UTC", datetime(2026, 12, 11, 16, 0, tzinfo=UTC)),
        ("2026-12-11T17:00:00+01:00", "UTC", datetime(2026, 12, 11, 16, 0, tzinfo=UTC)),
        ("2026-12-11T17:00:00", BERLIN, datetime(2026, 12, 11, 16, 0, tzinfo=UTC)),
        ("2026-07-11T17:00", BERLIN, datetime(2026, 7, 11, 15, 0, tzinfo=UTC)),
        # the repeated hour: its first occurrence, unless an offset says the second
        (AUTUMN_REPEAT, BERLIN, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (AUTUMN_REPEAT + "+01:00", BERLIN, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        # the gap written as an instant is fine: it names a real instant
        (SPRING_GAP + "+01:00", BERLIN, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_an_at_is_an_instant_or_a_wall_time_in_the_zone(
    text: str, zone: str, instant: datetime
) -> None:
    assert cron.parse_at(text, zone) == instant


@pytest.mark.parametrize(
    ("text", "zone", "message"),
    [
        (SPRING_GAP, BERLIN, f"at: {SPRING_GAP} does not exist in Europe/Berlin"),
        ("2026-12-11T17:00:01Z", "UTC", "has seconds"),
        ("2026-12-11T17:00:00.001", "UTC", "has seconds"),
        ("2026-12-11 17:00:00", "UTC", "not an ISO 8601 date and time"),
        ("2026-12-11", "UTC", "not an ISO 8601 date and time"),
        ("17:00", "UTC", "not an ISO 8601 date and time"),
        ("2026-13-01T17:00:00Z", "UTC", "month must be in 1..12"),
        ("2026-12-11T17:00:00", "Mars/Olympus", "unknown timezone"),
    ],
)
def test_a_bad_at_is_refused_naming_the_field(text: str, zone: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.parse_at(text, zone)


def test_an_at_must_be_later_than_now() -> None:
    now = datetime(2026, 12, 11, 16, 0, 20, tzinfo=UTC)
    cron.ensure_future(now + timedelta(seconds=40), now)
    for past in (now, now - timedelta(seconds=20)):
        with pytest.raises(cron.AtError, match="is in the past"):
            cron.ensure_future(past, now)


def test_eventbridge_gets_the_wall_time_in_the_schedules_zone() -> None:
    instant = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)
    assert cron.to_eventbridge_at(instant, BERLIN) == "at(2026-12-11T17:00:00)"
    assert cron.to_eventbridge_at(instant, "UTC") == "at(2026-12-11T16:00:00)"
    assert cron.at_text(instant, BERLIN) == "2026-12-11T17:00:00+01:00"
    assert (
        cron.describe_at(instant, BERLIN) == "Once, at 2026-12-11 17:00 (Europe/Berlin, UTC+0100)"
    )


def test_the_one_fire_time_is_listed_only_after_after_and_within_until() -> None:
    at = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)
    before = at - timedelta(minutes=1)
    assert cron.once_fire_times(at, before, 5) == [at]
    assert cron.once_fire_times(at, at, 5) == []
    assert cron.once_fire_times(at, before, 0) == []
    assert cron.once_fire_times(at, before, 1, until=at) == [at]
    assert cron.once_fire_times(at, before, 1, until=before) == []


def test_either_instant_of_the_at_wall_time_is_its_slot() -> None:
    first = cron.parse_at(AUTUMN_REPEAT, BERLIN)
    second = first + timedelta(hours=1)
    assert cron.at_slot(first, BERLIN, first) == first
    assert cron.at_slot(first, BERLIN, second) == first
    assert cron.at_slot(first, BERLIN, first + timedelta(minutes=1)) is None
    assert cron.at_slot(first, BERLIN, first + timedelta(seconds=1)) is None
    # in UTC there is no second instant of a wall time
    assert cron.at_slot(first, "UTC", second) is None


def test_the_local_engine_fires_an_at_once_in_its_zone() -> None:
    fire = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)
    assert eventbridge_at_fire("at(2026-12-11T17:00:00)", BERLIN, fire - timedelta(days=1)) == fire
    assert eventbridge_at_fire("at(2026-12-11T17:00:00)", BERLIN, fire) is None
    assert cron.eventbridge_next_fire("at(2026-12-11T17:00:00)", BERLIN, fire - timedelta(1)) == (
        fire
    )
    assert eventbridge_at_fire(f"at({SPRING_GAP})", BERLIN, fire - timedelta(days=400)) is None
    with pytest.raises(ValueError, match="not an at"):
        eventbridge_at_fire("cron(0 7 * * ? *)", BERLIN, fire)
