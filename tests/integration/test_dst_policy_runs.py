"""A DST policy on the run path (real Postgres, moto DynamoDB): which deliveries the runner
claims under which slot, and what the missed-fire check and catch-up do across a change, under
each policy. Berlin: 02:30 occurs twice on 2026-10-25 (00:30Z CEST, 01:30Z CET); 02:00-03:00
does not exist on 2026-03-29 (03:00 CEST = 01:00Z is the first instant after it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler import cron
from scheduler.policies.missed_fires import check_missed_fires

from tests.integration.policy_fixtures import (
    HandOns,
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

BERLIN = "Europe/Berlin"
FIRST = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
SECOND = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
AFTER_GAP = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
GRACE = timedelta(seconds=300)


def _policy(spring: str = "skip", fall: str = "first") -> dict[str, str]:
    return {"spring_forward": spring, "fall_back": fall}


def _schedule(
    runner: Runner, http_server: LoopbackServer, policy: dict[str, str], **fields: Any
) -> dict[str, Any]:
    fields.setdefault("cron", "30 2 * * *")
    return make_policy_schedule(
        runner.queries, http_steps(http_server), timezone=BERLIN, dst_policy=policy, **fields
    )


def _deliver(runner: Runner, schedule: dict[str, Any], at: datetime) -> str:
    runner.clock.current = at
    return HandOns(runner).run(event_for(schedule, at)).outcome


def _runs(queries: AllQueries, schedule: dict[str, Any]) -> list[tuple[datetime, str, str]]:
    return [
        (r["scheduled_time"], r["status"], r["trigger"])
        for r in runs_by_time(queries, schedule["id"])
    ]


# --- the runner's slots


@pytest.mark.parametrize(
    ("fall", "outcomes", "slots"),
    [
        # first: either instant is the first's slot: one run, a duplicate
        ("first", ["succeeded", "duplicate", "duplicate"], [FIRST]),
        # last: the first instant stands for no slot (a no-op), the second runs, then dedupes
        ("last", ["ignored", "succeeded", "duplicate"], [SECOND]),
        # both: each instant its own slot, each run once
        ("both", ["succeeded", "succeeded", "duplicate"], [FIRST, SECOND]),
    ],
)
def test_deliveries_of_a_repeated_time_per_policy(
    runner: Runner,
    http_server: LoopbackServer,
    fall: str,
    outcomes: list[str],
    slots: list[datetime],
) -> None:
    # Given 02:30 in Berlin under the policy
    schedule = _schedule(runner, http_server, _policy("skip", fall))
    # When EventBridge delivers at the first instant (the cron), the second (the at()), and the
    # second again (a duplicate delivery)
    got = [_deliver(runner, schedule, at) for at in (FIRST, SECOND, SECOND)]
    # Then the runs are the policy's fire times, each once
    assert got == outcomes
    assert _runs(runner.queries, schedule) == [(s, "succeeded", "schedule") for s in slots]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(s) for s in slots]
    assert slots == cron.policy_fire_times(
        "30 2 * * *",
        BERLIN,
        FIRST - timedelta(hours=1),
        len(slots),
        until=SECOND,
        policy=cron.DstPolicy("skip", fall),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("spring", ["skip", "shift"])
def test_a_delivery_after_the_gap_per_policy(
    runner: Runner, http_server: LoopbackServer, spring: str
) -> None:
    # Given 02:30 in Berlin, a time 2026-03-29 does not have
    schedule = _schedule(runner, http_server, _policy(spring))
    # When the at() of a shifted time delivers the first instant after the gap, twice
    got = [_deliver(runner, schedule, AFTER_GAP) for _ in range(2)]
    # Then shift runs it once under that slot; skip has no such fire time (stale)
    if spring == "shift":
        assert got == ["succeeded", "duplicate"]
        assert _runs(runner.queries, schedule) == [(AFTER_GAP, "succeeded", "schedule")]
    else:
        assert got == ["ignored", "ignored"]
        assert _runs(runner.queries, schedule) == []


def test_shifted_gap_times_and_the_crons_own_fire_after_the_gap_run_once(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given every 30 minutes under shift: 02:00 and 02:30 shift to 03:00, which it names too
    schedule = _schedule(runner, http_server, _policy("shift"), cron="*/30 * * * *")
    # When the cron delivers 03:00 and the at() would deliver it too
    got = [_deliver(runner, schedule, AFTER_GAP) for _ in range(2)]
    # Then one run
    assert got == ["succeeded", "duplicate"]
    assert _runs(runner.queries, schedule) == [(AFTER_GAP, "succeeded", "schedule")]


# --- the missed-fire check and catch-up across a change (an outage: nothing was delivered)


def _check(queries: AllQueries, at: datetime, hand_ons: list[dict[str, Any]]) -> Any:
    return check_missed_fires(queries.missed_fires, hand_on=hand_ons.append, now=lambda: at)


@pytest.mark.parametrize(
    ("spring", "fall", "since", "until", "expected"),
    [
        ("skip", "first", FIRST - timedelta(hours=12), SECOND + timedelta(hours=2), [FIRST]),
        ("skip", "last", FIRST - timedelta(hours=12), SECOND + timedelta(hours=2), [SECOND]),
        ("skip", "both", FIRST - timedelta(hours=12), SECOND + timedelta(hours=2), [FIRST, SECOND]),
        ("skip", "first", AFTER_GAP - timedelta(hours=12), AFTER_GAP + timedelta(hours=2), []),
        (
            "shift",
            "first",
            AFTER_GAP - timedelta(hours=12),
            AFTER_GAP + timedelta(hours=2),
            [AFTER_GAP],
        ),
    ],
)
def test_an_outage_across_a_change_is_caught_up_as_the_policy_says(
    runner: Runner,
    http_server: LoopbackServer,
    spring: str,
    fall: str,
    since: datetime,
    until: datetime,
    expected: list[datetime],
) -> None:
    # Given 02:30 in Berlin under catchupPolicy all, checked from before the change, and no
    # delivery at all across it
    queries = runner.queries
    schedule = _schedule(
        runner,
        http_server,
        _policy(spring, fall),
        catchup_policy="all",
        catchup_window_seconds=6 * 3600,
    )
    checking_since(queries, schedule["id"], since)
    chain = HandOns(runner)
    # When the check passes after the change, and its catch-up runs run
    _check(queries, until, chain.pending)
    runner.clock.current = until
    done = chain.drain()
    # Then the slots it found are the policy's fire times, and each ran once, oldest first
    policy = cron.DstPolicy(spring, fall)  # type: ignore[arg-type]
    assert expected == cron.policy_fire_times(
        "30 2 * * *", BERLIN, since, 10, until=until - GRACE, policy=policy
    )
    assert [(t, r.outcome) for t, r in done] == [(iso(t), "succeeded") for t in expected]
    assert _runs(queries, schedule) == [(t, "succeeded", "catchup") for t in expected]
    # And a second pass finds nothing more
    again: list[dict[str, Any]] = []
    _check(queries, until + timedelta(minutes=1), again)
    assert again == []


@pytest.mark.parametrize(
    ("fall", "found_at", "missed"),
    [
        # first: not due before the second occurrence has passed (it may be delivered then)
        ("first", SECOND + GRACE - timedelta(seconds=1), []),
        ("first", SECOND + GRACE + timedelta(seconds=1), [FIRST]),
        # last: due only after its own instant, the second
        ("last", SECOND + GRACE - timedelta(seconds=1), []),
        ("last", SECOND + GRACE + timedelta(seconds=1), [SECOND]),
        # both: the first is due after the first instant, without waiting for the second
        ("both", FIRST + GRACE + timedelta(seconds=1), [FIRST]),
        ("both", SECOND + GRACE + timedelta(seconds=1), [FIRST, SECOND]),
    ],
)
def test_a_repeated_time_is_missed_when_the_policy_says_it_is_due(
    runner: Runner,
    http_server: LoopbackServer,
    fall: str,
    found_at: datetime,
    missed: list[datetime],
) -> None:
    queries = runner.queries
    schedule = _schedule(runner, http_server, _policy("skip", fall))
    checking_since(queries, schedule["id"], FIRST - timedelta(hours=12))
    _check(queries, found_at, [])
    assert _runs(queries, schedule) == [(t, "missed", "schedule") for t in missed]


def test_under_both_a_first_instant_that_ran_leaves_only_the_second_missed(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = _schedule(runner, http_server, _policy("skip", "both"))
    checking_since(queries, schedule["id"], FIRST - timedelta(hours=12))
    assert _deliver(runner, schedule, FIRST) == "succeeded"
    _check(queries, SECOND + GRACE + timedelta(minutes=1), [])
    assert _runs(queries, schedule) == [
        (FIRST, "succeeded", "schedule"),
        (SECOND, "missed", "schedule"),
    ]
