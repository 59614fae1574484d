"""Helpers for the run policies' tests (missed fires and catch-up, buffer_one, backfill).

The runner is called as RunnerFunction would be for a hand-on: with the event a waiting run
was handed on with (scheduler.run.queue.runner_event), and a `hand_on` that collects what the
run hands on next, so a test can follow the chain of waiting runs one invocation at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from scheduler.run.event import RunnerEvent
from scheduler.run.runner import RunReport, run_fire

from tests.integration.runner_fixtures import OWNER, REMAINING_S, Runner
from tests.queries import AllQueries


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_for(schedule: dict[str, Any], at: datetime, trigger: str = "schedule") -> dict[str, Any]:
    """What EventBridge (trigger schedule) or a hand-on sends the runner for this slot."""
    return {
        "scheduleId": str(schedule["id"]),
        "workflowId": str(schedule["workflow_id"]),
        "scheduledTime": iso(at),
        "attempt": "1",
        "trigger": trigger,
    }


@dataclass
class HandOns:
    """The runner, with the hand-ons it makes collected instead of invoked."""

    runner: Runner
    pending: list[dict[str, Any]] = field(default_factory=list)

    def run(self, event: dict[str, Any]) -> RunReport:
        """One invocation of the runner with this event; what it hands on joins `pending`."""
        return run_fire(
            RunnerEvent.model_validate(event),
            remaining_time_s=REMAINING_S,
            queries=self.runner.queries.runner,
            lock=self.runner.lock,
            now=self.runner.clock,
            hand_on=self.pending.append,
        )

    def drain(self, limit: int = 50) -> list[tuple[str, RunReport]]:
        """Run each handed-on event, in the order handed on, until none is left; the
        (scheduledTime, report) of each. Every run hands on at most one next run."""
        done: list[tuple[str, RunReport]] = []
        while self.pending:
            assert len(self.pending) == 1, f"more than one run handed on at once: {self.pending}"
            assert len(done) < limit, "the hand-ons never end"
            event = self.pending.pop(0)
            done.append((event["scheduledTime"], self.run(event)))
        return done


def make_policy_schedule(
    queries: AllQueries,
    steps: list[dict[str, Any]],
    *,
    cron: str,
    timezone: str = "UTC",
    **fields: Any,
) -> dict[str, Any]:
    workflow_id = queries.workflows.create_workflow(OWNER, "nightly report", {"steps": steps})["id"]
    return queries.schedules.create_schedule(
        None, workflow_id=workflow_id, cron=cron, timezone=timezone, enabled=True, **fields
    )


def checking_since(queries: AllQueries, schedule_id: UUID, since: datetime) -> None:
    """Make the missed-fire check look at the schedule's fire times after `since`, as if it
    had been created then (the database's now() is real time, the tests' clocks are not)."""
    queries.db.execute(
        """update schedule_fire_checks
           set fires_from = %(since)s, checked_through = %(since)s, next_check_at = %(since)s
           where schedule_id = %(id)s""",
        {"since": since, "id": schedule_id},
    )


def fire_check(queries: AllQueries, schedule_id: UUID) -> dict[str, Any]:
    row = queries.db.execute(
        "select * from schedule_fire_checks where schedule_id = %s", (schedule_id,)
    ).fetchone()
    assert row is not None
    return row


def runs_by_time(queries: AllQueries, schedule_id: UUID) -> list[dict[str, Any]]:
    """Every run row of the schedule, oldest fire time first."""
    return queries.db.execute(
        "select * from schedule_runs where schedule_id = %s order by scheduled_time",
        (schedule_id,),
    ).fetchall()
