"""The missed-fire check's remembered fire times list what scheduler.cron lists."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from scheduler import cron
from scheduler.policies.fire_times import fires_after

# Around Berlin's autumn change (the repeated 02:00-03:00) and New York's spring gap.
AFTER = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "timezone"),
    [
        ("* * * * *", "Europe/Berlin"),
        ("*/7 1-3 * * *", "Europe/Berlin"),
        ("30 2 * * *", "America/New_York"),
        ("0 * * * *", "UTC"),
    ],
)
@pytest.mark.parametrize("taken", [0, 1, 2, 3, 7, 600])
def test_chunked_walk_lists_the_fire_times_of_one_walk(
    expr: str, timezone: str, taken: int
) -> None:
    until = AFTER + timedelta(days=200)
    walked = list(itertools.islice(fires_after(expr, timezone, AFTER, until, most=64), taken))
    assert walked == cron.next_fire_times(expr, timezone, AFTER, taken, until=until)


def test_chunked_walk_stops_at_until() -> None:
    until = AFTER + timedelta(hours=5, minutes=30)
    walked = list(fires_after("0 * * * *", "UTC", AFTER, until, most=4))
    assert walked == [AFTER + timedelta(hours=h) for h in range(1, 6)]


def test_a_cron_no_longer_valid_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            next(fires_after("0 * * * *", "Mars/Olympus_Mons", AFTER, None, most=4))
