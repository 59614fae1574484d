"""The missed-fire check after long outages, with short catch-up windows, across pauses, and
when its alerts cannot be sent (issue #23), on real Postgres and moto.

The check runs with a fixed clock; a schedule's "creation" is moved into the past by setting
its schedule_fire_checks row (policy_fixtures.checking_since).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.policies import missed_fires
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.store.sync_state import Written

from tests.integration.policy_fixtures import (
    checking_since,
    event_for,
    fire_check,
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
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401
from tests.queries import AllQueries

GRACE = timedelta(seconds=300)
EVERY_MINUTE = "* * * * *"
# A ten-hour outage of everything: no fire from 21:00 on ran, and the check did not run either.
# It ends at RECOVERY, the first pass after it; 07:01 is the newest fire time due then.
OUTAGE_START = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
RECOVERY = datetime(2026, 11, 27, 7, 6, 30, tzinfo=UTC)
NEWEST_DUE = datetime(2026, 11, 27, 7, 1, tzinfo=UTC)
# A pass comes every 15 minutes (ReconcileSchedule's default).
NEXT_PASS = RECOVERY + timedelta(minutes=15)
# What an EventBridge write recorded it wrote (its value does not matter here).
FINGERPRINT = "f" * 64


def _minutes(first: datetime, last: datetime) -> list[datetime]:
    return [
        first + timedelta(minutes=m) for m in range(int((last - first).total_seconds()) // 60 + 1)
    ]


def _check(
    queries: AllQueries,
    at: datetime,
    hand_ons: list[dict[str, Any]] | None = None,
    remaining_s: float | None = None,
) -> missed_fires.MissedSummary:
    collected = hand_ons if hand_ons is not None else []
    return check_missed_fires(
        queries.missed_fires,
        hand_on=collected.append,
        now=lambda: at,
        remaining_s=None if remaining_s is None else lambda: remaining_s,
    )


def _catchups(queries: AllQueries, schedule: dict[str, Any]) -> list[datetime]:
    return [
        r["scheduled_time"]
        for r in runs_by_time(queries, schedule["id"])
        if (r["status"], r["trigger"]) == ("buffered", "catchup")
    ]


def _deliver(queries: AllQueries, schedule: dict[str, Any], slots: list[datetime]) -> None:
    """Runs of these fire times, as EventBridge delivered them after the outage."""
    queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           select %(schedule)s, %(workflow)s, t, 'succeeded', t, t
           from unnest(%(times)s::timestamptz[]) as t""",
        {"schedule": schedule["id"], "workflow": schedule["workflow_id"], "times": slots},
    )


@pytest.fixture(name="one_batch_per_pass")
def one_batch_per_pass_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that stops after one batch (its time is up): the outage's 602 fire times take
    two passes, 500 in the first."""
    monkeypatch.setattr(missed_fires, "MAX_BATCHES", 1)


def _outage_schedule(runner: Runner, http_server: LoopbackServer, **fields: Any) -> dict[str, Any]:
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron=EVERY_MINUTE, **fields
    )
    checking_since(runner.queries, schedule["id"], OUTAGE_START - timedelta(seconds=30))
    return schedule


# --- latest and all after an outage longer than a batch


def test_latest_after_a_long_outage_runs_one_catch_up_the_newest_slot_in_one_pass(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = _outage_schedule(
        runner, http_server, catchup_policy="latest", catchup_window_seconds=86_400
    )
    hand_ons: list[dict[str, Any]] = []

    summary = _check(queries, RECOVERY, hand_ons)

    assert len(runs_by_time(queries, schedule["id"])) == 602  # 21:00 … 07:01
    assert _catchups(queries, schedule) == [NEWEST_DUE]
    assert hand_ons == [event_for(schedule, NEWEST_DUE, "catchup")]
    assert (summary.missed_fires, summary.catchup_queued) == (601, 1)
    assert fire_check(queries, schedule["id"])["backlog_found_at"] is None  # caught up


def test_latest_after_a_long_outage_checked_by_two_passes_hands_on_one_catch_up(
    runner: Runner, http_server: LoopbackServer, one_batch_per_pass: None
) -> None:
    queries = runner.queries
    schedule = _outage_schedule(
        runner, http_server, catchup_policy="latest", catchup_window_seconds=86_400
    )
    hand_ons: list[dict[str, Any]] = []

    _check(queries, RECOVERY, hand_ons)  # the 500 oldest: none of them is the latest
    assert hand_ons == []
    assert fire_check(queries, schedule["id"])["backlog_found_at"] == RECOVERY
    _deliver(queries, schedule, _minutes(NEWEST_DUE + timedelta(minutes=1), NEXT_PASS - GRACE))
    _check(queries, NEXT_PASS, hand_ons)

    assert _catchups(queries, schedule) == [NEWEST_DUE]
    assert hand_ons == [event_for(schedule, NEWEST_DUE, "catchup")]  # one catch-up runs
    missed = [r for r in runs_by_time(queries, schedule["id"]) if r["status"] == "missed"]
    assert [r["scheduled_time"] for r in missed] == _minutes(OUTAGE_START, NEWEST_DUE)[:-1]


def test_all_after_a_long_outage_runs_every_slot_inside_the_window_at_recovery(
    runner: Runner, http_server: LoopbackServer, one_batch_per_pass: None
) -> None:
    # Given catchupPolicy all with an hour's window: at RECOVERY, the slots due (fire time +
    # 5 min grace) at most an hour before it, 06:02 … 07:01, are inside it
    queries = runner.queries
    schedule = _outage_schedule(runner, http_server, catchup_policy="all")
    hand_ons: list[dict[str, Any]] = []

    # When the first pass reaches only the 500 oldest slots, and the next one the rest
    _check(queries, RECOVERY, hand_ons)
    _deliver(queries, schedule, _minutes(NEWEST_DUE + timedelta(minutes=1), NEXT_PASS - GRACE))
    _check(queries, NEXT_PASS, hand_ons)

    # Then every one of them waits to run, oldest first, though the second pass is 15 min later
    in_window = _minutes(datetime(2026, 11, 27, 6, 2, tzinfo=UTC), NEWEST_DUE)
    assert _catchups(queries, schedule) == in_window
    assert hand_ons == [event_for(schedule, in_window[0], "catchup")]
    statuses = {r["scheduled_time"]: r["status"] for r in runs_by_time(queries, schedule["id"])}
    assert all(s == "missed" for t, s in statuses.items() if t < in_window[0])
    assert len(statuses) == 602 + 15


# --- a catch-up window shorter than the grace


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_a_window_below_the_grace_catches_up_a_slot_found_within_it(
    policy: str, runner: Runner, http_server: LoopbackServer
) -> None:
    # Given the shortest window the API accepts, a minute, and a fire time of 07:00 that did
    # not run: it is due at 07:05 (5 min grace)
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="0 * * * *",
        catchup_policy=policy,
        catchup_window_seconds=60,
    )
    checking_since(queries, schedule["id"], datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    slot = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    hand_ons: list[dict[str, Any]] = []

    # When the check finds it missed 30 s after it was due
    _check(queries, slot + GRACE + timedelta(seconds=30), hand_ons)

    # Then it runs
    assert _catchups(queries, schedule) == [slot]
    assert hand_ons == [event_for(schedule, slot, "catchup")]


def test_a_slot_found_later_than_its_window_after_it_was_due_is_only_recorded(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="0 * * * *",
        catchup_policy="all",
        catchup_window_seconds=60,
    )
    checking_since(queries, schedule["id"], datetime(2026, 11, 27, 6, 30, tzinfo=UTC))
    slot = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)

    _check(queries, slot + GRACE + timedelta(seconds=61))

    [run] = runs_by_time(queries, schedule["id"])
    assert run["status"] == "missed"
    assert "older than the catch-up window: not run" in run["error"]


# --- a pause


def test_fire_times_missed_before_a_pause_are_recorded_missed_and_never_run(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a catchupPolicy all schedule whose 06:10 … 06:50 fires did not run, paused at 06:55
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron="*/10 * * * *", catchup_policy="all"
    )
    checking_since(queries, schedule["id"], datetime(2026, 11, 27, 6, 0, 30, tzinfo=UTC))
    queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})
    paused = datetime(2026, 11, 27, 6, 55, tzinfo=UTC)
    queries.db.execute(  # the trigger wrote the database's now(); the test's clock is earlier
        "update schedule_fire_checks set disabled_at = %s where schedule_id = %s",
        (paused, schedule["id"]),
    )
    hand_ons: list[dict[str, Any]] = []

    # When the check runs after the pause
    summary = _check(queries, datetime(2026, 11, 27, 7, 30, tzinfo=UTC), hand_ons)

    # Then the fire times before it are missed, not run; those after it are not missed
    runs = runs_by_time(queries, schedule["id"])
    assert [r["scheduled_time"] for r in runs] == [
        datetime(2026, 11, 27, 6, m, tzinfo=UTC) for m in (10, 20, 30, 40, 50)
    ]
    assert {(r["status"], r["trigger"]) for r in runs} == {("missed", "schedule")}
    assert all("not run: its schedule was disabled since" in r["error"] for r in runs)
    assert (summary.missed_fires, summary.catchup_queued, hand_ons) == (5, 0, [])
    assert fire_check(queries, schedule["id"])["next_check_at"] is None  # nothing more to check


# --- alerts that could not be sent


def test_run_missed_alerts_a_pass_could_not_send_are_sent_by_the_next_once(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron="*/10 * * * *")
    checking_since(queries, schedule["id"], datetime(2026, 11, 27, 6, 0, 30, tzinfo=UTC))
    at = datetime(2026, 11, 27, 7, 6, tzinfo=UTC)

    # a pass with too little time left to publish: the rows are written, no alert goes out
    assert _check(queries, at, remaining_s=1.0).missed_fires == 6
    assert alert_queue.received() == []

    _check(queries, at + timedelta(minutes=15), remaining_s=900.0)
    _check(queries, at + timedelta(minutes=30), remaining_s=900.0)  # nothing left to send

    runs = runs_by_time(queries, schedule["id"])
    events = sorted(alert_queue.received(), key=lambda e: e["detail"]["scheduledTime"])
    assert [(e["detail-type"], e["detail"]["runId"]) for e in events] == [
        ("Run Missed", str(r["id"])) for r in runs
    ]
    assert [e["detail"]["scheduledTime"] for e in events] == [
        iso(r["scheduled_time"]) for r in runs
    ]
    assert {e["detail"]["workflowName"] for e in events} == {"nightly report"}


# --- a fire time during the write that created the schedule


def test_a_fire_time_before_the_creating_write_reached_eventbridge_is_not_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a schedule whose creating transaction started (fires_from) 0.2 s before 07:00 and
    # whose EventBridge schedule was written 0.3 s later: EventBridge could not fire 07:00
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron=EVERY_MINUTE)
    fire_time = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    checking_since(queries, schedule["id"], fire_time - timedelta(milliseconds=200))
    queries.sync_state.record_eventbridge_state(
        schedule["id"], Written(FINGERPRINT, fire_time + timedelta(milliseconds=100))
    )

    _check(queries, fire_time + timedelta(minutes=8))

    # Then 07:00 is not missed; the fire times after the write are
    assert [r["scheduled_time"] for r in runs_by_time(queries, schedule["id"])] == _minutes(
        fire_time + timedelta(minutes=1), fire_time + timedelta(minutes=3)
    )


def test_a_fire_time_after_a_later_eventbridge_repair_is_still_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a schedule created at 06:59:59.8 whose EventBridge schedule a reconcile pass
    # rewrote at 07:10 (it was missing): 07:00 … 07:10 could not be delivered, and are missed
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron=EVERY_MINUTE)
    created = datetime(2026, 11, 27, 6, 59, 59, 800_000, tzinfo=UTC)
    checking_since(queries, schedule["id"], created)
    queries.sync_state.record_eventbridge_state(
        schedule["id"], Written(FINGERPRINT, datetime(2026, 11, 27, 7, 10, tzinfo=UTC))
    )

    _check(queries, datetime(2026, 11, 27, 7, 16, tzinfo=UTC))

    assert [r["scheduled_time"] for r in runs_by_time(queries, schedule["id"])] == _minutes(
        datetime(2026, 11, 27, 7, 0, tzinfo=UTC), datetime(2026, 11, 27, 7, 11, tzinfo=UTC)
    )
