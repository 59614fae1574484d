"""E2E: the local stack shows the periodic pass's heartbeats (GET /demo/heartbeat, and a line on
the terminal when a part starts passing, fails, or passes again), as CloudWatch's alarms watch
them in AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from scheduler.errors import DatabaseUnavailable

from devstack.heartbeats import MISSED_FIRE_CHECK, RECONCILE, Heartbeats
from devstack.stack import Stack
from tests.e2e.conftest import Api, clock_of


def test_the_stack_answers_the_last_completed_pass_of_the_check_and_of_reconcile(
    stack: Stack,
) -> None:
    status = Api(stack.api_url, "").request("GET", "/demo/heartbeat")
    assert status.status == 200
    # reconcile ran at start-up (moto forgets the schedules), and completed
    reconcile = status.body[RECONCILE]
    assert reconcile["lastPassAt"] is not None
    assert (reconcile["failing"], reconcile["runs"]) == (False, "at start-up")

    # When the missed-fire check passes (the e2e stack runs it on demand)
    stack.check_missed_fires()

    # Then its last pass is the stack clock's now
    check = Api(stack.api_url, "").request("GET", "/demo/heartbeat").body[MISSED_FIRE_CHECK]
    assert check["lastPassAt"] == clock_of(stack).now().astimezone(UTC).isoformat(
        timespec="seconds"
    )
    assert check["failing"] is False
    # and the state file points to it
    state = json.loads(stack.state_file.read_text())
    assert state["heartbeatStatusUrl"] == f"{stack.api_url}/demo/heartbeat"


def test_a_failed_check_of_the_stack_shows_failing_until_a_pass_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a check whose pass fails (the database refuses it)
    loop = stack.missed_fires
    assert loop is not None

    def refused() -> dict[str, int]:
        raise DatabaseUnavailable("injected: database down")

    monkeypatch.setattr(loop, "_check", refused)
    with pytest.raises(DatabaseUnavailable):
        stack.check_missed_fires()
    check = Api(stack.api_url, "").request("GET", "/demo/heartbeat").body[MISSED_FIRE_CHECK]
    assert check["failing"] is True
    assert check["lastError"] == "DatabaseUnavailable: injected: database down"

    # When the database is back and the next pass completes
    monkeypatch.undo()
    stack.check_missed_fires()
    check = Api(stack.api_url, "").request("GET", "/demo/heartbeat").body[MISSED_FIRE_CHECK]
    assert check["failing"] is False
    assert check["lastPassAt"] is not None


def test_the_terminal_hears_of_a_part_that_fails_and_passes_again_once_each() -> None:
    said: list[str] = []
    heartbeats = Heartbeats(said.append, check_interval_s=60)
    at = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)

    for minute in range(3):  # passes every minute: one line, for the first
        heartbeats.completed(MISSED_FIRE_CHECK, at + timedelta(minutes=minute))
    for minute in range(3, 5):  # fails twice: one line
        heartbeats.failed(MISSED_FIRE_CHECK, at + timedelta(minutes=minute), OSError("db down"))
    failing = heartbeats.as_json()[MISSED_FIRE_CHECK]
    heartbeats.completed(MISSED_FIRE_CHECK, at + timedelta(minutes=5))  # recovers: one line

    assert said == [
        "  heartbeat: missed-fire check completed a pass (2026-12-07T06:00:00+00:00)",
        "  heartbeat: missed-fire check FAILED (2026-12-07T06:03:00+00:00): OSError: db down",
        "  heartbeat: missed-fire check completed a pass again (2026-12-07T06:05:00+00:00)",
    ]
    # while failing, the status says when it last passed and why it fails
    assert failing == {
        "lastPassAt": "2026-12-07T06:02:00+00:00",
        "lastFailureAt": "2026-12-07T06:04:00+00:00",
        "lastError": "OSError: db down",
        "failing": True,
        "runs": "every 60 s",
    }
    assert heartbeats.as_json()[MISSED_FIRE_CHECK]["failing"] is False
    assert heartbeats.as_json()[RECONCILE]["lastPassAt"] is None  # not run yet
