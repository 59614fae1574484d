"""Retention and the missed-fire check together (issue #23 item 4): the check never looks back
past the run history retention surely keeps, so a fire time that ran and whose row retention
deleted is not taken for one that never ran. Real Postgres; the check and a retention pass as
their functions run them, with RUN_HISTORY_DAYS as the template gives both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.config import get_settings
from scheduler.policies.missed_fires import LOOKBACK, check_missed_fires
from scheduler.policies.retention import delete_expired_runs

from tests.integration.policy_fixtures import checking_since, make_policy_schedule, runs_by_time
from tests.queries import AllQueries

NOW = datetime(2026, 11, 27, 7, 6, tzinfo=UTC)
KEEP_DAYS = 2


@pytest.fixture(name="two_days_of_history")
def two_days_of_history_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RUN_HISTORY_DAYS", str(KEEP_DAYS))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """Every whole hour in (start, end]."""
    first = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [first + timedelta(hours=h) for h in range(int((end - first) / timedelta(hours=1)) + 1)]


def test_a_check_down_longer_than_the_history_kept_does_not_take_deleted_runs_for_missed(
    queries: AllQueries, two_days_of_history: None
) -> None:
    # Given an hourly schedule that catches up every missed fire time of the last week, whose
    # check last ran three days ago, while its runners kept working: every hour since ran
    schedule = make_policy_schedule(
        queries,
        [],
        cron="0 * * * *",
        catchup_policy="all",
        catchup_window_seconds=int(LOOKBACK.total_seconds()),
    )
    check_stopped = NOW - timedelta(days=3)
    checking_since(queries, schedule["id"], check_stopped)
    ran = [t for t in _hours(check_stopped, NOW) if t <= NOW - timedelta(minutes=6)]
    queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           select %s, %s, t, 'succeeded', t, t + interval '1 second'
           from unnest(%s::timestamptz[]) t""",
        (schedule["id"], schedule["workflow_id"], ran),
    )
    # and retention (2 days) deleted the runs of more than two days ago
    deleted = delete_expired_runs(queries.history, keep_days=KEEP_DAYS, budget_s=60.0, now=NOW)
    assert deleted["deleted"] == sum(1 for t in ran if t < NOW - timedelta(days=KEEP_DAYS))
    assert deleted["deleted"] > 0

    # When the check runs again
    handed_on: list[dict[str, Any]] = []
    summary = check_missed_fires(queries.missed_fires, hand_on=handed_on.append, now=lambda: NOW)

    # Then no fire time is recorded missed or run again: each one it looks at has its run
    assert (summary.missed_fires, summary.catchup_queued, summary.handed_on) == (0, 0, 0)
    assert handed_on == []
    statuses = {r["status"] for r in runs_by_time(queries, schedule["id"])}
    assert statuses == {"succeeded"}


def test_every_pass_of_the_check_emits_the_datapoint_the_stopped_check_alarm_watches(
    queries: AllQueries,
) -> None:
    from scheduler.observability import metrics

    metrics.clear_metrics()
    check_missed_fires(
        queries.missed_fires, hand_on=lambda event: None, now=lambda: NOW
    )  # nothing to find
    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["RunMissed"] == [0.0]
