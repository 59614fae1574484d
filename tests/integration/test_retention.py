"""Run history retention against real Postgres (behind PgBouncer): what goes, what always stays,
and that a pass is bounded: in rows per statement, in time, and never waiting on a row lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from pydantic import ValidationError
from scheduler.config import from_environment
from scheduler.policies.retention import STOP_BEFORE_DEADLINE_S, delete_expired_runs, pass_budget_s
from scheduler.store.history import HistoryPosition

from tests.conftest import EVENTS
from tests.queries import AllQueries

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
KEEP_DAYS = 90
OLDEST = HistoryPosition(datetime(1, 1, 1, tzinfo=UTC), UUID(int=0))


def make_schedule(queries: AllQueries) -> tuple[UUID, UUID]:
    workflow = queries.workflows.create_workflow(uuid4(), "history")["id"]
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 * * * *", timezone="UTC", enabled=True
    )["id"]
    return schedule, workflow


def add_run(
    queries: AllQueries, schedule: tuple[UUID, UUID], days_ago: float, status: str = "succeeded"
) -> UUID:
    at = NOW - timedelta(days=days_ago)
    row = queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           values (%s, %s, %s, %s, %s, case when %s = 'running' then null else %s end)
           returning id""",
        (*schedule, at, status, at, status, at),
    ).fetchone()
    assert row is not None
    run_id: UUID = row["id"]
    return run_id


def run_ids(queries: AllQueries) -> set[UUID]:
    return {row["id"] for row in queries.db.execute("select id from schedule_runs").fetchall()}


def retain(queries: AllQueries, **kwargs: Any) -> dict[str, Any]:
    return delete_expired_runs(
        queries.history, keep_days=KEEP_DAYS, now=NOW, **{"budget_s": 60.0, **kwargs}
    )


def test_old_runs_go_and_each_schedules_latest_stays_however_old(queries: AllQueries) -> None:
    # Given a schedule with old and recent runs, and one whose runs are all old
    active, idle = make_schedule(queries), make_schedule(queries)
    for days in (200, 120, 91):
        add_run(queries, active, days)
    recent = [add_run(queries, active, days) for days in (89, 1)]
    add_run(queries, idle, 400)
    idle_latest = add_run(queries, idle, 300)

    # When a pass runs
    summary = retain(queries)

    # Then only the recent runs and the idle schedule's latest are left
    assert run_ids(queries) == {*recent, idle_latest}
    assert (summary["deleted"], summary["scanned"], summary["complete"]) == (4, 5, True)
    # ... and the idle schedule still shows its last run
    _, last_run = queries.schedules.get_schedule_with_last_run(idle[0])
    assert last_run is not None
    assert UUID(last_run["id"]) == idle_latest


def test_a_running_run_stays_and_so_does_the_finished_run_before_it(queries: AllQueries) -> None:
    # Given old runs: one finished, then one still running (its runner may still record it)
    schedule = make_schedule(queries)
    finished = add_run(queries, schedule, 120)
    running = add_run(queries, schedule, 100, status="running")
    # ... and a schedule whose old running run has newer finished runs
    other = make_schedule(queries)
    other_running = add_run(queries, other, 150, status="running")
    other_latest = add_run(queries, other, 5, status="failed")

    summary = retain(queries)

    # Then nothing of them is deleted: a running run never is, and the latest finished run of
    # the first schedule has no newer finished one
    assert run_ids(queries) == {finished, running, other_running, other_latest}
    assert summary["deleted"] == 0


def test_batches_are_bounded_and_a_pass_takes_as_many_as_it_needs(queries: AllQueries) -> None:
    # Given 10 expired runs and a recent latest one
    schedule = make_schedule(queries)
    expired = [add_run(queries, schedule, 100 + day) for day in range(10)]
    latest = add_run(queries, schedule, 1)

    # One statement deletes at most its batch, oldest first
    batch = queries.history.delete_expired_run_batch(
        cutoff=NOW - timedelta(days=KEEP_DAYS), after=OLDEST, batch_size=3
    )
    assert (batch.scanned, batch.deleted) == (3, 3)
    assert run_ids(queries) == {*expired[:-3], latest}  # `expired` is newest first
    # ... so 3 older ones again make 10 expired
    add_back = [add_run(queries, schedule, 110 + day) for day in range(3)]

    # When a pass runs with batches of 3
    summary = retain(queries, batch_size=3)

    # Then 4 statements (3 + 3 + 3 + 1) deleted all 10 and kept the latest
    assert summary == {"deleted": 10, "scanned": 10, "batches": 4, "complete": True}
    assert run_ids(queries) == {latest}
    assert not set(add_back) & run_ids(queries)


class StepClock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_a_pass_stops_at_its_budget_and_the_next_one_continues(queries: AllQueries) -> None:
    # Given 10 expired runs
    schedule = make_schedule(queries)
    for day in range(10):
        add_run(queries, schedule, 100 + day)
    latest = add_run(queries, schedule, 1)

    # When a pass has time for two batches of 3 (the clock moves 1 s per read: the start, then
    # before each batch)
    first = retain(queries, batch_size=3, budget_s=2.5, clock=StepClock())

    # Then it stops there, incomplete, with what it deleted committed
    assert first == {"deleted": 6, "scanned": 6, "batches": 2, "complete": False}
    assert len(run_ids(queries)) == 5

    # And the next pass deletes the rest
    second = retain(queries, batch_size=3)
    assert (second["deleted"], second["complete"]) == (4, True)
    assert run_ids(queries) == {latest}


def test_no_budget_left_means_no_batch() -> None:
    assert pass_budget_s(int(STOP_BEFORE_DEADLINE_S * 1000) - 1) == 0
    assert pass_budget_s(300_000) == 300 - STOP_BEFORE_DEADLINE_S


@pytest.fixture
def runner_connection(clean_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(clean_db, prepare_threshold=None) as conn:
        yield conn


def test_a_row_locked_by_another_transaction_is_skipped_not_waited_for(
    queries: AllQueries, runner_connection: psycopg.Connection[Any]
) -> None:
    # Given expired runs, one of them locked by an open transaction (as a runner or a
    # schedule's delete would hold it)
    schedule = make_schedule(queries)
    expired = [add_run(queries, schedule, 100 + day) for day in range(5)]
    latest = add_run(queries, schedule, 1)
    runner_connection.execute(
        "select 1 from schedule_runs where id = %s for update", (expired[2],)
    ).fetchall()

    # When a pass runs (its lock wait would time out after 2 s and fail it)
    summary = retain(queries, batch_size=2)

    # Then every other expired run is gone, the locked one left for the next pass
    assert run_ids(queries) == {expired[2], latest}
    assert (summary["deleted"], summary["scanned"], summary["complete"]) == (4, 5, True)

    # And once the lock is released, the next pass deletes it
    runner_connection.rollback()
    assert retain(queries)["deleted"] == 1
    assert run_ids(queries) == {latest}


def test_the_handler_keeps_90_days_by_default(
    queries: AllQueries, clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given runs either side of 90 days ago
    monkeypatch.delenv("RUN_HISTORY_DAYS", raising=False)
    schedule = make_schedule(queries)
    now = datetime.now(UTC)
    queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           select %s, %s, t, 'succeeded', t, t
           from unnest(array[%s, %s, %s]::timestamptz[]) t""",
        (*schedule, now - timedelta(days=91), now - timedelta(days=89), now),
    )
    from devstack.apigw import LambdaContext
    from functions.retention.app import lambda_handler

    # When the hourly rule's event arrives
    event = json.loads((EVENTS / "retention.json").read_text())
    summary = lambda_handler(event, LambdaContext(function_name="RetentionFunction", timeout_s=300))

    # Then only the run older than 90 days is gone
    assert (summary["deleted"], summary["complete"]) == (1, True)
    kept = queries.db.execute("select scheduled_time from schedule_runs").fetchall()
    assert sorted(now - row["scheduled_time"] for row in kept) == [
        timedelta(0),
        timedelta(days=89),
    ]


@pytest.mark.parametrize("days", ["0", "1", "-1", "3651", "ninety"])
def test_the_setting_refuses_what_is_not_2_to_3650_days(
    days: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUN_HISTORY_DAYS", days)
    with pytest.raises(ValidationError, match="run_history_days"):
        from_environment()


def test_the_setting_defaults_to_90_days_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RUN_HISTORY_DAYS", raising=False)
    assert from_environment().run_history_days == 90
    monkeypatch.setenv("RUN_HISTORY_DAYS", "7")
    assert from_environment().run_history_days == 7
