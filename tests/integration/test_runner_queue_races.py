"""Races around waiting runs (real Postgres, moto DynamoDB, fake time): a pause that meets a
run about to wait, a late EventBridge delivery of a queued slot, and Lambda's retry of a
queued run's invocation that claimed its row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from scheduler.errors import LockUnavailable
from scheduler.policies.missed_fires import MissedFireQueries, check_missed_fires
from scheduler.run.event import RunnerEvent
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import Lease, LeaseLock
from scheduler.run.queue import QUEUED_PATIENCE
from scheduler.run.runner import run_fire
from scheduler.store.fire_checks import FireCheckQueries
from scheduler.store.runs import RunQueries

from tests.integration.policy_fixtures import (
    HandOns,
    checking_since,
    event_for,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LOCKS_TABLE,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
    short_retry_budget_fixture,
)
from tests.queries import AllQueries

EVERY_FIVE = "*/5 * * * *"
MINUTE = timedelta(minutes=1)


def _statuses(runner: Runner, schedule: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (iso(r["scheduled_time"]), r["status"], r["trigger"])
        for r in runs_by_time(runner.queries, schedule["id"])
    ]


def _pause(queries: AllQueries, schedule: dict[str, Any]) -> None:
    queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})


class _PausedAfterTheClaim(RunQueries):
    """The user pauses the schedule right after the runner claimed its fire."""

    def __init__(self, queries: AllQueries, schedule: dict[str, Any]) -> None:
        super().__init__(queries.db)
        self._queries = queries
        self._schedule = schedule

    def claim_run_slot(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        claim = super().claim_run_slot(*args, **kwargs)
        _pause(self._queries, self._schedule)
        return claim


class _PausedBeforeTheRecord(FireCheckQueries):
    """The user pauses the schedule after the missed-fire check decided, before it writes."""

    def __init__(self, queries: AllQueries, schedule: dict[str, Any]) -> None:
        super().__init__(queries.db)
        self._queries = queries
        self._schedule = schedule

    def record_missed(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        _pause(self._queries, self._schedule)
        return super().record_missed(*args, **kwargs)


# --- issue #23 item 3: no waiting row is ever created for a paused schedule


def test_a_fire_paused_between_its_claim_and_a_busy_lease_is_skipped_not_left_waiting(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a buffer_one schedule whose workflow is busy
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron=EVERY_FIVE, overlap_policy="buffer_one"
    )
    lease = runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")

    # When a fire is claimed, the schedule is paused, and then the fire finds the lease held
    report = run_fire(
        RunnerEvent.model_validate(event_for(schedule, SEVEN)),
        remaining_time_s=60,
        queries=RunnerQueries(_PausedAfterTheClaim(runner.queries, schedule), runner.queries.queue),
        lock=runner.lock,
        now=runner.clock,
        hand_on=lambda _: None,
    )

    # Then the fire does not wait: it is skipped, as the pause skips waiting runs
    assert report.outcome == "skipped"
    assert _statuses(runner, schedule) == [(iso(SEVEN), "skipped", "schedule")]

    # and days later, resumed, nothing stale runs
    runner.lock.release(lease)
    runner.queries.schedules.update_schedule(schedule["id"], None, {"enabled": True})
    chain = HandOns(runner)
    check_missed_fires(
        runner.queries.missed_fires,
        hand_on=chain.pending.append,
        now=lambda: SEVEN + timedelta(days=3),
    )
    assert chain.drain() == []
    assert http_server.requests == []


def test_catch_up_decided_before_a_pause_writes_no_waiting_run(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a catchupPolicy all schedule whose fire times since 06:50 never ran
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron=EVERY_FIVE, catchup_policy="all"
    )
    checking_since(runner.queries, schedule["id"], SEVEN - timedelta(minutes=10, seconds=30))
    handed_on: list[dict[str, Any]] = []

    # When the check decides to catch them up, and the schedule is paused before it writes
    check_missed_fires(
        MissedFireQueries(_PausedBeforeTheRecord(runner.queries, schedule), runner.queries.queue),
        hand_on=handed_on.append,
        now=lambda: SEVEN + 6 * MINUTE,
    )

    # Then no run waits (nor is handed on) for the paused schedule
    assert [s for _, s, _ in _statuses(runner, schedule)].count("buffered") == 0
    assert handed_on == []


def test_a_backfill_of_a_paused_schedule_queues_nothing(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron=EVERY_FIVE)
    _pause(runner.queries, schedule)  # after the API's enabled check: a pause in between

    queued = runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        [SEVEN - 10 * MINUTE, SEVEN - 5 * MINUTE],
        trigger="backfill",
        now=SEVEN,
        wait_until=SEVEN + QUEUED_PATIENCE,
    )

    assert queued == 0
    assert _statuses(runner, schedule) == []


# --- a late EventBridge delivery of a queued slot keeps the queue's order


def test_a_late_delivery_of_a_queued_catch_up_slot_does_not_run_it_out_of_order(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given two catch-up runs waiting (catchupPolicy all), the older one to run first
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron=EVERY_FIVE, catchup_policy="all"
    )
    checking_since(runner.queries, schedule["id"], SEVEN - timedelta(minutes=5, seconds=30))
    chain = HandOns(runner)
    check_missed_fires(
        runner.queries.missed_fires, hand_on=chain.pending.append, now=lambda: SEVEN + 6 * MINUTE
    )
    assert _statuses(runner, schedule) == [
        (iso(SEVEN - 5 * MINUTE), "buffered", "catchup"),
        (iso(SEVEN), "buffered", "catchup"),
    ]
    assert chain.pending == [event_for(schedule, SEVEN - 5 * MINUTE, "catchup")]

    # When EventBridge delivers the newer slot late, before the older one's hand-on ran
    late = chain.run(event_for(schedule, SEVEN))

    # Then it does not run (the queue runs it in its turn), and the order holds
    assert late.outcome in ("duplicate", "ignored")
    assert http_server.requests == []
    done = chain.drain()
    assert [(t, r.outcome) for t, r in done] == [
        (iso(SEVEN - 5 * MINUTE), "succeeded"),
        (iso(SEVEN), "succeeded"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(SEVEN - 5 * MINUTE),
        iso(SEVEN),
    ]


# --- Lambda's retry of a queued run's invocation resumes its claim


class _LockDownOnce(LeaseLock):
    """DynamoDB refuses every acquire of the first attempt (its retries run out)."""

    down = True

    def acquire(self, workflow_id: Any, lease_s: float, owner: str | None = None) -> Lease:
        if self.down:
            raise LockUnavailable("injected: DynamoDB throttled")
        return super().acquire(workflow_id, lease_s, owner)


def test_a_retry_of_a_backfill_invocation_that_claimed_its_row_resumes_it(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, short_retry_budget: None
) -> None:
    # Given a backfill run waiting, handed on
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron=EVERY_FIVE)
    backfilled = SEVEN - timedelta(hours=1)
    runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        [backfilled],
        trigger="backfill",
        now=runner.clock(),
        wait_until=runner.clock() + QUEUED_PATIENCE,
    )
    lock = _LockDownOnce(dynamodb, table=LOCKS_TABLE, clock=runner.clock)
    handed_on: list[dict[str, Any]] = []

    def attempt() -> Any:  # Lambda's retries of one invocation share its request id
        return run_fire(
            RunnerEvent.model_validate(event_for(schedule, backfilled, "backfill")),
            remaining_time_s=60,
            invocation_id="the backfill's invocation",
            queries=runner.queries.runner,
            lock=lock,
            now=runner.clock,
            hand_on=handed_on.append,
        )

    # When its invocation claims the row and cannot take the lease (Lambda will retry it)
    with pytest.raises(LockUnavailable):
        attempt()
    # and meanwhile a catch-up run is queued (catch-up goes before backfill)
    caught_up = SEVEN - 5 * MINUTE
    runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        [caught_up],
        trigger="catchup",
        now=runner.clock(),
        wait_until=runner.clock() + QUEUED_PATIENCE,
    )
    runner.clock.advance(60)  # Lambda retries a minute later; DynamoDB is back
    lock.down = False
    report = attempt()

    # Then the retry resumes its own claim and runs it, and the catch-up run follows
    assert report.outcome == "succeeded"
    assert handed_on == [event_for(schedule, caught_up, "catchup")]
    assert HandOns(runner, handed_on).drain()[0][1].outcome == "succeeded"
    assert _statuses(runner, schedule) == [
        (iso(backfilled), "succeeded", "backfill"),
        (iso(caught_up), "succeeded", "catchup"),
    ]
