"""The missed-fire check's rescue of waiting runs whose hand-on was lost (issue #23 item 8):
it hands on the queues that stopped, longest overdue first, and leaves those that are moving
(a run of the workflow holds a live claim, or one started within QUEUE_MOVING_WITHIN) to the
runner that is moving them. Real Postgres, the runner with the real lock on moto DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.policies.missed_fires import check_missed_fires
from scheduler.store.queue import QUEUE_MOVING_WITHIN

from tests.integration.policy_fixtures import HandOns, event_for, make_policy_schedule
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

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


def _backfill_queue(
    runner: Runner, steps: list[dict[str, Any]], slots: list[datetime], wait_until: datetime
) -> dict[str, Any]:
    """A schedule of its own workflow with these fire times queued for backfill, each one's
    hand-on overdue from `wait_until`."""
    schedule = make_policy_schedule(runner.queries, steps, cron="0 0 1 1 *")
    queued = runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        slots,
        trigger="backfill",
        now=wait_until - timedelta(minutes=10),
        wait_until=wait_until,
    )
    assert queued == len(slots)
    return schedule


def _rescued(runner: Runner, at: datetime, limit: int = 10) -> set[tuple[Any, datetime]]:
    return {
        (row["workflow_id"], row["scheduled_time"])
        for row in runner.queries.queue.stalled_buffered_runs(at, limit)
    }


def test_the_rescue_takes_stopped_queues_longest_overdue_first_and_leaves_moving_ones(
    runner: Runner, http_server: LoopbackServer
) -> None:
    steps = http_steps(http_server)
    slots = [_at(5, 0), _at(5, 10), _at(5, 20)]
    # Given two long backfills that are moving, all their waiting runs overdue since 06:10:
    # one just ran its first fire time (its runner's hand-on of the next is on its way) ...
    just_ran = _backfill_queue(runner, steps, slots, _at(6, 10))
    runner.clock.current = _at(6, 58)
    chain = HandOns(runner)
    assert chain.run(event_for(just_ran, _at(5, 0), "backfill")).outcome == "succeeded"
    assert chain.pending == [event_for(just_ran, _at(5, 10), "backfill")]
    # ... and one whose first fire time a runner has claimed and holds until 07:05
    running = _backfill_queue(runner, steps, slots, _at(6, 10))
    runner.queries.runs.claim_run_slot(
        running["id"],
        running["workflow_id"],
        _at(5, 0),
        trigger="backfill",
        attempt=1,
        claim_token="in-flight",
        started_at=_at(6, 59),
        lease_expires_at=_at(7, 5),
    )
    # and two queues whose hand-on was lost, one overdue since 06:20, one since 06:15
    stopped = _backfill_queue(runner, steps, slots[:2], _at(6, 20))
    stopped_longer = _backfill_queue(runner, steps, slots[:1], _at(6, 15))

    # Then only the stopped queues are rescued, the one overdue longer first
    assert _rescued(runner, NOW) == {
        (stopped["workflow_id"], _at(5, 0)),
        (stopped_longer["workflow_id"], _at(5, 0)),
    }
    assert _rescued(runner, NOW, limit=1) == {(stopped_longer["workflow_id"], _at(5, 0))}
    # and the check's pass hands on those two only
    handed_on: list[dict[str, Any]] = []
    summary = check_missed_fires(
        runner.queries.missed_fires, hand_on=handed_on.append, now=lambda: NOW
    )
    assert summary.handed_on == 2
    assert sorted(handed_on, key=lambda e: e["workflowId"]) == sorted(
        [
            event_for(stopped, _at(5, 0), "backfill"),
            event_for(stopped_longer, _at(5, 0), "backfill"),
        ],
        key=lambda e: e["workflowId"],
    )

    # When the claim's lease has run out (its invocation died), that queue has stopped too
    assert _rescued(runner, _at(7, 6)) == {
        (running["workflow_id"], _at(5, 10)),
        (stopped["workflow_id"], _at(5, 0)),
        (stopped_longer["workflow_id"], _at(5, 0)),
    }
    # and once the last run started longer ago than a run takes, so has the other
    quiet = _at(6, 58) + QUEUE_MOVING_WITHIN + timedelta(seconds=1)
    assert (just_ran["workflow_id"], _at(5, 10)) in _rescued(runner, quiet)
