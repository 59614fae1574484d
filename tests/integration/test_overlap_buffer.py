"""overlapPolicy through the runner (real Postgres, moto DynamoDB, fake time): skip keeps
today's behaviour; buffer_one keeps one busy fire waiting and runs it when the running run
ends, never beside it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from scheduler.errors import WorkflowBusy
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.event import RunnerEvent
from scheduler.run.overlap import OVERLAP_REASON
from scheduler.run.queue import BUFFERED_ERROR
from scheduler.run.runner import RunReport, run_fire

from tests.integration.policy_fixtures import (
    HandOns,
    checking_since,
    event_for,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    WAIT_S,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    join,
    runner_fixture,
)

FIVE_PAST = SEVEN + timedelta(minutes=5)
SECOND = timedelta(seconds=1)
TEN_PAST = SEVEN + timedelta(minutes=10)


def _schedule(runner: Runner, server: LoopbackServer, policy: str) -> dict[str, Any]:
    return make_policy_schedule(
        runner.queries, http_steps(server), cron="*/5 * * * *", overlap_policy=policy
    )


def _status(runner: Runner, schedule: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (iso(r["scheduled_time"]), r["status"])
        for r in runs_by_time(runner.queries, schedule["id"])
    ]


def test_with_overlap_policy_skip_a_busy_fire_is_skipped(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _schedule(runner, http_server, "skip")
    runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")
    chain = HandOns(runner)

    report = chain.run(event_for(schedule, SEVEN))

    assert (report.outcome, report.reason) == ("skipped", OVERLAP_REASON)
    assert _status(runner, schedule) == [(iso(SEVEN), "skipped")]
    assert chain.pending == []
    assert http_server.requests == []


def test_buffer_one_keeps_one_busy_fire_waiting_and_skips_a_second(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _schedule(runner, http_server, "buffer_one")
    lease = runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")
    chain = HandOns(runner)

    first = chain.run(event_for(schedule, SEVEN))
    second = chain.run(event_for(schedule, FIVE_PAST))

    assert (first.outcome, first.reason) == ("buffered", BUFFERED_ERROR)
    assert (second.outcome, second.reason) == ("skipped", OVERLAP_REASON)
    [buffered, skipped] = runs_by_time(runner.queries, schedule["id"])
    assert (buffered["id"], buffered["status"], buffered["trigger"]) == (
        first.run_id,
        "buffered",
        "schedule",
    )
    assert (buffered["finished_at"], buffered["fence"]) == (None, None)
    assert (skipped["status"], skipped["finished_at"] is not None) == ("skipped", True)
    assert http_server.requests == []

    # the holder is no run that hands on when it ends (it never started one): nothing is
    # handed on while the lease is held, so no invocation goes round while it is
    assert chain.pending == []

    # once it is free, the missed-fire check hands on the run whose wait is over
    runner.lock.release(lease)
    [waiting] = [
        r for r in runs_by_time(runner.queries, schedule["id"]) if r["status"] == "buffered"
    ]
    check_missed_fires(
        runner.queries.missed_fires,
        hand_on=chain.pending.append,
        now=lambda: waiting["lease_expires_at"] + SECOND,
    )
    [(_, report)] = chain.drain()
    assert report.outcome == "succeeded"
    assert _status(runner, schedule) == [(iso(SEVEN), "succeeded"), (iso(FIVE_PAST), "skipped")]
    assert len(http_server.requests) == 1


def test_the_finishing_run_hands_on_the_buffered_fire_which_then_runs_after_it(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _schedule(runner, http_server, "buffer_one")
    http_server.hold, http_server.hold_first = threading.Event(), 1
    chain = HandOns(runner)
    holder_reports: list[RunReport] = []
    holder = threading.Thread(
        target=lambda: holder_reports.append(chain.run(event_for(schedule, SEVEN)))
    )
    holder.start()
    assert http_server.received.wait(WAIT_S)  # the first run is inside its step

    busy = chain.run(event_for(schedule, FIVE_PAST))
    third = chain.run(event_for(schedule, TEN_PAST))

    assert (busy.outcome, third.outcome) == ("buffered", "skipped")
    assert chain.pending == []  # the workflow is running: nothing is handed on yet
    assert len(http_server.requests) == 1
    http_server.hold.set()
    join(holder)
    assert holder_reports[0].outcome == "succeeded"
    assert chain.pending == [event_for(schedule, FIVE_PAST)]  # handed on by the finishing run

    [(_, report)] = chain.drain()

    assert report.outcome == "succeeded"
    assert _status(runner, schedule) == [
        (iso(SEVEN), "succeeded"),
        (iso(FIVE_PAST), "succeeded"),
        (iso(TEN_PAST), "skipped"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(SEVEN),
        iso(FIVE_PAST),
    ]
    workflow = runner.workflow(schedule)
    assert (workflow["status"], workflow["run_count"]) == ("idle", 2)


def test_a_late_delivery_of_a_missed_fire_time_is_a_duplicate(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _schedule(runner, http_server, "buffer_one")
    checking_since(runner.queries, schedule["id"], SEVEN - timedelta(seconds=30))
    check_missed_fires(
        runner.queries.missed_fires,
        hand_on=lambda _: None,
        now=lambda: SEVEN + timedelta(minutes=6),
    )
    assert _status(runner, schedule) == [(iso(SEVEN), "missed")]
    chain = HandOns(runner)

    report = chain.run(event_for(schedule, SEVEN))

    assert report.outcome == "duplicate"
    assert _status(runner, schedule) == [(iso(SEVEN), "missed")]
    assert http_server.requests == []
    assert chain.pending == []


def test_waiting_runs_wait_for_the_running_one_and_run_live_fire_first_then_backfill(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _schedule(runner, http_server, "buffer_one")
    http_server.hold, http_server.hold_first = threading.Event(), 1
    chain = HandOns(runner)
    holder = threading.Thread(target=lambda: chain.run(event_for(schedule, TEN_PAST)))
    holder.start()
    assert http_server.received.wait(WAIT_S)  # the live run is inside its step
    backfill = [SEVEN - timedelta(hours=1), SEVEN - timedelta(minutes=55)]
    runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        backfill,
        trigger="backfill",
        now=runner.clock(),
        wait_until=runner.clock() + timedelta(minutes=10),
    )

    # the backfill's hand-on arrives while the workflow runs: it waits again, handing nothing on
    early = chain.run(event_for(schedule, backfill[0], "backfill"))
    busy = chain.run(event_for(schedule, TEN_PAST + timedelta(minutes=5)))

    assert (early.outcome, busy.outcome) == ("buffered", "buffered")
    assert chain.pending == []
    http_server.hold.set()
    join(holder)

    done = chain.drain()

    assert [(t, r.outcome) for t, r in done] == [
        (iso(TEN_PAST + timedelta(minutes=5)), "succeeded"),  # the live fire first
        (iso(backfill[0]), "succeeded"),
        (iso(backfill[1]), "succeeded"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(TEN_PAST),
        iso(TEN_PAST + timedelta(minutes=5)),
        *[iso(t) for t in backfill],
    ]
    triggers = {
        iso(r["scheduled_time"]): r["trigger"] for r in runs_by_time(runner.queries, schedule["id"])
    }
    assert [triggers[iso(t)] for t in backfill] == ["backfill", "backfill"]
    assert {s for _, s in _status(runner, schedule)} == {"succeeded"}


class _HolderEndsMeanwhile:
    """The workflow's lock as a fire sees it when the holder ends right after the fire's try
    for the lease: busy once, free from then on."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.tries = 0

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        self.tries += 1
        if self.tries == 1:
            raise WorkflowBusy("held by a run that is just ending")
        return self._lock.acquire(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lock, name)


def test_a_buffered_fire_hands_itself_on_only_when_the_lease_is_free(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a buffer_one schedule whose workflow's lease is held by a runner that died holding
    # it (the database says the workflow is idle: that run never marked itself started)
    schedule = _schedule(runner, http_server, "buffer_one")
    runner.lock.acquire(schedule["workflow_id"], 60, owner="a runner that died")
    chain = HandOns(runner)

    # When a fire finds it busy
    report = chain.run(event_for(schedule, SEVEN))

    # Then it waits and hands nothing on: no storm of invocations until the lease expires
    assert report.outcome == "buffered"
    assert chain.pending == []

    # Given instead a holder that ends just after a fire found it busy (so that holder saw
    # nothing waiting, and handed nothing on)
    other = _schedule(runner, http_server, "buffer_one")
    handed_on: list[dict[str, Any]] = []
    lock = _HolderEndsMeanwhile(runner.lock)
    report = run_fire(
        RunnerEvent.model_validate(event_for(other, FIVE_PAST)),
        remaining_time_s=60,
        queries=runner.queries.runner,
        lock=lock,  # type: ignore[arg-type]
        now=runner.clock,
        hand_on=handed_on.append,
    )

    # Then the fire waits, finds the lease free once it waits, and hands itself on
    assert report.outcome == "buffered"
    assert handed_on == [event_for(other, FIVE_PAST)]
    # and that hand-on runs it
    assert HandOns(runner, handed_on).run(handed_on[0]).outcome == "succeeded"
    assert _status(runner, other) == [(iso(FIVE_PAST), "succeeded")]


def test_a_buffered_fire_runs_though_its_schedule_changed_while_it_waited(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a buffer_one fire waiting while its workflow is busy
    schedule = _schedule(runner, http_server, "buffer_one")
    lease = runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")
    chain = HandOns(runner)
    assert chain.run(event_for(schedule, SEVEN)).outcome == "buffered"

    # When its schedule's cron changes and its window ends before that fire time, then the
    # workflow is free and the wait is handed on
    runner.queries.schedules.update_schedule(
        schedule["id"], None, {"cron": "*/7 * * * *", "end_at": SEVEN - timedelta(minutes=1)}
    )
    runner.lock.release(lease)
    report = chain.run(event_for(schedule, SEVEN))

    # Then it runs under the slot it was admitted in, rather than waiting (or vanishing) forever
    assert report.outcome == "succeeded"
    assert _status(runner, schedule) == [(iso(SEVEN), "succeeded")]


def test_a_lost_hand_on_loses_no_waiting_run_and_a_failed_wait_is_retried(
    runner: Runner, http_server: LoopbackServer, monkeypatch: Any
) -> None:
    from scheduler.errors import DatabaseUnavailable, RunnerUnavailable

    schedule = _schedule(runner, http_server, "buffer_one")
    lease = runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")

    # Given the database fails every try to put a busy fire to wait (before its effect)
    real_buffer = runner.queries.queue.buffer_busy_run

    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseUnavailable("injected: database down")

    monkeypatch.setattr(runner.queries.queue, "buffer_busy_run", unavailable)
    chain = HandOns(runner)

    def attempt() -> RunReport:  # Lambda's retries of one invocation share its request id
        return run_fire(
            RunnerEvent.model_validate(event_for(schedule, SEVEN)),
            remaining_time_s=4,  # the retries of a failing write stop within it
            invocation_id="one invocation",
            queries=runner.queries.runner,
            lock=runner.lock,
            now=runner.clock,
            hand_on=chain.pending.append,
        )

    # Then the invocation raises, so Lambda retries it (nothing ran, nothing is lost)
    with pytest.raises(DatabaseUnavailable):
        attempt()
    # and Lambda's retry, the database back, resumes the claim and puts the fire to wait
    monkeypatch.setattr(runner.queries.queue, "buffer_busy_run", real_buffer)
    assert attempt().outcome == "buffered"

    # Given the holder ends, but the hand-on it makes is lost (Lambda's Invoke fails)
    def lost(event: dict[str, Any]) -> None:
        raise RunnerUnavailable("injected: Invoke failed")

    runner.lock.release(lease)
    [waiting] = [
        r for r in runs_by_time(runner.queries, schedule["id"]) if r["status"] == "buffered"
    ]
    from scheduler.run import queue as run_queue

    assert run_queue.hand_on_next(runner.queries.queue, schedule["workflow_id"], lost) is False
    # Then the missed-fire check hands it on once its wait is over, and it runs once
    check_missed_fires(
        runner.queries.missed_fires,
        hand_on=chain.pending.append,
        now=lambda: waiting["lease_expires_at"] + SECOND,
    )
    [(_, report)] = chain.drain()
    assert report.outcome == "succeeded"
    assert _status(runner, schedule) == [(iso(SEVEN), "succeeded")]
    assert len(http_server.requests) == 1
