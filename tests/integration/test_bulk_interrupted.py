"""A bulk pause or resume interrupted half-way, on the real Postgres and moto: EventBridge fails,
or the Lambda dies, after k of n updates. The database change is whole (all rows or none), a
fire of a paused schedule still enabled in EventBridge runs nothing, and a retry (with the same
Idempotency-Key or without), the drain invocation or the reconcile pass finishes the rest; no
schedule stays enabled in EventBridge while paused in the database. A resume whose EventBridge
updates lag is covered by the missed-fire check's catch-up.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import boto3
import pytest
from botocore.exceptions import ClientError
from scheduler.api.bulk_changes import BulkChanges, BulkChangeServiceQueries
from scheduler.api.schedules import ScheduleService
from scheduler.config import get_settings
from scheduler.errors import ReconcileIncomplete
from scheduler.models.bulk_changes import BulkPause, BulkResume
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.observability import metrics
from scheduler.policies.idempotency import IdempotentRequest
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.policies.periodic_pass import drain_invocation, reconcile, run_invocation
from scheduler.store.audit import AuditQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.conftest import EVENTS
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    Crash,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    runner_fixture,
)
from tests.integration.test_reconcile import lambda_context  # noqa: F401  (fixture)
from tests.queries import AllQueries

OWNER = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
N, K = 6, 2  # schedules changed, EventBridge updates that succeed before the failure


@pytest.fixture(autouse=True)
def fast_drain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The drain's rate is a production bound on AWS's quota; moto has none."""
    monkeypatch.setenv("EVENTBRIDGE_DRAIN_RATE", "1000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    metrics.clear_metrics()  # reconcile's, which only a handler flushes


class Scheduler:
    """moto's Scheduler API through a client of its own, whose UpdateSchedule calls can be made
    to fail (or the process to die) after a number of them."""

    def __init__(self) -> None:
        self.client = boto3.client("scheduler", region_name="us-east-1")
        self.client.create_schedule_group(Name=get_settings().schedule_group)
        self.schedules = EventBridgeSchedules(self.client)
        self._hook: Callable[..., None] | None = None

    def fail_updates_after(self, calls: int, error: BaseException | None = None) -> None:
        """UpdateSchedule works `calls` times, then raises (a throttle by default)."""
        made = {"n": 0}

        def hook(**_: Any) -> None:
            made["n"] += 1
            if made["n"] > calls:
                raise error or ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "injected"}},
                    "UpdateSchedule",
                )

        self.heal()
        self._hook = hook
        self.client.meta.events.register("before-call.scheduler.UpdateSchedule", hook)

    def heal(self) -> None:
        if self._hook is not None:
            self.client.meta.events.unregister("before-call.scheduler.UpdateSchedule", self._hook)
            self._hook = None

    def state(self, schedule_id: UUID) -> str:
        described = self.schedules.get(str(schedule_id))
        assert described is not None
        return str(described["State"])


class Incident:
    """N enabled schedules of one workflow, made through the API's use case, and the bulk
    changes under test."""

    def __init__(self, queries: AllQueries, scheduler: Scheduler, **fields: Any) -> None:
        self.queries = queries
        self.scheduler = scheduler
        self.service = ScheduleService(
            queries.schedule_service, scheduler.schedules, lambda _: None
        )
        self.bulk = BulkChanges(BulkChangeServiceQueries.over(queries.db), scheduler.schedules)
        self.workflow_id = queries.workflows.create_workflow(OWNER, "sync")["id"]
        request = {"workflowId": str(self.workflow_id), "cron": "*/5 * * * *", **fields}
        self.ids = sorted(
            self.service.create_schedule(None, ScheduleCreate.model_validate(request)).id
            for _ in range(N)
        )

    def states(self) -> list[str]:
        return [self.scheduler.state(i) for i in self.ids]

    def enabled_rows(self) -> list[bool]:
        return [self.queries.schedules.get_schedule(i)["enabled"] for i in self.ids]

    def pending(self) -> int:
        row = self.queries.db.execute(
            "select count(*) as n from schedule_eventbridge_pending"
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def none_enabled_in_eventbridge_but_paused(self) -> bool:
        return not any(
            not row_enabled and state == "ENABLED"
            for row_enabled, state in zip(self.enabled_rows(), self.states(), strict=True)
        )


def _pause() -> BulkPause:
    return BulkPause.model_validate({"note": "INC-9"})


def _key(operation: str, request: Any) -> IdempotentRequest:
    made = IdempotentRequest.of("user:test", "bulk-1", operation, "/api/schedules/x", request)
    assert made is not None
    return made


@pytest.fixture
def scheduler(aws: None) -> Scheduler:
    return Scheduler()


@pytest.fixture
def incident(queries: AllQueries, scheduler: Scheduler) -> Incident:
    return Incident(queries, scheduler)


def test_eventbridge_failing_after_k_of_n_leaves_the_database_whole_and_a_keyed_retry_finishes(
    incident: Incident, scheduler: Scheduler, runner: Runner
) -> None:
    request = _pause()
    key = _key("bulkPauseSchedules", request)
    scheduler.fail_updates_after(K)

    first = incident.bulk.pause(OWNER, request, key)

    # Then every row is paused, EventBridge has k of them, and the answer says n-k are pending
    assert (first.changed, first.eventbridge_pending) == (N, N - K)
    assert incident.enabled_rows() == [False] * N
    assert sorted(incident.states()) == ["DISABLED"] * K + ["ENABLED"] * (N - K)
    # And a fire EventBridge still delivers for a paused schedule runs nothing
    still_enabled = incident.ids[incident.states().index("ENABLED")]
    row = incident.queries.schedules.get_schedule(still_enabled)
    report = runner.fire(row)
    assert (report.outcome, report.reason) == ("ignored", "schedule disabled")
    assert runner.runs(row) == []

    # When the client retries with the same key once EventBridge works again
    scheduler.heal()
    again = incident.bulk.pause(OWNER, request, key)

    # Then it gets the first answer (nothing changed twice), now with nothing pending
    assert again == first.model_copy(update={"eventbridge_pending": 0})
    assert incident.states() == ["DISABLED"] * N
    assert incident.pending() == 0


def test_a_retry_without_a_key_finishes_the_rest_as_a_no_op_change(
    incident: Incident, scheduler: Scheduler
) -> None:
    scheduler.fail_updates_after(K)
    incident.bulk.pause(OWNER, _pause())

    scheduler.heal()
    again = incident.bulk.pause(OWNER, _pause())

    assert (again.matched, again.changed, again.eventbridge_pending) == (N, 0, 0)
    assert incident.states() == ["DISABLED"] * N
    assert incident.pending() == 0


def test_the_reconcile_pass_finishes_what_the_request_left(
    incident: Incident, scheduler: Scheduler, queries: AllQueries
) -> None:
    scheduler.fail_updates_after(K)
    assert incident.bulk.pause(OWNER, _pause()).eventbridge_pending == N - K
    scheduler.heal()

    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=lambda: datetime.now(UTC))

    assert summary["drained"] == N - K
    assert incident.states() == ["DISABLED"] * N
    assert incident.pending() == 0
    assert incident.none_enabled_in_eventbridge_but_paused()


def test_the_lambda_dying_after_k_updates_leaves_the_rest_to_the_drain_invocation(
    incident: Incident, scheduler: Scheduler, queries: AllQueries
) -> None:
    # When the Lambda dies (timeout, out of memory) after k EventBridge updates
    scheduler.fail_updates_after(K, error=Crash())
    with pytest.raises(Crash):
        incident.bulk.pause(OWNER, _pause())

    # Then the database change is whole: it committed before EventBridge was touched
    assert incident.enabled_rows() == [False] * N
    assert incident.pending() == N - K
    assert not incident.none_enabled_in_eventbridge_but_paused()

    # And the drain invocation it would have started finishes it
    scheduler.heal()
    summary = drain_invocation(
        queries.periodic_pass, scheduler.schedules, remaining_s=lambda: 900.0
    )
    assert summary["drained"] == N - K
    assert incident.states() == ["DISABLED"] * N
    assert incident.pending() == 0


def test_a_crash_before_the_commit_changes_no_row(
    incident: Incident, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(*_: Any, **__: Any) -> None:
        raise Crash()

    # the last step inside the transaction (its audit events): every row already updated,
    # every marker written
    monkeypatch.setattr(AuditQueries, "record_many", die)
    with pytest.raises(Crash):
        incident.bulk.pause(OWNER, _pause())

    assert incident.enabled_rows() == [True] * N
    assert incident.pending() == 0
    assert incident.states() == ["ENABLED"] * N


def test_the_coordinator_drains_before_its_shards_and_a_failing_drain_leaves_the_rest_marked(
    incident: Incident, scheduler: Scheduler, queries: AllQueries
) -> None:
    scheduler.fail_updates_after(0)
    assert incident.bulk.pause(OWNER, _pause()).eventbridge_pending == N

    # EventBridge still failing: the pass drains nothing, keeps the markers, says it is incomplete
    scheduler.fail_updates_after(1)
    with pytest.raises(ReconcileIncomplete):
        _coordinate(queries, scheduler)
    assert incident.pending() == N - 1

    scheduler.heal()
    summary = _coordinate(queries, scheduler)
    assert summary["drained"] == N - 1
    assert incident.pending() == 0
    assert incident.none_enabled_in_eventbridge_but_paused()


def _coordinate(queries: AllQueries, scheduler: Scheduler) -> dict[str, int]:
    return run_invocation(
        queries.periodic_pass,
        scheduler.schedules,
        None,
        shards=1,
        start=lambda _: None,
        remaining_s=lambda: 900.0,
        hand_on=lambda _: None,
    )


def test_a_resume_whose_eventbridge_updates_lag_is_caught_up_by_the_missed_fire_check(
    queries: AllQueries, scheduler: Scheduler
) -> None:
    # Given paused schedules that catch up their latest missed fire
    incident = Incident(queries, scheduler, catchupPolicy="latest")
    incident.bulk.pause(OWNER, _pause())
    assert incident.states() == ["DISABLED"] * N

    # When they are resumed and EventBridge takes none of it (DB enabled, EventBridge DISABLED)
    scheduler.fail_updates_after(0)
    resumed = incident.bulk.resume(OWNER, BulkResume.model_validate({}))
    assert (resumed.changed, resumed.eventbridge_pending) == (N, N)
    assert incident.enabled_rows() == [True] * N
    assert incident.states() == ["DISABLED"] * N

    # Then the fire times EventBridge did not deliver meanwhile are found missed, and each
    # schedule's latest one waits to run as a catch-up (handed to the runner one per workflow)
    hand_ons: list[dict[str, Any]] = []
    later = datetime.now(UTC) + timedelta(minutes=21)
    check_missed_fires(queries.missed_fires, hand_on=hand_ons.append, now=lambda: later)
    catchups = queries.db.execute(
        """select schedule_id from schedule_runs
           where trigger = 'catchup' and status = 'buffered' order by schedule_id"""
    ).fetchall()
    assert [row["schedule_id"] for row in catchups] == incident.ids
    assert [event["trigger"] for event in hand_ons] == ["catchup"]

    # And the next pass's drain enables them in EventBridge
    scheduler.heal()
    reconcile(queries.periodic_pass, scheduler.schedules, now=lambda: datetime.now(UTC))
    assert incident.states() == ["ENABLED"] * N
    assert incident.pending() == 0


def test_a_pause_skips_the_waiting_catch_up_runs_of_the_schedules_it_pauses(
    queries: AllQueries, scheduler: Scheduler
) -> None:
    # Given catch-up runs waiting for every schedule (resumed while EventBridge lagged)
    incident = Incident(queries, scheduler, catchupPolicy="latest")
    incident.bulk.pause(OWNER, _pause())
    scheduler.fail_updates_after(0)
    incident.bulk.resume(OWNER, BulkResume.model_validate({}))
    later = datetime.now(UTC) + timedelta(minutes=21)
    check_missed_fires(queries.missed_fires, hand_on=lambda _: None, now=lambda: later)

    # When they are paused again
    incident.bulk.pause(OWNER, _pause())

    # Then no run waits to run stale on the next resume
    waiting = queries.db.execute(
        "select count(*) as n from schedule_runs where status = 'buffered'"
    ).fetchone()
    assert waiting == {"n": 0}


def test_the_drain_writes_the_row_as_committed_now_not_the_bulk_changes_intent(
    incident: Incident, scheduler: Scheduler, queries: AllQueries
) -> None:
    # Given a bulk pause whose EventBridge updates were all left to the drain
    scheduler.fail_updates_after(0)
    incident.bulk.pause(OWNER, _pause())
    scheduler.heal()

    # When one of the schedules is resumed by a PATCH before the drain runs
    kept = incident.ids[0]
    incident.service.update_schedule(None, kept, ScheduleUpdate(enabled=True))
    drain_invocation(queries.periodic_pass, scheduler.schedules, remaining_s=lambda: 900.0)

    # Then EventBridge holds what each row says now: that one enabled, the others disabled
    assert incident.enabled_rows() == [True] + [False] * (N - 1)
    assert incident.states() == ["ENABLED"] + ["DISABLED"] * (N - 1)
    assert incident.pending() == 0


def test_the_request_starts_a_drain_only_when_updates_are_left_and_survives_its_failure(
    incident: Incident, scheduler: Scheduler, queries: AllQueries
) -> None:
    started: list[str] = []

    def start() -> None:
        started.append("drain")
        raise ReconcileIncomplete("Lambda refused the invocation")

    bulk = BulkChanges(
        BulkChangeServiceQueries.over(queries.db), scheduler.schedules, start_drain=start
    )

    # Nothing left: no drain started
    assert bulk.pause(OWNER, _pause()).eventbridge_pending == 0
    assert started == []

    # Updates left: a drain is started; its failure does not fail the committed change
    scheduler.fail_updates_after(K)
    resumed = bulk.resume(OWNER, BulkResume.model_validate({}))
    assert (resumed.changed, resumed.eventbridge_pending) == (N, N - K)
    assert started == ["drain"]
    assert incident.enabled_rows() == [True] * N


def test_the_reconcile_handler_drains_with_a_drain_event(
    incident: Incident, scheduler: Scheduler, lambda_context: Any
) -> None:
    scheduler.fail_updates_after(0)
    incident.bulk.pause(OWNER, _pause())
    from functions.reconcile.app import lambda_handler

    summary = lambda_handler(
        json.loads((EVENTS / "reconcile-drain.json").read_text()), lambda_context
    )

    # through the handler's own clients: the same moto backend
    assert summary["drained"] == N
    assert incident.states() == ["DISABLED"] * N


def test_two_bulk_pauses_at_once_pause_each_schedule_once_without_a_deadlock(
    incident: Incident, scheduler: Scheduler, clean_db: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from scheduler.store.db import Database

    databases = [Database(clean_db), Database(clean_db)]
    bulks = [
        BulkChanges(BulkChangeServiceQueries.over(db), scheduler.schedules) for db in databases
    ]
    try:
        # When two incident responders pause the same schedules at the same moment
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda bulk: bulk.pause(OWNER, _pause()), bulks))
    finally:
        for db in databases:
            db.close()

    # Then each schedule was paused by exactly one of them (the other found it paused: its
    # rows are locked in id order, so neither waits for the other in a cycle)
    changed = [i for result in results for i in result.ids]
    assert sorted(changed) == incident.ids
    assert incident.enabled_rows() == [False] * N
    assert incident.states() == ["DISABLED"] * N
    assert incident.pending() == 0
