"""The catch-up window against the missed-fire check's own passes (issue #23 item 7), on real
Postgres: a slot that became due between two passes of a check that was up was found as soon as
the check could, so even a one-minute window catches it up though passes come every 15 minutes;
after an outage of the check, the window counts at the first pass after it.

The check runs with a fixed clock; a schedule's "creation" is moved into the past by setting
its schedule_fire_checks row (policy_fixtures.checking_since). Each pass writes the check's
heartbeat (missed_fire_check_passes), which the next pass reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.policies import missed_fires
from scheduler.policies.missed_fires import MissedSummary, check_missed_fires
from scheduler.store.fire_checks import CheckPass

from tests.integration.policy_fixtures import (
    checking_since,
    event_for,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
from tests.queries import AllQueries

GRACE = timedelta(seconds=300)
# ReconcileSchedule's default, rate(15 minutes): the settings' interval when none is given.
PASS_INTERVAL = timedelta(minutes=15)
# An hourly schedule's 07:00 fire time that did not run: due at 07:05 (5 min grace).
SLOT = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
# The first pass after it, 5 min after it was due: later than a one-minute window.
FOUND = SLOT + GRACE + timedelta(minutes=5)


def _check(
    queries: AllQueries,
    at: datetime,
    hand_ons: list[dict[str, Any]] | None = None,
    interval: timedelta | None = None,
) -> MissedSummary:
    collected = hand_ons if hand_ons is not None else []
    return check_missed_fires(
        queries.missed_fires, hand_on=collected.append, now=lambda: at, interval=interval
    )


def _catchups(queries: AllQueries, schedule: dict[str, Any]) -> list[datetime]:
    return [
        r["scheduled_time"]
        for r in runs_by_time(queries, schedule["id"])
        if (r["status"], r["trigger"]) == ("buffered", "catchup")
    ]


def _hourly_one_minute_window(
    runner: Runner, http_server: LoopbackServer, policy: str
) -> dict[str, Any]:
    schedule = make_policy_schedule(
        runner.queries,
        http_steps(http_server),
        cron="0 * * * *",
        catchup_policy=policy,
        catchup_window_seconds=60,  # the shortest the API accepts
    )
    checking_since(runner.queries, schedule["id"], datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    return schedule


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_a_one_minute_window_catches_up_a_slot_due_between_two_passes_15_minutes_apart(
    policy: str, runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a one-minute window and a check that passes every 15 minutes, at 06:55 then 07:10
    queries = runner.queries
    schedule = _hourly_one_minute_window(runner, http_server, policy)
    hand_ons: list[dict[str, Any]] = []
    _check(queries, FOUND - PASS_INTERVAL, hand_ons)
    assert runs_by_time(queries, schedule["id"]) == []  # nothing due yet

    # When the 07:10 pass finds the 07:00 slot missed, 5 minutes after it was due
    summary = _check(queries, FOUND, hand_ons)

    # Then it was found as soon as the check could: it runs
    assert _catchups(queries, schedule) == [SLOT]
    assert hand_ons == [event_for(schedule, SLOT, "catchup")]
    assert (summary.missed_fires, summary.catchup_queued) == (0, 1)
    # and the heartbeat says the check has been up since its first pass
    assert queries.fire_checks.last_fire_check_pass() == CheckPass(FOUND, FOUND - PASS_INTERVAL)


@pytest.mark.parametrize(
    ("interval", "gap", "caught_up"),
    [
        # ReconcileSchedule's default (from the settings): passes up to 30 min apart are the
        # check up; one a second later follows its outage
        (None, 2 * PASS_INTERVAL, True),
        (None, 2 * PASS_INTERVAL + timedelta(seconds=1), False),
        # the local stack's check, every minute
        (timedelta(seconds=60), timedelta(seconds=120), True),
        (timedelta(seconds=60), timedelta(seconds=121), False),
    ],
)
def test_a_pass_more_than_two_intervals_after_the_previous_follows_an_outage_of_the_check(
    interval: timedelta | None,
    gap: timedelta,
    caught_up: bool,
    runner: Runner,
    http_server: LoopbackServer,
) -> None:
    # Given a check up for an hour, whose latest pass was `gap` before this one
    queries = runner.queries
    schedule = _hourly_one_minute_window(runner, http_server, "all")
    queries.fire_checks.record_fire_check_pass(CheckPass(FOUND - gap, FOUND - timedelta(hours=1)))

    # When this pass finds the 07:00 slot missed, 5 minutes after it was due
    _check(queries, FOUND, interval=interval)

    [run] = runs_by_time(queries, schedule["id"])
    if caught_up:
        assert (run["status"], run["trigger"]) == ("buffered", "catchup")
    else:  # found at the first pass after the outage, 5 min after it was due: too late
        assert (run["status"], run["trigger"]) == ("missed", "schedule")
        assert "older than the catch-up window: not run" in run["error"]


# A ten-hour outage of everything, the check included: its last pass before was at 20:55, no
# fire from 21:00 on ran, and RECOVERY is the first pass after it; 07:01 is due by then.
LAST_PASS_BEFORE = datetime(2026, 11, 26, 20, 55, tzinfo=UTC)
OUTAGE_START = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
RECOVERY = datetime(2026, 11, 27, 7, 6, 30, tzinfo=UTC)
NEWEST_DUE = datetime(2026, 11, 27, 7, 1, tzinfo=UTC)


def _minutes(first: datetime, last: datetime) -> list[datetime]:
    return [
        first + timedelta(minutes=m) for m in range(int((last - first).total_seconds()) // 60 + 1)
    ]


def test_after_an_outage_of_the_check_the_window_counts_at_the_first_pass_after_it(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given an every-minute schedule with an hour's window, catchupPolicy all, and a check
    # whose last pass before a ten-hour outage was at 20:55
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron="* * * * *", catchup_policy="all"
    )
    checking_since(queries, schedule["id"], OUTAGE_START - timedelta(seconds=30))
    queries.fire_checks.record_fire_check_pass(CheckPass(LAST_PASS_BEFORE, LAST_PASS_BEFORE))
    hand_ons: list[dict[str, Any]] = []

    # When the first pass after it runs, and the next one 15 minutes later (none of the slots
    # due meanwhile ran either: everything but the check is still down)
    _check(queries, RECOVERY, hand_ons)
    _check(queries, RECOVERY + PASS_INTERVAL, hand_ons)

    # Then of the outage's slots only those due at most an hour before RECOVERY run (06:02 …
    # 07:01), the older ones are recorded; those due after RECOVERY were found as soon as the
    # check could (07:02 … 07:16): they run too
    in_window = _minutes(datetime(2026, 11, 27, 6, 2, tzinfo=UTC), RECOVERY + PASS_INTERVAL - GRACE)
    assert _catchups(queries, schedule) == in_window
    # (oldest first: each batch that queued some hands on the head again, the claim dedupes)
    assert {e["scheduledTime"] for e in hand_ons} == {iso(in_window[0])}
    runs = runs_by_time(queries, schedule["id"])
    older = [r for r in runs if r["scheduled_time"] < in_window[0]]
    assert [r["scheduled_time"] for r in older] == _minutes(OUTAGE_START, in_window[0])[:-1]
    assert {r["status"] for r in older} == {"missed"}
    assert queries.fire_checks.last_fire_check_pass() == CheckPass(
        RECOVERY + PASS_INTERVAL, RECOVERY
    )


def _deliver(queries: AllQueries, schedule: dict[str, Any], slots: list[datetime]) -> None:
    """Runs of these fire times, as EventBridge delivered them after the outage."""
    queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           select %(schedule)s, %(workflow)s, t, 'succeeded', t, t
           from unnest(%(times)s::timestamptz[]) as t""",
        {"schedule": schedule["id"], "workflow": schedule["workflow_id"], "times": slots},
    )


def test_a_schedule_the_first_pass_after_an_outage_did_not_reach_counts_its_window_there(
    runner: Runner, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two every-minute schedules with an hour's window, catchupPolicy all, after the
    # ten-hour outage, and passes that check one schedule's 500 slots each (their time is up)
    monkeypatch.setattr(missed_fires, "BATCH", 1)
    monkeypatch.setattr(missed_fires, "MAX_BATCHES", 1)
    queries = runner.queries
    schedules = [
        make_policy_schedule(
            queries, http_steps(http_server), cron="* * * * *", catchup_policy="all"
        )
        for _ in range(2)
    ]
    for schedule in schedules:
        checking_since(queries, schedule["id"], OUTAGE_START - timedelta(seconds=30))
    queries.fire_checks.record_fire_check_pass(CheckPass(LAST_PASS_BEFORE, LAST_PASS_BEFORE))

    # When four passes, 15 minutes apart, take turns at them (the fires after the outage ran)
    passes = [RECOVERY + n * PASS_INTERVAL for n in range(4)]
    for schedule in schedules:
        _deliver(queries, schedule, _minutes(NEWEST_DUE + timedelta(minutes=1), passes[-1] - GRACE))
    for at in passes:
        _check(queries, at)

    # Then each one's window counted at RECOVERY, though one of them was first reached 15
    # minutes later: the slots due at most an hour before RECOVERY run, the older are missed
    in_window = _minutes(datetime(2026, 11, 27, 6, 2, tzinfo=UTC), NEWEST_DUE)
    for schedule in schedules:
        assert _catchups(queries, schedule) == in_window
        outage = [
            r for r in runs_by_time(queries, schedule["id"]) if r["scheduled_time"] <= NEWEST_DUE
        ]
        assert len(outage) == 602  # 21:00 … 07:01
        assert {r["status"] for r in outage if r["scheduled_time"] < in_window[0]} == {"missed"}
