"""The accounting where the calendar features meet (issue #26 review), on real Postgres: a fire
time under a DST policy that delivers each repeated instant on its own is due at its own instant
(as the missed-fire check has it), and a moved occurrence whose new time fell in a pause is
`paused`, as the fire times of the pause are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.store.exceptions import ExceptionQueries

from tests.integration.test_accounting import _account, _at, _audit_event, _schedule
from tests.queries import AllQueries


def test_under_fall_back_both_the_first_instant_is_due_at_its_own_time(
    queries: AllQueries,
) -> None:
    created = datetime(2026, 10, 20, tzinfo=UTC)
    daily = _schedule(
        queries,
        "30 2 * * *",
        created=created,
        timezone="Europe/Berlin",
        dst_policy={"spring_forward": "skip", "fall_back": "both"},
    )
    day_start = datetime(2026, 10, 24, 22, tzinfo=UTC)
    day_end = datetime(2026, 10, 25, 23, tzinfo=UTC)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET

    # 01:10Z: the first instant's own delivery is 40 min overdue (the check records it missed
    # at 00:35Z: policy_last_occurrence), the second is still to come
    between = _account(queries, daily, day_start, day_end, now=first + timedelta(minutes=40))

    assert [(i.scheduled_time, i.outcome) for i in between.items] == [
        (first, "noRecord"),
        (second, "upcoming"),
    ]
    assert between.items[1].cause == "no run yet; not due before 2026-10-25T01:35:00Z"


def test_a_move_whose_new_time_fell_in_a_pause_is_paused(queries: AllQueries) -> None:
    schedule = _schedule(queries)
    ExceptionQueries(queries.db).add_exception(
        schedule["id"],
        occurrence=_at(3),
        action="move",
        move_to=_at(5, 10),
        note=None,
        created_by="test",
    )
    _audit_event(queries, schedule, "paused", _at(4, 30), enabled={"before": True, "after": False})
    _audit_event(queries, schedule, "resumed", _at(6, 30), enabled={"before": False, "after": True})

    items = {i.scheduled_time: i for i in _account(queries, schedule, _at(2, 30), _at(6)).items}

    # 03:00 ran nowhere: its at() fired at 05:10 into the pause (the runner ran nothing)
    assert (items[_at(3)].outcome, items[_at(5)].outcome) == ("paused", "paused")
    assert items[_at(3)].cause == (
        "the schedule was paused (paused by user:alice at 2026-11-27T04:30:00Z)"
    )
