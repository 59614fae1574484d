"""The missed-fire check and catch-up (scheduler.policies.missed_fires) on real Postgres and moto,
and the catch-up runs it hands on, through the runner with the real lock on moto DynamoDB.

The check runs with a fixed clock; a schedule's "creation" is moved into the past by setting
its schedule_fire_checks row (policy_fixtures.checking_since), since the database's now() is
real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.queue import QUEUED_PATIENCE

from tests.integration.policy_fixtures import (
    HandOns,
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

# The schedule "exists" from T0; fire times every ten minutes, 06:10 … 07:00 due by NOW
# (grace 300 s: 07:00 was due at 07:05).
T0 = datetime(2026, 11, 27, 6, 0, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 7, 6, tzinfo=UTC)
EVERY_TEN = "*/10 * * * *"


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


SLOTS = [_at(6, m) for m in (10, 20, 30, 40, 50)] + [_at(7, 0)]


def _check(queries: AllQueries, at: datetime, hand_ons: list[dict[str, Any]] | None = None) -> Any:
    collected = hand_ons if hand_ons is not None else []
    return check_missed_fires(queries.missed_fires, hand_on=collected.append, now=lambda: at)


def _statuses(queries: AllQueries, schedule: dict[str, Any]) -> dict[datetime, tuple[str, str]]:
    runs = runs_by_time(queries, schedule["id"])
    return {r["scheduled_time"]: (r["status"], r["trigger"]) for r in runs}


@pytest.fixture(name="schedule")
def schedule_fixture(runner: Runner, http_server: LoopbackServer) -> dict[str, Any]:
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron=EVERY_TEN)
    checking_since(runner.queries, schedule["id"], T0)
    return schedule


# --- missed fire times are recorded, once


def test_a_fire_time_without_a_run_is_recorded_missed_with_its_cause(
    runner: Runner, schedule: dict[str, Any]
) -> None:
    queries = runner.queries
    ran = queries.runs.claim_run_slot(
        schedule["id"],
        schedule["workflow_id"],
        _at(6, 20),
        trigger="schedule",
        attempt=1,
        claim_token="delivered",
        started_at=_at(6, 20),
        lease_expires_at=_at(6, 22),
    )
    hand_ons: list[dict[str, Any]] = []

    summary = _check(queries, NOW, hand_ons)

    runs = runs_by_time(queries, schedule["id"])
    assert [r["scheduled_time"] for r in runs] == SLOTS
    kept = runs[1]
    assert (kept["id"], kept["status"]) == (ran["run_id"], "running")  # the slot that ran
    missed = [r for r in runs if r["scheduled_time"] != _at(6, 20)]
    assert {(r["status"], r["trigger"]) for r in missed} == {("missed", "schedule")}
    for row in missed:
        assert row["error"].startswith("missed: no run had started 5 min after")
        assert "EventBridge did not deliver it" in row["error"]
        assert row["finished_at"] == NOW
    assert (summary.missed_fires, summary.catchup_queued, summary.handed_on) == (5, 0, 0)
    assert hand_ons == []
    check = fire_check(queries, schedule["id"])
    assert check["checked_through"] == _at(7, 0)
    assert check["next_check_at"] == _at(7, 15)  # 07:10 + grace


def test_the_check_is_idempotent(runner: Runner, schedule: dict[str, Any]) -> None:
    queries = runner.queries
    _check(queries, NOW)
    before = runs_by_time(queries, schedule["id"])

    again = _check(queries, NOW)
    later = _check(queries, NOW + timedelta(minutes=1))
    # a pass that wrote its rows and died before it recorded its progress
    checking_since(queries, schedule["id"], T0)
    redone = _check(queries, NOW)

    assert len(before) == 6
    assert runs_by_time(queries, schedule["id"]) == before
    assert again.missed_fires == later.missed_fires == redone.missed_fires == 0
    assert (again.fire_checks, redone.fire_checks) == (0, 1)


def test_a_fire_time_within_its_grace_is_not_missed_yet(
    runner: Runner, schedule: dict[str, Any]
) -> None:
    queries = runner.queries
    checking_since(queries, schedule["id"], _at(6, 55))

    _check(queries, _at(7, 4) + timedelta(seconds=59))
    assert runs_by_time(queries, schedule["id"]) == []

    _check(queries, _at(7, 5) + timedelta(seconds=1))
    assert list(_statuses(queries, schedule)) == [_at(7, 0)]


def test_a_flexible_window_adds_to_the_grace(runner: Runner, http_server: LoopbackServer) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron=EVERY_TEN, flexible_window_minutes=5
    )
    checking_since(queries, schedule["id"], T0)

    _check(queries, NOW)  # 07:00 + 5 min window + 5 min grace is not over yet
    assert list(_statuses(queries, schedule)) == SLOTS[:-1]

    _check(queries, _at(7, 10) + timedelta(seconds=1))
    assert list(_statuses(queries, schedule)) == SLOTS


# --- catch-up policies


@pytest.mark.parametrize(
    ("policy", "caught_up"),
    [("skip", []), ("latest", [_at(7, 0)]), ("all", [_at(6, 40), _at(6, 50), _at(7, 0)])],
)
def test_the_catchup_policy_decides_which_missed_fire_times_run(
    policy: str, caught_up: list[datetime], runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron=EVERY_TEN,
        catchup_policy=policy,
        catchup_window_seconds=1800,  # 06:36 on: 06:40, 06:50, 07:00
    )
    checking_since(queries, schedule["id"], T0)
    hand_ons: list[dict[str, Any]] = []

    summary = _check(queries, NOW, hand_ons)

    runs = runs_by_time(queries, schedule["id"])
    assert [r["scheduled_time"] for r in runs] == SLOTS
    assert {
        r["scheduled_time"] for r in runs if (r["status"], r["trigger"]) == ("buffered", "catchup")
    } == set(caught_up)
    missed = [r for r in runs if r["scheduled_time"] not in caught_up]
    assert {(r["status"], r["trigger"]) for r in missed} == {("missed", "schedule")}
    if policy != "skip":
        old = [r for r in missed if r["scheduled_time"] < _at(6, 36)]
        assert len(old) == 3
        assert all("older than the catch-up window: not run" in r["error"] for r in old)
    for row in runs:
        if row["status"] == "buffered":
            assert f"caught up (catchupPolicy {policy})" in row["error"]
            assert row["finished_at"] is None
            assert row["lease_expires_at"] == NOW + QUEUED_PATIENCE
    # exactly one hand-on: the oldest waiting run (for latest, the only one)
    assert hand_ons == ([event_for(schedule, caught_up[0], "catchup")] if caught_up else [])
    assert (summary.catchup_queued, summary.handed_on) == (len(caught_up), len(hand_ons))


def test_missed_fire_times_older_than_the_catchup_window_are_only_recorded(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron=EVERY_TEN, catchup_policy="all"
    )  # the default window, an hour: 06:06 on
    checking_since(queries, schedule["id"], _at(4, 0) + timedelta(seconds=30))
    hand_ons: list[dict[str, Any]] = []

    _check(queries, NOW, hand_ons)

    statuses = _statuses(queries, schedule)
    assert len(statuses) == 18  # 04:10 … 07:00
    assert {t for t, s in statuses.items() if s == ("buffered", "catchup")} == set(SLOTS)
    assert all(s == ("missed", "schedule") for t, s in statuses.items() if t < _at(6, 6))
    assert [e["scheduledTime"] for e in hand_ons] == [iso(_at(6, 10))]


def test_catchup_runs_run_oldest_first_one_at_a_time_through_the_runner(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron=EVERY_TEN,
        catchup_policy="all",
        catchup_window_seconds=1800,
    )
    checking_since(queries, schedule["id"], T0)
    chain = HandOns(runner)
    _check(queries, NOW, chain.pending)
    runner.clock.current = NOW

    done = chain.drain()

    caught_up = [_at(6, 40), _at(6, 50), _at(7, 0)]
    assert [(t, report.outcome) for t, report in done] == [(iso(t), "succeeded") for t in caught_up]
    # each run's steps ran after the previous run had recorded (one invocation at a time)
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(t) for t in caught_up
    ]
    statuses = _statuses(queries, schedule)
    assert [t for t, s in statuses.items() if s == ("succeeded", "catchup")] == caught_up
    assert [t for t, s in statuses.items() if s == ("missed", "schedule")] == SLOTS[:3]
    workflow = runner.workflow(schedule)
    assert (workflow["status"], workflow["run_count"]) == ("idle", 3)
    # a second check finds nothing to do, and nothing stalled
    again: list[dict[str, Any]] = []
    assert _check(queries, NOW + timedelta(minutes=1), again).handed_on == 0
    assert again == []


# --- fire times that are never missed


def test_fire_times_before_the_schedule_existed_are_never_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron="* * * * *")
    created = fire_check(queries, schedule["id"])["fires_from"]

    _check(queries, created + timedelta(minutes=7))

    times = list(_statuses(queries, schedule))
    first = created.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert times == [first + timedelta(minutes=m) for m in range(len(times))]
    assert 1 <= len(times) <= 2  # the minutes of (created, created + 2 min]
    assert all(t > created for t in times)


def test_fire_times_while_disabled_are_never_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron="* * * * *")
    created = fire_check(queries, schedule["id"])["fires_from"]
    queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})
    paused = fire_check(queries, schedule["id"])["disabled_at"]

    _check(queries, created + timedelta(minutes=30))  # disabled: only what came before is missed
    assert all(t <= paused for t in _statuses(queries, schedule))
    assert fire_check(queries, schedule["id"])["next_check_at"] is None
    before_enabling = len(runs_by_time(queries, schedule["id"]))

    queries.schedules.update_schedule(schedule["id"], None, {"enabled": True})
    enabled = fire_check(queries, schedule["id"])["fires_from"]
    _check(queries, enabled + timedelta(minutes=7))

    times = list(_statuses(queries, schedule))[before_enabling:]
    assert 1 <= len(times) <= 2
    assert all(t > enabled for t in times)


def test_fire_times_before_a_cron_change_are_never_missed_but_a_note_keeps_them(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron="* * * * *")
    created = fire_check(queries, schedule["id"])["fires_from"]
    since = created - timedelta(hours=1)
    checking_since(queries, schedule["id"], since)

    # a note, a policy: not a change of when it fires
    queries.schedules.update_schedule(
        schedule["id"], None, {"note": "owner: billing", "catchup_policy": "latest"}
    )
    assert fire_check(queries, schedule["id"])["checked_through"] == since

    queries.schedules.update_schedule(schedule["id"], None, {"cron": "*/2 * * * *"})
    changed = fire_check(queries, schedule["id"])
    assert changed["fires_from"] > created
    _check(queries, changed["fires_from"] + timedelta(minutes=9))

    times = list(_statuses(queries, schedule))
    assert 1 <= len(times) <= 2  # the even minutes of (changed, changed + 4 min]
    assert all(t > changed["fires_from"] and t.minute % 2 == 0 for t in times)


def test_fire_times_outside_start_at_and_end_at_are_never_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="*/5 * * * *",
        start_at=_at(6, 30),
        end_at=_at(6, 40),
    )
    checking_since(queries, schedule["id"], T0)

    _check(queries, NOW)
    _check(queries, NOW + timedelta(hours=2))

    assert list(_statuses(queries, schedule)) == [_at(6, 30), _at(6, 35), _at(6, 40)]
    assert fire_check(queries, schedule["id"])["next_check_at"] is None  # none is coming


# --- a repeated autumn wall time is one slot

FIRST_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
SECOND_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
GRACE = timedelta(seconds=300)


@pytest.fixture(name="berlin")
def berlin_fixture(runner: Runner, http_server: LoopbackServer) -> dict[str, Any]:
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="30 2 * * *", timezone="Europe/Berlin"
    )
    checking_since(runner.queries, schedule["id"], datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    return schedule


def test_a_repeated_wall_time_is_missed_only_after_its_second_occurrence(
    runner: Runner, berlin: dict[str, Any]
) -> None:
    queries = runner.queries

    _check(queries, FIRST_0230 + GRACE + timedelta(minutes=1))
    _check(queries, SECOND_0230 + GRACE - timedelta(seconds=1))
    assert runs_by_time(queries, berlin["id"]) == []

    _check(queries, SECOND_0230 + GRACE + timedelta(seconds=1))
    [missed] = runs_by_time(queries, berlin["id"])
    assert (missed["scheduled_time"], missed["status"]) == (FIRST_0230, "missed")


@pytest.mark.parametrize("delivered", [FIRST_0230, SECOND_0230], ids=["first", "second"])
def test_a_repeated_wall_time_that_ran_at_either_instant_is_not_missed(
    delivered: datetime, runner: Runner, berlin: dict[str, Any]
) -> None:
    queries = runner.queries
    runner.clock.current = delivered
    assert HandOns(runner).run(event_for(berlin, delivered)).outcome == "succeeded"

    summary = _check(queries, SECOND_0230 + GRACE + timedelta(minutes=1))

    [run] = runs_by_time(queries, berlin["id"])
    assert (run["scheduled_time"], run["status"]) == (FIRST_0230, "succeeded")
    assert summary.missed_fires == 0


# --- alerts and stalled waiting runs


def test_each_missed_fire_time_publishes_one_run_missed_alert(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron=EVERY_TEN,
        catchup_policy="latest",
        catchup_window_seconds=1800,
    )
    checking_since(queries, schedule["id"], T0)

    _check(queries, NOW)
    _check(queries, NOW + timedelta(minutes=1))  # nothing new: no alert again

    runs = runs_by_time(queries, schedule["id"])
    events = sorted(alert_queue.received(), key=lambda e: e["detail"]["scheduledTime"])
    assert [e["detail-type"] for e in events] == ["Run Missed"] * len(runs) == ["Run Missed"] * 6
    for event, run in zip(events, runs, strict=True):
        assert event["source"] == "workflow-scheduler"
        detail = event["detail"]
        assert detail["scheduledTime"] == iso(run["scheduled_time"])
        assert (detail["runId"], detail["error"]) == (str(run["id"]), run["error"])
        assert (detail["scheduleId"], detail["workflowId"]) == (
            str(schedule["id"]),
            str(schedule["workflow_id"]),
        )
        assert detail["trigger"] == run["trigger"]
        assert detail["workflowName"] == "nightly report"
        assert detail["dedupeKey"] == f"{run['id']}:missed"


def test_a_stalled_waiting_run_is_handed_on_by_the_check(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_policy_schedule(queries, http_steps(http_server), cron=EVERY_TEN)
    queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        [_at(6, 10), _at(6, 20)],
        trigger="backfill",
        now=_at(6, 30),
        wait_until=_at(6, 40),  # its hand-on was lost: nobody took it by then
    )
    early: list[dict[str, Any]] = []
    assert _check(queries, _at(6, 39), early).handed_on == 0
    assert early == []

    chain = HandOns(runner)
    summary = _check(queries, _at(6, 41), chain.pending)

    assert summary.handed_on == 1
    assert chain.pending == [event_for(schedule, _at(6, 10), "backfill")]
    runner.clock.current = _at(6, 41)
    assert [(t, r.outcome) for t, r in chain.drain()] == [
        (iso(_at(6, 10)), "succeeded"),
        (iso(_at(6, 20)), "succeeded"),
    ]


# --- on ReconcileFunction's schedule


def test_the_reconcile_coordinator_runs_the_check_and_hands_catch_up_to_the_runner(
    runner: Runner, http_server: LoopbackServer
) -> None:
    from scheduler.policies.periodic_pass import run_invocation
    from scheduler.sync.eventbridge import EventBridgeSchedules

    # Given a catchupPolicy latest schedule whose fire times since T0 never ran
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron=EVERY_TEN, catchup_policy="latest"
    )
    checking_since(runner.queries, schedule["id"], T0)
    handed_on: list[dict[str, Any]] = []

    # When the scheduled event coordinates a pass
    summary = run_invocation(
        runner.queries.periodic_pass,
        EventBridgeSchedules(),
        None,
        shards=16,
        start=lambda task: None,
        remaining_s=lambda: 900.0,
        hand_on=handed_on.append,
        now=lambda: NOW,
    )

    # Then the check ran within it: the older slots are missed, the latest is handed on
    assert (summary["missed_fires"], summary["catchup_queued"]) == (5, 1)
    assert summary["handed_on"] == 1
    assert handed_on == [event_for(schedule, SLOTS[-1], "catchup")]


def test_latest_runs_only_the_newest_missed_fire_time_of_an_outage_seen_by_two_passes(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a catchupPolicy latest schedule whose fire times since T0 never ran, checked once
    # when only the first part of the outage was due
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron=EVERY_TEN, catchup_policy="latest"
    )
    checking_since(queries, schedule["id"], T0)
    _check(queries, _at(6, 36))  # 06:10, 06:20, 06:30 due: 06:30 queued to catch up
    assert _statuses(queries, schedule)[_at(6, 30)] == ("buffered", "catchup")

    # When the next pass sees the rest of the outage (its catch-up not run yet)
    _check(queries, NOW)

    # Then only the newest slot waits to run; the earlier catch-up is missed, superseded
    statuses = _statuses(queries, schedule)
    assert [t for t, s in statuses.items() if s == ("buffered", "catchup")] == [SLOTS[-1]]
    [earlier] = [
        r for r in runs_by_time(queries, schedule["id"]) if r["scheduled_time"] == _at(6, 30)
    ]
    assert (earlier["status"], earlier["finished_at"] is not None) == ("missed", True)
    assert "a later missed fire time was caught up instead" in earlier["error"]


def test_disabling_a_schedule_skips_its_waiting_runs(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a catchupPolicy all schedule with catch-up runs waiting
    queries = runner.queries
    schedule = make_policy_schedule(
        queries, http_steps(http_server), cron=EVERY_TEN, catchup_policy="all"
    )
    checking_since(queries, schedule["id"], T0)
    _check(queries, NOW)
    assert ("buffered", "catchup") in _statuses(queries, schedule).values()

    # When it is disabled
    queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})

    # Then none waits any more (they would run, stale, when it is enabled again)
    runs = runs_by_time(queries, schedule["id"])
    assert [r["scheduled_time"] for r in runs] == SLOTS
    assert {(r["status"], r["error"]) for r in runs} == {
        ("skipped", "skipped: its schedule was disabled while it waited")
    }
