"""A waiting catch-up gets its turn on a workflow its live fires keep busy (buffer_one).

Under buffer_one a workflow whose runs outlast its cron's interval has a live fire waiting
whenever a run ends. With live fires always handed on first, a catch-up queued behind them
never ran (simulation seed 123: a `latest` catch-up waited 32 minutes, until a pause skipped
it). After a live fire's run a waiting catch-up now goes first: they take turns."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from tests.integration.policy_fixtures import (
    HandOns,
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

TEN_PAST = SEVEN + timedelta(minutes=10)


def _busy_with_waiting_runs(
    runner: Runner, server: LoopbackServer, catchups: list[Any]
) -> tuple[dict[str, Any], HandOns, threading.Thread]:
    """A buffer_one schedule whose live run of TEN_PAST is inside its step, with `catchups`
    queued (their hand-ons found it busy) and the next live fire waiting too."""
    schedule = make_policy_schedule(
        runner.queries,
        http_steps(server),
        cron="*/5 * * * *",
        overlap_policy="buffer_one",
        catchup_policy="all",
    )
    server.hold, server.hold_first = threading.Event(), 1
    chain = HandOns(runner)
    holder = threading.Thread(target=lambda: chain.run(event_for(schedule, TEN_PAST)))
    holder.start()
    assert server.received.wait(WAIT_S)  # the live run is inside its step
    runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        catchups,
        trigger="catchup",
        now=runner.clock(),
        wait_until=runner.clock() + timedelta(minutes=10),
    )
    early = chain.run(event_for(schedule, catchups[0], "catchup"))
    live = chain.run(event_for(schedule, TEN_PAST + timedelta(minutes=5)))
    assert (early.outcome, live.outcome) == ("buffered", "buffered")
    assert chain.pending == []
    return schedule, chain, holder


def test_after_a_live_run_a_waiting_catchup_runs_before_the_waiting_live_fire(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a live run, a catch-up and the next live fire waiting behind it
    catchup = SEVEN - timedelta(hours=1)
    schedule, chain, holder = _busy_with_waiting_runs(runner, http_server, [catchup])

    # When the live run ends and the hand-ons run their course
    http_server.hold.set()
    join(holder)
    done = chain.drain()

    # Then the catch-up took its turn first, then the live fire: both ran, once each
    assert [(t, r.outcome) for t, r in done] == [
        (iso(catchup), "succeeded"),
        (iso(TEN_PAST + timedelta(minutes=5)), "succeeded"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(TEN_PAST),
        iso(catchup),
        iso(TEN_PAST + timedelta(minutes=5)),
    ]
    assert {r["status"] for r in runs_by_time(runner.queries, schedule["id"])} == {"succeeded"}


def test_live_fires_and_catchups_take_turns(runner: Runner, http_server: LoopbackServer) -> None:
    # Given two catch-ups (catchupPolicy all) and a live fire waiting behind a live run
    catchups = [SEVEN - timedelta(hours=1), SEVEN - timedelta(minutes=55)]
    _, chain, holder = _busy_with_waiting_runs(runner, http_server, catchups)

    # When the live run ends
    http_server.hold.set()
    join(holder)
    done = chain.drain()

    # Then a catch-up, the live fire (a catch-up's run hands a live fire on first), the next
    # catch-up: live fires keep coming first after a catch-up, and a catch-up after a live one
    assert [t for t, _ in done] == [
        iso(catchups[0]),
        iso(TEN_PAST + timedelta(minutes=5)),
        iso(catchups[1]),
    ]
    assert {r.outcome for _, r in done} == {"succeeded"}
