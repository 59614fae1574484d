"""Reconcile against moto's Scheduler API and the real Postgres: every kind of drift is repaired,
a pass with nothing to repair writes nothing and fetches nothing it or the API recorded, shards
cover every schedule once, and a shard out of time continues where it stopped."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from scheduler.api.schedules import ScheduleService
from scheduler.config import get_settings
from scheduler.errors import DatabaseUnavailable, ReconcileIncomplete, SchedulerUnavailable
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.observability import metrics
from scheduler.policies.abandoned_runs import AbandonedRunQueries
from scheduler.policies.periodic_pass import PeriodicPassQueries, reconcile, run_invocation
from scheduler.store.runs import RunQueries
from scheduler.store.sql import Row
from scheduler.sync import reconcile as reconcile_module
from scheduler.sync.eventbridge import EventBridgeSchedules, desired_schedules
from scheduler.sync.reconcile import reconcile_shard
from scheduler.sync.shards import ShardTask, shard_prefixes

from tests.conftest import EVENTS
from tests.queries import AllQueries

WRITES = ("CreateSchedule", "UpdateSchedule", "DeleteSchedule")
OWNER = uuid.UUID("6f1c2a4e-0b7d-4c3e-9a51-2d8e7f6a1b90")


class CountingScheduler:
    """A moto-backed Scheduler client whose requests are counted by operation."""

    def __init__(self) -> None:
        self.client = boto3.client("scheduler", region_name="us-east-1")
        self.calls: Counter[str] = Counter()
        self.client.meta.events.register("before-call.scheduler", self._count)
        self.client.create_schedule_group(Name=get_settings().schedule_group)
        self.schedules = EventBridgeSchedules(self.client)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def writes(self) -> int:
        return sum(self.calls[name] for name in WRITES)

    def names(self) -> set[str]:
        return set(self.schedules.list_names())

    def describe(self, name: str) -> dict[str, Any]:
        found = self.schedules.get(name)
        assert found is not None, name
        return found


@pytest.fixture
def scheduler(aws: None) -> CountingScheduler:
    return CountingScheduler()


@pytest.fixture(autouse=True)
def exact_clocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto stamps LastModificationDate with this machine's clock, the one the code reads: no
    skew to tolerate, so a change made right after our write is seen as someone else's."""
    monkeypatch.setenv("RECONCILE_CLOCK_TOLERANCE_S", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def no_metrics_left_behind() -> Iterator[None]:
    """reconcile() adds metrics that only a handler flushes; later tests must not see them."""
    yield
    metrics.clear_metrics()


def later() -> datetime:
    """Reconcile's clock: past the orphan grace of everything the test created."""
    return datetime.now(UTC) + timedelta(hours=1)


def make_schedule(
    queries: AllQueries, cron: str, *, timezone: str = "UTC", enabled: bool = True
) -> Any:
    workflow = queries.workflows.create_workflow(OWNER, f"workflow for {cron}")
    return queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron=cron, timezone=timezone, enabled=enabled
    )


def assert_in_step(queries: AllQueries, scheduler: CountingScheduler) -> None:
    """EventBridge holds exactly what every row maps to (the fields that decide a fire)."""
    for row in queries.schedules.iter_all_schedules():
        for name, wanted in desired_schedules(row).items():
            actual = scheduler.describe(name)
            for field in ("ScheduleExpression", "ScheduleExpressionTimezone", "State"):
                assert actual[field] == wanted[field], (name, field)
            assert actual["Target"]["Arn"] == wanted["Target"]["Arn"]
            assert json.loads(actual["Target"]["Input"]) == json.loads(wanted["Target"]["Input"])


def test_every_kind_of_drift_is_repaired_and_a_second_pass_writes_nothing(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given rows in step with EventBridge, then drift of every kind
    in_step = make_schedule(queries, "0 7 * * *")
    missing = make_schedule(queries, "*/15 * * * *")
    new_cron = make_schedule(queries, "0 8 * * *")
    new_timezone = make_schedule(queries, "0 9 * * 1-5")
    disabled = make_schedule(queries, "30 6 * * *")
    retargeted = make_schedule(queries, "0 12 * * *")
    no_longer_split = make_schedule(queries, "0 9 1 * 1")
    lost_half = make_schedule(queries, "0 9 15 * 5")
    for row in (in_step, new_cron, new_timezone, disabled, retargeted, no_longer_split, lost_half):
        scheduler.schedules.apply(row)
    queries.schedules.update_schedule(new_cron["id"], None, {"cron": "0 10 * * *"})
    queries.schedules.update_schedule(new_timezone["id"], None, {"timezone": "Europe/Berlin"})
    queries.schedules.update_schedule(disabled["id"], None, {"enabled": False})
    wrong_target = {
        **desired_schedules(retargeted)[str(retargeted["id"])],
        "Target": {
            "Arn": "arn:aws:lambda:us-east-1:000000000000:function:someone-else",
            "RoleArn": get_settings().scheduler_role_arn,
        },
    }
    scheduler.client.update_schedule(**wrong_target)
    queries.schedules.update_schedule(no_longer_split["id"], None, {"cron": "0 9 * * *"})
    scheduler.client.delete_schedule(
        Name=f"{lost_half['id']}-dow", GroupName=scheduler.schedules.group
    )
    orphan = uuid.uuid4()
    scheduler.client.create_schedule(
        **{**desired_schedules(in_step)[str(in_step["id"])], "Name": str(orphan)}
    )
    scheduler.client.create_schedule(
        **{**desired_schedules(in_step)[str(in_step["id"])], "Name": f"{orphan}-dow"}
    )
    foreign = "created-by-hand"
    scheduler.client.create_schedule(
        **{**desired_schedules(in_step)[str(in_step["id"])], "Name": foreign}
    )
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then every row is in step, orphans are gone, a name we never make is left alone
    assert summary["created"] == 2  # the missing row and the lost day-of-week half
    assert summary["updated"] == 5  # cron, timezone, state, target, and the unsplit row
    assert summary["deleted"] == 3  # the orphan's two schedules and the surplus half
    assert summary["unchanged"] == 2  # in_step, and lost_half's first schedule
    assert summary["failed"] == 0
    assert_in_step(queries, scheduler)
    names = scheduler.names()
    assert str(missing["id"]) in names
    assert f"{lost_half['id']}-dow" in names
    assert f"{no_longer_split['id']}-dow" not in names
    assert str(orphan) not in names
    assert f"{orphan}-dow" not in names
    assert foreign in names
    assert scheduler.describe(str(disabled["id"]))["State"] == "DISABLED"
    assert scheduler.describe(str(new_timezone["id"]))["ScheduleExpressionTimezone"] == (
        "Europe/Berlin"
    )

    # And a second pass finds nothing to do and makes zero write calls
    scheduler.calls.clear()
    again = reconcile(queries.periodic_pass, scheduler.schedules, now=later)
    assert scheduler.writes() == 0
    assert again["created"] == again["updated"] == again["deleted"] == 0
    assert again["unchanged"] == 9


def test_an_orphan_younger_than_the_grace_is_left_for_the_next_pass(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a schedule whose row is not visible (an API create that has not committed yet)
    row = make_schedule(queries, "0 7 * * *")
    in_flight = {**desired_schedules(row)[str(row["id"])], "Name": str(uuid.uuid4())}
    scheduler.schedules.apply(row)
    scheduler.client.create_schedule(**in_flight)
    scheduler.calls.clear()

    # When reconcile runs right now
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=lambda: datetime.now(UTC))

    # Then it is kept, and deleted once it is older than the grace
    assert summary["deferred"] == 1
    assert scheduler.writes() == 0
    assert in_flight["Name"] in scheduler.names()
    assert reconcile(queries.periodic_pass, scheduler.schedules, now=later)["deleted"] == 1
    assert in_flight["Name"] not in scheduler.names()


@pytest.mark.parametrize(
    ("column", "value"), [("cron", "not a cron"), ("timezone", "Mars/Olympus_Mons")]
)
def test_a_row_with_an_unmappable_cron_or_timezone_keeps_its_schedule(
    queries: AllQueries, scheduler: CountingScheduler, column: str, value: str
) -> None:
    # Given a row written around the API with a cron or timezone that cannot be scheduled
    row = make_schedule(queries, "0 7 * * *")
    scheduler.schedules.apply(row)
    queries.schedules.update_schedule(row["id"], None, {column: value})
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then it is reported, not treated as an orphan nor as a failed repair
    assert summary["invalid_rows"] == 1
    assert summary["failed"] == 0
    assert scheduler.writes() == 0
    assert str(row["id"]) in scheduler.names()


def test_a_failed_repair_does_not_stop_the_others_and_the_pass_reports_it(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given two missing schedules, and EventBridge failing the first create it gets
    first = make_schedule(queries, "0 7 * * *")
    second = make_schedule(queries, "0 8 * * *")
    failures = iter([True])

    def fail_once(**_: Any) -> None:
        if next(failures, False):
            raise ClientError(
                {"Error": {"Code": "InternalServerException", "Message": "injected"}},
                "CreateSchedule",
            )

    scheduler.client.meta.events.register("before-call.scheduler.CreateSchedule", fail_once)

    # When
    with pytest.raises(ReconcileIncomplete):
        reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then the other one was repaired, and the next pass repairs the rest
    assert len({str(first["id"]), str(second["id"])} & scheduler.names()) == 1
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)
    assert (summary["created"], summary["failed"]) == (1, 0)
    assert_in_step(queries, scheduler)


def _seed_rows(queries: AllQueries, count: int) -> list[Row]:
    """`count` enabled daily schedules of one workflow, inserted in one statement."""
    workflow = queries.workflows.create_workflow(OWNER, "busy workflow")
    queries.db.execute(
        """insert into schedules (workflow_id, cron, timezone, enabled)
           select %s, '0 7 * * *', 'UTC', true from generate_series(1, %s)""",
        (workflow["id"], count),
    )
    return list(queries.schedules.iter_all_schedules())


def test_a_failing_get_schedule_fails_the_pass_before_any_write(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given 40 rows in step, one of them missing, and EventBridge failing every GetSchedule
    for row in _seed_rows(queries, 40)[1:]:
        scheduler.schedules.apply(row)

    asked: list[str] = []  # appended to from the pass's worker threads

    def unavailable(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["url_path"])
        raise ClientError(
            {"Error": {"Code": "InternalServerException", "Message": "injected"}}, "GetSchedule"
        )

    scheduler.client.meta.events.register("before-call.scheduler.GetSchedule", unavailable)
    scheduler.calls.clear()

    # When
    with pytest.raises(SchedulerUnavailable):
        reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then nothing was repaired from a half-made comparison, and the calls still queued were dropped
    assert scheduler.writes() == 0
    assert 1 <= len(asked) < 39


def test_a_row_deleted_during_the_pass_is_not_resurrected(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a row missing from EventBridge, deleted through the API while the pass compares
    in_step = make_schedule(queries, "0 7 * * *")
    scheduler.schedules.apply(in_step)
    deleted_meanwhile = make_schedule(queries, "0 8 * * *")

    def api_deletes_the_row(**_: Any) -> None:
        queries.schedules.delete_schedule(deleted_meanwhile["id"])

    scheduler.client.meta.events.register("before-call.scheduler.GetSchedule", api_deletes_the_row)
    scheduler.calls.clear()

    # When
    reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then the repair re-read the row under its lock and created nothing for it
    assert scheduler.calls["CreateSchedule"] == 0
    assert scheduler.names() == {str(in_step["id"])}


def test_runs_stuck_running_past_their_lease_are_failed(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a run whose runner died (lease expired) and one still within its lease
    row = make_schedule(queries, "0 7 * * *")
    scheduler.schedules.apply(row)
    now = later()
    for scheduled, lease in (
        (now - timedelta(hours=2), now - timedelta(hours=1)),
        (now - timedelta(minutes=1), now + timedelta(minutes=5)),
    ):
        queries.db.execute(  # started (a fence): a claim that never started is missed instead
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          lease_expires_at, fence)
               values (%s, %s, %s, 'running', %s, 1)""",
            (row["id"], row["workflow_id"], scheduled, lease),
        )

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=lambda: now)

    # Then only the abandoned one is failed
    assert summary["abandoned_runs_failed"] == 1
    statuses = sorted(
        r["status"] for r in queries.db.execute("select status from schedule_runs").fetchall()
    )
    assert statuses == ["failed", "running"]


def test_twelve_hundred_schedules_page_through_and_a_noop_pass_costs_a_call_per_page(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given 1,200 rows (one statement), 1,190 of them in EventBridge (written around the API, so
    # unknown to reconcile), plus 10 orphans
    rows = _seed_rows(queries, 1200)
    for row in rows[10:]:
        (kwargs,) = desired_schedules(row).values()
        scheduler.client.create_schedule(**kwargs)
    template = next(iter(desired_schedules(rows[0]).values()))
    for _ in range(10):
        scheduler.client.create_schedule(**{**template, "Name": str(uuid.uuid4())})
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then it read every page, fetched each unknown schedule once, and repaired exactly the drift
    assert scheduler.calls["ListSchedules"] == 12
    assert scheduler.calls["GetSchedule"] == summary["described"] == 1190
    assert (summary["created"], summary["deleted"], summary["unchanged"]) == (10, 10, 1190)
    assert scheduler.calls["CreateSchedule"] == 10
    assert scheduler.names() == {str(row["id"]) for row in rows}

    # And a second pass over all 1,200 writes nothing and makes one call per page, no more
    scheduler.calls.clear()
    again = reconcile(queries.periodic_pass, scheduler.schedules, now=later)
    assert scheduler.writes() == 0
    assert again["unchanged"] == 1200
    assert dict(scheduler.calls) == {"ListSchedules": 12}


def test_the_handler_reconciles_with_its_scheduled_event(
    queries: AllQueries, scheduler: CountingScheduler, lambda_context: Any
) -> None:
    # Given a row whose schedule is missing
    row = make_schedule(queries, "0 7 * * *")
    from functions.reconcile.app import lambda_handler

    # When the rate schedule's event arrives
    event = json.loads((EVENTS / "reconcile.json").read_text())
    summary = lambda_handler(event, lambda_context)

    # Then the schedule exists, through the handler's own clients
    assert summary["created"] == 1
    assert str(row["id"]) in scheduler.names()


@pytest.fixture
def lambda_context() -> Any:
    class Context:
        function_name = "ReconcileFunction"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReconcileFunction"
        aws_request_id = "3f6c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

        remaining_ms = 900_000

        def get_remaining_time_in_millis(self) -> int:
            return self.remaining_ms

    return Context()


# --- what the writers record, and the passes it makes free


def api(queries: AllQueries, scheduler: CountingScheduler) -> ScheduleService:
    return ScheduleService(queries.schedule_service, scheduler.schedules, lambda _: None)


def api_create(queries: AllQueries, scheduler: CountingScheduler, cron: str) -> UUID:
    workflow = queries.workflows.create_workflow(OWNER, f"workflow for {cron}")
    created = api(queries, scheduler).create_schedule(
        None, ScheduleCreate(workflowId=workflow["id"], cron=cron)
    )
    return created.id


def test_a_noop_pass_after_api_writes_fetches_nothing(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given schedules written through the API: created, one split in two, one updated, one paused
    ids = [
        api_create(queries, scheduler, cron) for cron in ("0 7 * * *", "0 9 15 * 5", "0 8 * * *")
    ]
    service = api(queries, scheduler)
    service.update_schedule(None, ids[2], ScheduleUpdate(cron="30 8 * * *"))
    service.update_schedule(None, ids[0], ScheduleUpdate(enabled=False))
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then every schedule is known from the listing alone
    assert dict(scheduler.calls) == {"ListSchedules": 1}
    assert (summary["unchanged"], summary["described"]) == (4, 0)


def test_a_schedule_changed_out_of_band_after_the_api_wrote_is_detected_and_repaired(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a schedule the API wrote, then changed in the console (same State, other cron)
    schedule_id = api_create(queries, scheduler, "0 7 * * *")
    other = api_create(queries, scheduler, "0 8 * * *")
    row = queries.schedules.get_schedule(schedule_id)
    changed = {
        **desired_schedules(row)[str(schedule_id)],
        "ScheduleExpression": "cron(0 3 * * ? *)",
    }
    scheduler.client.update_schedule(**changed)
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then only that one was fetched, and it holds the row's cron again
    assert scheduler.calls["GetSchedule"] == summary["described"] == 1
    assert (summary["updated"], summary["unchanged"]) == (1, 1)
    assert scheduler.describe(str(schedule_id))["ScheduleExpression"] == "cron(0 7 * * ? *)"
    assert str(other) in scheduler.names()

    # And the repair recorded what it wrote: the next pass fetches nothing
    scheduler.calls.clear()
    assert reconcile(queries.periodic_pass, scheduler.schedules, now=later)["described"] == 0
    assert dict(scheduler.calls) == {"ListSchedules": 1}


def test_a_schedule_deleted_from_eventbridge_is_recreated_without_a_fetch(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    schedule_id = api_create(queries, scheduler, "0 7 * * *")
    scheduler.client.delete_schedule(Name=str(schedule_id), GroupName=scheduler.schedules.group)
    scheduler.calls.clear()

    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    assert (summary["created"], summary["described"]) == (1, 0)
    assert scheduler.calls["CreateSchedule"] == 1
    assert_in_step(queries, scheduler)


def test_a_row_changed_around_the_api_is_detected_by_its_fingerprint(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a schedule the API wrote, whose row SQL then changed (EventBridge untouched)
    schedule_id = api_create(queries, scheduler, "0 7 * * *")
    untouched = api_create(queries, scheduler, "0 8 * * *")
    queries.db.execute("update schedules set cron = '0 6 * * *' where id = %s", (schedule_id,))
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then that row alone was fetched and repaired
    assert (summary["described"], summary["updated"], summary["unchanged"]) == (1, 1, 1)
    assert scheduler.describe(str(schedule_id))["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert str(untouched) in scheduler.names()


def test_a_write_whose_answer_was_lost_and_retried_records_what_eventbridge_holds(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given EventBridge creating the first schedule but its answer lost, so the SDK retries
    # (ConflictException: the API then updates it, as it does for any create that finds one)
    other_client = boto3.client("scheduler", region_name="us-east-1")
    lost = iter([True])

    def create_then_lose_the_answer(request: Any, **_: Any) -> None:
        if next(lost, False):
            name = request.url.split("?")[0].rsplit("/", 1)[-1]
            other_client.create_schedule(**{**json.loads(request.body), "Name": name})
            raise ConnectionClosedError(endpoint_url=request.url)

    # before-send: what fails there is a transport error, which the SDK retries
    scheduler.client.meta.events.register(
        "before-send.scheduler.CreateSchedule", create_then_lose_the_answer
    )
    schedule_id = api_create(queries, scheduler, "0 7 * * *")
    assert scheduler.calls["UpdateSchedule"] == 1
    scheduler.calls.clear()

    # When
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=later)

    # Then the record covers the retried write: nothing is fetched, nothing written
    assert (summary["unchanged"], summary["described"]) == (1, 0)
    assert scheduler.writes() == 0
    assert_in_step(queries, scheduler)
    assert str(schedule_id) in scheduler.names()


def test_shards_cover_every_schedule_exactly_once(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given 200 rows, unknown to reconcile: 190 in EventBridge, 10 missing, and 10 orphans
    rows = _seed_rows(queries, 200)
    for row in rows[10:]:
        (kwargs,) = desired_schedules(row).values()
        scheduler.client.create_schedule(**kwargs)
    template = next(iter(desired_schedules(rows[0]).values()))
    orphans = {str(uuid.uuid4()) for _ in range(10)}
    for name in orphans:
        scheduler.client.create_schedule(**{**template, "Name": name})
    fetched: list[str] = []  # appended to from the pass's worker threads
    deleted: list[str] = []
    for operation, names in (("GetSchedule", fetched), ("DeleteSchedule", deleted)):
        scheduler.client.meta.events.register(
            f"before-call.scheduler.{operation}",
            lambda params, names=names, **_: names.append(params["url_path"].rsplit("/", 1)[-1]),
        )
    scheduler.calls.clear()

    # When a pass runs as 16 shards
    summary = reconcile(queries.periodic_pass, scheduler.schedules, shards=16, now=later)

    # Then every schedule was fetched once, every missing one created once, every orphan deleted
    assert Counter(fetched) == Counter(str(row["id"]) for row in rows[10:])
    assert (summary["created"], summary["deleted"], summary["unchanged"]) == (10, 10, 190)
    assert scheduler.calls["CreateSchedule"] == 10
    assert Counter(name for name in deleted if name in orphans) == Counter(orphans)
    assert scheduler.calls["ListSchedules"] >= 16  # one listing per shard at least
    assert scheduler.names() == {str(row["id"]) for row in rows}


def test_a_coordinator_fails_abandoned_runs_once_and_starts_every_shard(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given an abandoned run
    row = make_schedule(queries, "0 7 * * *")
    now = later()
    queries.db.execute(  # started (a fence): a claim that never started is missed instead
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      lease_expires_at, fence)
           values (%s, %s, %s, 'running', %s, 1)""",
        (row["id"], row["workflow_id"], now - timedelta(hours=2), now - timedelta(hours=1)),
    )
    started: list[ShardTask] = []
    handed_on: list[dict[str, Any]] = []

    # When the scheduled event arrives with 16 shards configured
    summary = run_invocation(
        queries.periodic_pass,
        scheduler.schedules,
        None,
        shards=16,
        start=started.append,
        hand_on=handed_on.append,
        remaining_s=lambda: 900.0,
        now=lambda: now,
    )

    # Then it failed the run and started the 16 shards, and compared nothing itself
    assert summary["abandoned_runs_failed"] == 1
    assert [task.prefix for task in started] == shard_prefixes(16)
    assert scheduler.calls["ListSchedules"] == 0
    # and a shard does not fail runs again
    for task in started:
        shard = ShardTask.from_event(json.loads(json.dumps(task.as_event())))
        assert shard == task
        counts = run_invocation(
            queries.periodic_pass,
            scheduler.schedules,
            shard,
            shards=16,
            start=started.append,
            hand_on=handed_on.append,
            remaining_s=lambda: 900.0,
            now=lambda: now,
        )
        assert counts["abandoned_runs_failed"] == 0
    assert str(row["id"]) in scheduler.names()


class _SweepDown(RunQueries):
    """The database refuses the abandoned-run sweep's read (before any effect)."""

    def expired_unstarted_claims(self, now: datetime, limit: int) -> list[Row]:
        raise DatabaseUnavailable("injected: database down")


def test_a_coordinator_whose_abandoned_run_sweep_fails_still_checks_and_starts_every_shard(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a sweep of abandoned runs that fails (the database refuses its read)
    now = later()
    started: list[ShardTask] = []
    sweep_down = PeriodicPassQueries(
        AbandonedRunQueries(queries.db, _SweepDown(queries.db), queries.fire_checks, queries.queue),
        queries.missed_fires,
        queries.reconcile,
    )

    # When the scheduled event arrives with 16 shards configured
    summary = run_invocation(
        sweep_down,
        scheduler.schedules,
        None,
        shards=16,
        start=started.append,
        hand_on=lambda event: None,
        remaining_s=lambda: 900.0,
        now=lambda: now,
    )

    # Then the missed-fire check still ran (its heartbeat) and every shard was started
    assert queries.fire_checks.last_fire_check_pass() is not None
    assert [task.prefix for task in started] == shard_prefixes(16)
    assert summary["abandoned_runs_failed"] == 0


def test_a_shard_past_its_deadline_continues_where_it_stopped(
    queries: AllQueries,
    scheduler: CountingScheduler,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given more rows than a batch, none in EventBridge, and an invocation whose Lambda context
    # says it is short of time (30 s left, under the reserve)
    batch = 50
    monkeypatch.setattr(reconcile_module, "ROW_BATCH", batch)
    rows = _seed_rows(queries, batch + 20)
    lambda_context.remaining_ms = 30_000
    started: list[ShardTask] = []
    handed_on: list[dict[str, Any]] = []

    def run(task: ShardTask) -> dict[str, int]:
        return run_invocation(
            queries.periodic_pass,
            scheduler.schedules,
            task,
            shards=1,
            start=started.append,
            hand_on=handed_on.append,
            remaining_s=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
            now=later,
        )

    # When
    first = run(ShardTask())

    # Then it did one batch (an invocation always makes progress) and handed on after its last row
    (resume,) = started
    assert first["created"] == batch
    assert first["continued"] == 1
    assert resume == ShardTask("", rows[batch - 1]["id"], 1)
    assert ShardTask.from_event(json.loads(json.dumps(resume.as_event()))) == resume

    # And the continuation, with time enough, does the rest and nothing twice
    lambda_context.remaining_ms = 900_000
    rest = run(resume)
    assert (rest["created"], rest["continued"]) == (20, 0)
    assert len(started) == 1
    assert scheduler.calls["CreateSchedule"] == batch + 20
    assert scheduler.names() == {str(row["id"]) for row in rows}


def test_a_continuation_within_a_shard_skips_what_was_done(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    rows = _seed_rows(queries, 30)
    after = rows[9]["id"]
    outcome = reconcile_shard(
        queries.reconcile, scheduler.schedules, ShardTask("", after, 1), now=later
    )
    assert outcome.resume is None
    assert outcome.summary.created == 20
    assert scheduler.names() == {str(row["id"]) for row in rows[10:]}
