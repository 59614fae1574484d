"""The list's lastRunStatus filter: the outcome of each schedule's newest finished run, as the
runner's own statements record it on the schedule (store/run_outcome.py, store/runs.py): out of
order records, a skipped run, a run failed by the abandoned-run sweep, and a 422 for a status
that is not one.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_schedule_search import _ids, _list
from tests.queries import AllQueries, process_queries


@pytest.fixture(autouse=True)
def _eventbridge(eventbridge: EventBridgeSchedules) -> None:
    """Every test here writes schedules, whose EventBridge group must exist."""


def _record(
    queries: AllQueries,
    schedule: dict[str, Any],
    at: datetime,
    status: str,
    fence: int,
) -> None:
    """What the runner does in SQL for one fire: claim the slot, start, record its outcome
    (or, for `skipped`, record it skipped without starting)."""
    schedule_id, workflow_id = uuid.UUID(schedule["id"]), uuid.UUID(schedule["workflowId"])
    lease = at + timedelta(minutes=5)
    claim = queries.runs.claim_run_slot(
        schedule_id,
        workflow_id,
        at,
        trigger="manual",
        attempt=1,
        claim_token=f"runner-{fence}",
        started_at=at,
        lease_expires_at=lease,
    )
    run_id = claim["run_id"]
    assert run_id is not None
    if status == "skipped":
        queries.runs.record_skipped_run(run_id, now=at, reason="busy")
        return
    started = queries.runs.start_run(
        run_id,
        workflow_id,
        claim_token=f"runner-{fence}",
        fence=fence,
        lease_expires_at=lease,
        now=at,
        fenced_error="fenced",
    )
    assert started["started"], started
    written = queries.runs.record_run_outcome(
        run_id,
        schedule_id=schedule_id,
        workflow_id=workflow_id,
        fence=fence,
        status=status,
        error=None if status == "succeeded" else "HTTP 500",
        output={},
        started_at=at,
        finished_at=at,
    )
    assert written.result == "recorded"


def test_last_run_status_filters_by_the_newest_slot_even_when_recorded_out_of_order(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given three schedules: one whose newest slot (09:00) failed but whose older slot (08:00)
    # succeeded and was recorded after it; one whose newer slot succeeded after an older
    # failure; one whose newest run was skipped; and one that never ran
    queries = process_queries()
    nine, eight = datetime(2026, 1, 2, 9, tzinfo=UTC), datetime(2026, 1, 2, 8, tzinfo=UTC)
    late = _create(api, workflows["alice"])
    _record(queries, late, nine, "failed", fence=1)
    _record(queries, late, eight, "succeeded", fence=2)
    recovered = _create(api, workflows["alice2"])
    _record(queries, recovered, eight, "failed", fence=1)
    _record(queries, recovered, nine, "succeeded", fence=2)
    skipped = _create(api, workflows["alice2"])
    _record(queries, skipped, eight, "failed", fence=3)
    _record(queries, skipped, nine, "skipped", fence=4)
    _create(api, workflows["alice"])

    # Then lastRunStatus matches the newest slot's outcome, as the list's lastRun shows it
    assert _ids(api, [("lastRunStatus", "failed")]) == [late["id"]]
    assert _ids(api, [("lastRunStatus", "succeeded")]) == [recovered["id"]]
    assert _ids(api, [("lastRunStatus", "skipped")]) == [skipped["id"]]
    page = _list(api, [("lastRunStatus", "failed")])[1]
    assert page["items"][0]["lastRun"]["status"] == "failed"
    # and combines with the other filters
    assert (
        _ids(api, [("lastRunStatus", "succeeded"), ("workflowId", str(workflows["alice"]))]) == []
    )


def test_a_run_failed_by_the_abandoned_run_sweep_counts_as_the_last_run_failed(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a schedule whose last recorded run succeeded, then a run started whose runner died
    queries = process_queries()
    eight, nine = datetime(2026, 1, 2, 8, tzinfo=UTC), datetime(2026, 1, 2, 9, tzinfo=UTC)
    schedule = _create(api, workflows["alice"])
    _record(queries, schedule, eight, "succeeded", fence=1)
    schedule_id, workflow_id = uuid.UUID(schedule["id"]), uuid.UUID(schedule["workflowId"])
    claim = queries.runs.claim_run_slot(
        schedule_id,
        workflow_id,
        nine,
        trigger="manual",
        attempt=1,
        claim_token="died",
        started_at=nine,
        lease_expires_at=nine + timedelta(minutes=5),
    )
    started = queries.runs.start_run(
        claim["run_id"],
        workflow_id,
        claim_token="died",
        fence=2,
        lease_expires_at=nine + timedelta(minutes=5),
        now=nine,
        fenced_error="fenced",
    )
    assert started["started"]
    assert _ids(api, [("lastRunStatus", "succeeded")]) == [schedule["id"]]

    # When the sweep fails it once its lease expired
    assert len(queries.runs.fail_abandoned_runs(nine + timedelta(minutes=10))) == 1

    # Then the schedule's last run status is failed
    assert _ids(api, [("lastRunStatus", "failed")]) == [schedule["id"]]
    assert _ids(api, [("lastRunStatus", "succeeded")]) == []


def test_an_unknown_last_run_status_is_a_422(api: Api) -> None:
    status, body = _list(api, [("lastRunStatus", "exploded")])
    assert status == 422, body
    assert "lastRunStatus" in str(body), body
