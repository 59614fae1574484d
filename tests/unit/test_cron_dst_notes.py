"""DST notes: which fires of the next year a DST change skips or runs once, said in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from scheduler.api.cron_preview import preview_cron
from scheduler.cron import CronError, DstNote, InvalidTimezone, dst_notes, next_fire_times
from scheduler.models.cron_previews import CronPreviewRequest

from tests.unit.test_cron_equivalence import HYPOTHESIS, accepted, expressions

BERLIN, NEW_YORK, LORD_HOWE = "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"
# Between Berlin's autumn change of 2026 (10-25) and its spring change of 2027 (03-28)
JUNE_2026 = datetime(2026, 6, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_berlin_spring_forward_skips_0230() -> None:
    # Given 02:30 daily in Berlin, looking ahead from a winter day
    notes = dst_notes("30 2 * * *", BERLIN, utc(2027, 1, 10))
    # Then the last Sunday of March is named: 02:30 does not exist and does not fire
    assert notes == [
        DstNote(
            kind="skipped",
            wall_time="2027-03-28T02:30",
            last_wall_time="2027-03-28T02:30",
            fires=1,
            at=None,
            note="02:30 does not exist on 2027-03-28 in Europe/Berlin: this fire is skipped",
        ),
        # and the autumn change of 2027 is inside the year too
        DstNote(
            kind="once",
            wall_time="2027-10-31T02:30",
            last_wall_time="2027-10-31T02:30",
            fires=1,
            at=utc(2027, 10, 31, 0, 30),
            note="02:30 occurs twice on 2027-10-31 in Europe/Berlin: this fire runs once, at "
            "02:30 CEST (00:30 UTC), not again at 02:30 CET",
        ),
    ]


def test_berlin_autumn_0230_fires_once_at_its_first_occurrence() -> None:
    # Given 02:30 daily in Berlin, looking ahead from June 2026
    [autumn, spring] = dst_notes("30 2 * * *", BERLIN, JUNE_2026)
    # Then the autumn note says when it fires, and the preview agrees: 00:30Z, not 01:30Z
    assert (autumn.kind, autumn.wall_time, autumn.at) == (
        "once",
        "2026-10-25T02:30",
        utc(2026, 10, 25, 0, 30),
    )
    fires = next_fire_times("30 2 * * *", BERLIN, utc(2026, 10, 24, 12), 2)
    assert fires == [autumn.at, utc(2026, 10, 26, 1, 30)]
    assert (spring.kind, spring.wall_time) == ("skipped", "2027-03-28T02:30")


def test_new_york_hourly_loses_0200_in_spring_and_runs_0100_once_in_autumn() -> None:
    notes = dst_notes("0 * * * *", NEW_YORK, JUNE_2026)
    assert [(n.kind, n.wall_time, n.at, n.fires) for n in notes] == [
        ("once", "2026-11-01T01:00", utc(2026, 11, 1, 5), 1),
        ("skipped", "2027-03-14T02:00", None, 1),
    ]
    assert notes[0].note == (
        "01:00 occurs twice on 2026-11-01 in America/New_York: this fire runs once, at "
        "01:00 EDT (05:00 UTC), not again at 01:00 EST"
    )


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "Etc/GMT-5"])
def test_a_zone_without_dst_has_no_notes(zone: str) -> None:
    assert dst_notes("* * * * *", zone, JUNE_2026) == []


def test_every_minute_gets_one_note_per_change_not_one_per_fire() -> None:
    # Given a cron that fires every minute of both changed hours
    notes = dst_notes("* * * * *", BERLIN, JUNE_2026)
    # Then each change is one note covering its 60 wall times
    assert [(n.kind, n.wall_time, n.last_wall_time, n.fires) for n in notes] == [
        ("once", "2026-10-25T02:00", "2026-10-25T02:59", 60),
        ("skipped", "2027-03-28T02:00", "2027-03-28T02:59", 60),
    ]
    assert notes[0].at == utc(2026, 10, 25, 0, 0)
    assert notes[1].note == (
        "02:00 to 02:59 do not exist on 2027-03-28 in Europe/Berlin: these 60 fires are skipped"
    )


def test_two_times_in_the_hour_are_named_both() -> None:
    [autumn, spring] = dst_notes("10,40 2 * * *", BERLIN, JUNE_2026)
    assert spring.note == (
        "02:10 and 02:40 do not exist on 2027-03-28 in Europe/Berlin: these 2 fires are skipped"
    )
    assert autumn.note == (
        "02:10 and 02:40 occur twice on 2026-10-25 in Europe/Berlin: these 2 fires run once "
        "each, in CEST (from 00:10 UTC), not again in CET"
    )


@pytest.mark.parametrize("expr", ["0 9 * * *", "30 3 * * *", "0 2 * * MON", "*/5 0-1 * * *"])
def test_a_cron_that_never_names_a_changed_time_has_no_notes(expr: str) -> None:
    # 03:00 exists both days; the changes are on Sundays; hours 00-01 are untouched in Berlin
    assert dst_notes(expr, BERLIN, JUNE_2026) == []


def test_lord_howe_shifts_by_30_minutes() -> None:
    # Lord Howe Island: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April
    notes = dst_notes("*/15 * * * *", LORD_HOWE, JUNE_2026)
    assert [(n.kind, n.wall_time, n.last_wall_time, n.fires, n.at) for n in notes] == [
        ("skipped", "2026-10-04T02:00", "2026-10-04T02:15", 2, None),
        ("once", "2027-04-04T01:30", "2027-04-04T01:45", 2, utc(2027, 4, 3, 14, 30)),
    ]


def test_only_the_next_365_days_count() -> None:
    # Given a look-ahead starting just after Berlin's spring change of 2026 (2026-03-29 01:00Z)
    notes = dst_notes("30 2 * * *", BERLIN, utc(2026, 3, 29, 2))
    # Then the spring change of 2027 is within the year, that of 2026 is past
    assert [n.wall_time for n in notes] == ["2026-10-25T02:30", "2027-03-28T02:30"]
    # and a shorter horizon drops what lies beyond it
    short = dst_notes("30 2 * * *", BERLIN, utc(2026, 3, 29, 2), horizon=timedelta(days=220))
    assert [n.wall_time for n in short] == ["2026-10-25T02:30"]


def test_a_repeated_time_already_fired_is_not_announced() -> None:
    # Given 00:45Z on Berlin's autumn day: 02:30 CEST (00:30Z) has fired, 02:50 CEST has not
    notes = dst_notes("30,50 2 * * *", BERLIN, utc(2026, 10, 25, 0, 45))
    assert (notes[0].wall_time, notes[0].fires, notes[0].at) == (
        "2026-10-25T02:50",
        1,
        utc(2026, 10, 25, 0, 50),
    )


def test_invalid_input_is_refused() -> None:
    with pytest.raises(CronError):
        dst_notes("0 25 * * *", BERLIN, JUNE_2026)
    with pytest.raises(InvalidTimezone):
        dst_notes("0 2 * * *", "Mars/Base", JUNE_2026)
    with pytest.raises(ValueError, match="timezone-aware"):
        dst_notes("0 2 * * *", BERLIN, datetime(2026, 6, 1))


@HYPOTHESIS
@given(
    expressions.filter(accepted),
    st.sampled_from([BERLIN, NEW_YORK, LORD_HOWE]),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_notes_agree_with_the_preview(expr: str, zone: str, start: datetime) -> None:
    # Whatever the cron: a skipped wall time is no fire of the preview, a repeated one fires
    # at the instant the note gives, and every note lies within the year
    after, tz = start.replace(tzinfo=UTC), ZoneInfo(zone)
    for note in dst_notes(expr, zone, after):
        wall = datetime.fromisoformat(note.wall_time)
        assert croniter.match(expr, wall)  # a wall time the cron names
        if note.kind == "skipped":
            # that does not exist: it reads back as another time, and no fire can be it
            assert note.at is None
            instant = wall.replace(tzinfo=tz).astimezone(UTC)
            assert instant.astimezone(tz).replace(tzinfo=None) != wall
            assert after < instant <= after + timedelta(days=366)
        else:
            # that fires once, at the instant the note gives: the preview lists it
            assert note.at is not None
            assert after < note.at <= after + timedelta(days=366)
            assert next_fire_times(expr, zone, note.at - timedelta(minutes=1), 1) == [note.at]
            assert note.at.astimezone(tz).replace(tzinfo=None) == wall
            # and not at the second occurrence
            second = note.at + (wall.replace(tzinfo=tz, fold=0).utcoffset() or timedelta())
            second -= wall.replace(tzinfo=tz, fold=1).utcoffset() or timedelta()
            assert second > note.at
            assert next_fire_times(expr, zone, second - timedelta(minutes=1), 1) != [second]


def test_the_preview_carries_the_notes_and_an_invalid_cron_none() -> None:
    valid = preview_cron(CronPreviewRequest(cron="30 2 * * *", timezone=BERLIN), JUNE_2026)
    assert [n.model_dump(mode="json") for n in valid.dst_notes] == [
        {
            "kind": "once",
            "wallTime": "2026-10-25T02:30",
            "lastWallTime": "2026-10-25T02:30",
            "fires": 1,
            "at": "2026-10-25T00:30:00Z",
            "note": "02:30 occurs twice on 2026-10-25 in Europe/Berlin: this fire runs once, at "
            "02:30 CEST (00:30 UTC), not again at 02:30 CET",
        },
        {
            "kind": "skipped",
            "wallTime": "2027-03-28T02:30",
            "lastWallTime": "2027-03-28T02:30",
            "fires": 1,
            "at": None,
            "note": "02:30 does not exist on 2027-03-28 in Europe/Berlin: this fire is skipped",
        },
    ]
    invalid = preview_cron(CronPreviewRequest(cron="30 2 * *", timezone=BERLIN), JUNE_2026)
    assert (invalid.valid, invalid.dst_notes) == (False, [])
