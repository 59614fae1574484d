"""E2E: the stack stops for three minutes and starts again; the missed-fire check records the
minutes it was down as each schedule's catchupPolicy says (issue #15's stop-and-restart)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.clock import ManualClock
from devstack.stack import Stack
from tests.e2e.conftest import (
    WAIT_S,
    Api,
    advance_to_next_minute,
    iso,
    manual_clock_start,
    parse_time,
    start_stack,
    sync_engine,
)

POLICIES = ("skip", "latest", "all")


@pytest.fixture(autouse=True)
def no_schedules_left() -> None:
    """This module runs stacks of its own: the shared one's cleanup does not apply."""
    return None


def _workflow(stack: Stack, name: str) -> Any:
    from scheduler.store.db import Database
    from scheduler.store.workflows import WorkflowQueries

    database = Database(stack.database_url)
    try:
        step = {"type": "http", "method": "POST", "url": f"{stack.api_url}/demo/hook"}
        return WorkflowQueries(database).create_workflow(
            stack.users[0].sub, name, {"steps": [step]}
        )["id"]
    finally:
        database.close()


def _runs(api: Api, schedule_id: str) -> list[tuple[datetime, str, str]]:
    """(slot, status, trigger) of every run, oldest slot first."""
    return sorted(
        (parse_time(r["scheduledTime"]), r["status"], r["trigger"]) for r in api.runs(schedule_id)
    )


def test_minutes_the_stack_was_down_are_recorded_missed_or_caught_up(data_dir: Path) -> None:
    clock = ManualClock(manual_clock_start())
    first = start_stack(data_dir, clock)
    try:
        # Given three every-minute schedules, one per catch-up policy, that ran once
        user = first.users[0]
        api = Api(first.api_url, user.token)
        schedules = {
            policy: api.create_schedule(
                _workflow(first, f"e2e catch-up {policy}"), "* * * * *", catchupPolicy=policy
            )
            for policy in POLICIES
        }
        assert [s["catchupPolicy"] for s in schedules.values()] == list(POLICIES)
        sync_engine(first)
        before = advance_to_next_minute(first)
    finally:
        first.stop()

    # When the stack is down for three minutes (three fire times pass unseen)
    clock.advance(180)
    down = [before + timedelta(minutes=n) for n in (1, 2, 3)]
    # and starts again with its missed-fire check (at start-up, then every minute)
    # (on its port: the workflows' steps call it)
    port = int(first.api_url.rsplit(":", 1)[1])
    second = start_stack(data_dir, clock, port=port, missed_check_interval_s=60)
    try:
        api = Api(second.api_url, second.users[0].token)
        # Then its start-up check finds those minutes at once (the local engine never delivers
        # a fire time from before it started, so they need no grace), and hands on catch-up
        assert second.missed_fires is not None
        assert second.missed_fires.wait_for_passes(1, WAIT_S)
        assert second.lambdas is not None
        second.lambdas.wait_in_flight(0, WAIT_S)
        # (the catch-up runs are done before the next minute fires: a live fire that found one
        # of them running would be skipped, as overlapPolicy skip says)
        sync_engine(second)
        live = [advance_to_next_minute(second) for _ in range(2)]
        assert second.missed_fires.wait_for_passes(2, WAIT_S)  # and the loop ticks on

        # Then skip: a `missed` row per minute of the downtime, nothing run for them
        live_runs = [(t, "succeeded", "schedule") for t in [before, *live]]
        assert _runs(api, schedules["skip"]["id"]) == sorted(
            live_runs + [(t, "missed", "schedule") for t in down]
        )
        # latest: only the last of them ran, as a catch-up run
        assert _runs(api, schedules["latest"]["id"]) == sorted(
            [
                *live_runs,
                (down[0], "missed", "schedule"),
                (down[1], "missed", "schedule"),
                (down[2], "succeeded", "catchup"),
            ]
        )
        # all: every one of them ran, oldest first, one at a time
        caught_up = [r for r in api.runs(schedules["all"]["id"]) if r["trigger"] == "catchup"]
        assert _runs(api, schedules["all"]["id"]) == sorted(
            live_runs + [(t, "succeeded", "catchup") for t in down]
        )
        caught_up.sort(key=lambda r: r["startedAt"])
        assert [parse_time(r["scheduledTime"]) for r in caught_up] == down
        for earlier, later in itertools.pairwise(caught_up):
            assert parse_time(earlier["finishedAt"]) <= parse_time(later["startedAt"])
        # and each missed minute was alerted once (Run Missed, in the stack's log)
        assert second.alert_log is not None
        for schedule in schedules.values():
            lines = second.alert_log.wait_for_lines(
                f"Run Missed: schedule {schedule['id']}", len(down), WAIT_S
            )
            slots = sorted(line.split(", slot ")[1][:20] for line in lines)
            assert slots == [iso(t) for t in down], second.alert_log.lines
        # and a second look changes nothing (the check is idempotent)
        again = second.check_missed_fires()
        assert again["missed_fires"] == again["catchup_queued"] == 0
    finally:
        second.stop()
