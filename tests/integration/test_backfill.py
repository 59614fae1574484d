"""Backfill (POST /api/schedules/{id}/backfill) through the API's handler, and the runs it
queues through the runner; and the policy fields' round trip through the API. Real Postgres,
moto for AWS, a loopback stand-in for Lambda's Invoke API (the API's hand-on)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.config import get_settings
from scheduler.policies.backfill import _fire_times
from scheduler.policies.retention import delete_expired_runs

from tests.integration.policy_fixtures import HandOns, event_for, iso, runs_by_time
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB_CLAIMS,
    Api,
    api,
    eventbridge,
    lambda_endpoint,
)
from tests.queries import process_queries

assert OWNER == ALICE  # the runner's fixtures and the API's share the owner


# The whole hour the test module started in: every fire time a test uses is this many hours
# off it, so a test that runs across an hour's turn still means the same fire times.
_THIS_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _hour(hours_from_now: int) -> datetime:
    """A whole hour this many hours from this one (the fire times of an hourly cron)."""
    return _THIS_HOUR + timedelta(hours=hours_from_now)


def _error(body: Any) -> str:
    details = " ".join(str(detail) for detail in body["error"].get("details") or [])
    return f"{body['error']['message']} {details}"


@pytest.fixture(name="workflow_id")
def workflow_id_fixture(api: Api, http_server: LoopbackServer) -> uuid.UUID:
    steps = http_steps(http_server)
    return process_queries().workflows.create_workflow(ALICE, "hourly report", {"steps": steps})[
        "id"
    ]


def _create(api: Api, workflow_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    status, body = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflow_id), "cron": "0 * * * *", **fields},
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def _backfill(
    api: Api, schedule_id: str, start: datetime, end: datetime, **kwargs: Any
) -> tuple[int, Any]:
    body = {"from": iso(start), "to": iso(end)}
    return api.call("POST", f"/api/schedules/{schedule_id}/backfill", body=body, **kwargs)


def test_a_backfill_queues_the_fire_times_without_a_run_and_runs_them_oldest_first(
    api: Api,
    workflow_id: uuid.UUID,
    runner: Runner,
    http_server: LoopbackServer,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    created = _create(api, workflow_id)
    schedule = {"id": uuid.UUID(created["id"]), "workflow_id": workflow_id}
    ran = _hour(-3)
    runner.clock.current = ran
    assert HandOns(runner).run(event_for(schedule, ran)).outcome == "succeeded"

    status, body = _backfill(api, created["id"], _hour(-5) - timedelta(minutes=30), _hour(-1))

    assert status == 202, body
    assert body == {
        "scheduleId": created["id"],
        "fires": 5,
        "queued": 4,
        "runsUrl": f"/api/schedules/{created['id']}/runs",
    }
    queued = [_hour(-5), _hour(-4), _hour(-2), _hour(-1)]
    runs = runs_by_time(runner.queries, schedule["id"])
    assert [(r["scheduled_time"], r["status"], r["trigger"]) for r in runs] == sorted(
        [(t, "buffered", "backfill") for t in queued] + [(ran, "succeeded", "schedule")]
    )
    # the API handed the oldest on to the runner (Lambda's Invoke, asynchronously)
    [invoke] = lambda_endpoint
    assert invoke["invocation_type"] == "Event"
    assert invoke["payload"] == event_for(schedule, _hour(-5), "backfill")

    runner.clock.current = datetime.now(UTC)
    chain = HandOns(runner, [invoke["payload"]])
    done = chain.drain()

    assert [(t, report.outcome) for t, report in done] == [(iso(t), "succeeded") for t in queued]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(t) for t in [ran, *queued]
    ]
    status, page = api.call("GET", f"/api/schedules/{created['id']}/runs")
    assert status == 200
    assert [(r["scheduledTime"], r["status"], r["trigger"]) for r in page["items"]] == [
        (iso(t), "succeeded", "schedule" if t == ran else "backfill")
        for t in sorted([ran, *queued], reverse=True)
    ]

    # the same interval again: every slot has its run
    status, again = _backfill(api, created["id"], _hour(-5), _hour(-1))
    assert (status, again["fires"], again["queued"]) == (202, 5, 0)
    assert len(lambda_endpoint) == 1


def test_more_than_a_thousand_fire_times_is_refused_and_queues_nothing(
    api: Api, workflow_id: uuid.UUID, lambda_endpoint: list[dict[str, Any]]
) -> None:
    created = _create(api, workflow_id, cron="* * * * *")

    status, body = _backfill(api, created["id"], _hour(-20), _hour(-1))  # 1,141 minutes

    assert status == 422, body
    assert "more than 1000 fire times" in _error(body)
    assert "backfill it in parts" in _error(body)
    assert runs_by_time(process_queries(), uuid.UUID(created["id"])) == []
    assert lambda_endpoint == []
    # exactly 1,000 is accepted
    start = _hour(-20)
    status, body = _backfill(api, created["id"], start, start + timedelta(minutes=999))
    assert (status, body["fires"], body["queued"]) == (202, 1000, 1000)


def test_a_backfill_that_cannot_be_is_refused(
    api: Api, workflow_id: uuid.UUID, lambda_endpoint: list[dict[str, Any]]
) -> None:
    schedule_id = _create(api, workflow_id)["id"]
    disabled_id = _create(api, workflow_id, enabled=False)["id"]

    future = _backfill(api, schedule_id, _hour(-2), _hour(2))
    backwards = _backfill(api, schedule_id, _hour(-1), _hour(-2))
    disabled = _backfill(api, disabled_id, _hour(-3), _hour(-1))
    bobs_view = _backfill(api, schedule_id, _hour(-3), _hour(-1), claims=BOB_CLAIMS)
    unknown = _backfill(api, str(uuid.uuid4()), _hour(-3), _hour(-1))

    assert future[0] == 422, future
    assert "must not be in the future" in _error(future[1])
    assert backwards[0] == 422, backwards
    assert "to must not be before from" in _error(backwards[1])
    assert disabled[0] == 409, disabled
    assert "schedule is disabled" in _error(disabled[1])
    assert (bobs_view[0], unknown[0]) == (404, 404)
    queries = process_queries()
    assert runs_by_time(queries, uuid.UUID(schedule_id)) == []
    assert runs_by_time(queries, uuid.UUID(disabled_id)) == []
    assert lambda_endpoint == []


# --- the policy fields through the API


def test_the_policy_fields_round_trip_through_create_patch_and_get(
    api: Api, workflow_id: uuid.UUID
) -> None:
    defaults = _create(api, workflow_id)
    assert (
        defaults["catchupPolicy"],
        defaults["catchupWindowSeconds"],
        defaults["overlapPolicy"],
    ) == ("skip", 3600, "skip")

    created = _create(
        api,
        workflow_id,
        catchupPolicy="all",
        catchupWindowSeconds=7200,
        overlapPolicy="buffer_one",
    )
    path = f"/api/schedules/{created['id']}"
    assert (created["catchupPolicy"], created["catchupWindowSeconds"]) == ("all", 7200)
    assert created["overlapPolicy"] == "buffer_one"
    status, read = api.call("GET", path)
    assert status == 200
    assert (read["catchupPolicy"], read["catchupWindowSeconds"], read["overlapPolicy"]) == (
        "all",
        7200,
        "buffer_one",
    )

    status, patched = api.call("PATCH", path, body={"catchupPolicy": "latest"})
    assert status == 200, patched
    assert (patched["catchupPolicy"], patched["catchupWindowSeconds"]) == ("latest", 7200)
    status, patched = api.call(
        "PATCH", path, body={"catchupWindowSeconds": 60, "overlapPolicy": "skip"}
    )
    assert status == 200, patched
    status, read = api.call("GET", path)
    assert (read["catchupPolicy"], read["catchupWindowSeconds"], read["overlapPolicy"]) == (
        "latest",
        60,
        "skip",
    )
    assert (
        process_queries().schedules.get_schedule(uuid.UUID(created["id"]))["catchup_window_seconds"]
        == 60
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"catchupWindowSeconds": 59},
        {"catchupWindowSeconds": 604_801},
        {"catchupWindowSeconds": "3600"},
        {"catchupPolicy": "sometimes"},
        {"overlapPolicy": "queue"},
        {"catchupPolicy": None},
    ],
    ids=["window-too-short", "window-too-long", "window-a-string", "catchup", "overlap", "null"],
)
def test_policy_fields_out_of_bounds_are_refused(
    fields: dict[str, Any], api: Api, workflow_id: uuid.UUID
) -> None:
    created = _create(api, workflow_id)
    path = f"/api/schedules/{created['id']}"
    body = {"workflowId": str(workflow_id), "cron": "0 * * * *", **fields}

    create_status, create_body = api.call("POST", "/api/schedules", body=body)
    patch_status, patch_body = api.call("PATCH", path, body=fields)

    assert create_status == 422, create_body
    assert patch_status == 422, patch_body
    name = next(iter(fields))
    assert name in _error(create_body)
    assert name in _error(patch_body)
    status, read = api.call("GET", path)
    assert status == 200
    assert (read["catchupPolicy"], read["catchupWindowSeconds"], read["overlapPolicy"]) == (
        "skip",
        3600,
        "skip",
    )


def test_a_backfill_runs_a_fire_time_that_was_recorded_missed(
    api: Api,
    workflow_id: uuid.UUID,
    runner: Runner,
    http_server: LoopbackServer,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    # Given a schedule (catchupPolicy skip) whose fire time two hours ago was recorded missed
    created = _create(api, workflow_id)
    schedule_id = uuid.UUID(created["id"])
    missed = _hour(-2)
    runner.queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      finished_at, error)
           values (%s, %s, %s, 'missed', now(), 'missed: no run had started')""",
        (schedule_id, workflow_id, missed),
    )

    # When that hour is backfilled
    status, body = _backfill(api, created["id"], missed, missed)

    # Then it is queued (it never ran) and runs, trigger backfill, in its one slot
    assert (status, body["fires"], body["queued"]) == (202, 1, 1)
    [invoke] = lambda_endpoint
    runner.clock.current = datetime.now(UTC)
    done = HandOns(runner, [invoke["payload"]]).drain()
    assert [(t, report.outcome) for t, report in done] == [(iso(missed), "succeeded")]
    [run] = runs_by_time(runner.queries, schedule_id)
    assert (run["status"], run["trigger"], run["error"]) == ("succeeded", "backfill", None)
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(missed)]


def test_a_backfill_from_the_first_year_is_a_clear_422(
    api: Api, workflow_id: uuid.UUID, lambda_endpoint: list[dict[str, Any]]
) -> None:
    created = _create(api, workflow_id, timezone="America/New_York")

    status, body = _backfill(
        api, created["id"], datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)
    )

    assert status == 422, body
    assert "out of range" in _error(body)
    assert lambda_endpoint == []


def test_a_backfill_over_more_than_forty_years_lists_every_fire_time() -> None:
    # The fire-time generator stops 40 years after where it starts: 1960 to 2026 once listed
    # 41 fire times of a yearly cron (and answered 202 `fires: 41`).
    schedule = {"cron": "0 0 1 1 *", "timezone": "UTC", "start_at": None, "end_at": None}
    fires = _fire_times(
        schedule, datetime(1960, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert fires == [datetime(year, 1, 1, tzinfo=UTC) for year in range(1960, 2027)]


def test_a_backfill_from_1960_is_refused_as_older_than_the_history_kept(
    api: Api, workflow_id: uuid.UUID, lambda_endpoint: list[dict[str, Any]]
) -> None:
    # RunHistoryDays is at most 3650 (10 years): so through the API, an interval of over 40
    # years is a 422, never a silently shorter backfill
    created = _create(api, workflow_id, cron="0 0 1 1 *")

    status, body = _backfill(
        api, created["id"], datetime(1960, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )

    assert status == 422, body
    assert "older than the run history kept" in _error(body)
    assert runs_by_time(process_queries(), uuid.UUID(created["id"])) == []
    assert lambda_endpoint == []


@pytest.fixture(name="two_days_of_history")
def two_days_of_history_fixture() -> Iterator[None]:
    saved = os.environ.get("RUN_HISTORY_DAYS")
    os.environ["RUN_HISTORY_DAYS"] = "2"
    get_settings.cache_clear()
    yield
    if saved is None:
        os.environ.pop("RUN_HISTORY_DAYS", None)
    else:
        os.environ["RUN_HISTORY_DAYS"] = saved
    get_settings.cache_clear()


def test_a_backfill_reaching_past_the_history_kept_is_refused(
    api: Api,
    workflow_id: uuid.UUID,
    runner: Runner,
    lambda_endpoint: list[dict[str, Any]],
    two_days_of_history: None,
) -> None:
    # A slot "ran already" when it has a run row, and retention deletes rows older than
    # RunHistoryDays: a backfill of an interval that ran, once retention has been, ran it twice.
    created = _create(api, workflow_id)
    schedule_id = uuid.UUID(created["id"])
    ran = [_hour(-5 * 24 - 2), _hour(-5 * 24 - 1), _hour(-5 * 24)]
    runner.queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                      started_at, finished_at)
           select %s, %s, t, 'succeeded', t, t from unnest(%s::timestamptz[]) t""",
        (schedule_id, workflow_id, ran),
    )
    retained = delete_expired_runs(runner.queries.history, keep_days=2, budget_s=60.0)
    assert retained["deleted"] == 2  # the schedule's latest finished run stays

    # fire times older than the history kept, less a day: whether they ran is not known
    status, body = _backfill(api, created["id"], ran[0], ran[-1])
    assert status == 422, body
    assert "older than the run history kept" in _error(body)
    status, body = _backfill(api, created["id"], _hour(-24) - timedelta(hours=1), _hour(-1))
    assert status == 422, body
    assert [r["scheduled_time"] for r in runs_by_time(runner.queries, schedule_id)] == ran[-1:]
    assert lambda_endpoint == []

    # within it, the backfill is taken as ever (an hour inside the horizon: _hour counts from
    # the hour the module was imported, which a long suite may have left behind)
    status, body = _backfill(api, created["id"], _hour(-22), _hour(-21))
    assert (status, body.get("queued")) == (202, 2), body


def test_an_owner_backfills_at_most_the_cap_of_workflows_at_once(
    api: Api,
    runner: Runner,
    http_server: LoopbackServer,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    # Each backfilling workflow holds a runner slot run after run: without a cap, one tenant's
    # backfills of RunnerConcurrency workflows held every slot, and other tenants' live fires
    # waited in Lambda's queue past the missed-fire grace.
    assert get_settings().max_active_backfills_per_owner == 2
    queries = process_queries()
    steps = http_steps(http_server)
    workflows = [
        queries.workflows.create_workflow(ALICE, f"report {n}", {"steps": steps})["id"]
        for n in range(3)
    ]
    schedules = [_create(api, workflow_id)["id"] for workflow_id in workflows]

    for schedule_id in schedules[:2]:
        status, body = _backfill(api, schedule_id, _hour(-3), _hour(-2))
        assert (status, body.get("queued")) == (202, 2), body
    # a third workflow waits until one of them is done
    status, body = _backfill(api, schedules[2], _hour(-3), _hour(-2))
    assert status == 429, body
    assert "MAX_ACTIVE_BACKFILLS_PER_OWNER" in _error(body)
    assert runs_by_time(queries, uuid.UUID(schedules[2])) == []
    # more of a workflow that is backfilling joins its chain
    status, body = _backfill(api, schedules[0], _hour(-4), _hour(-4))
    assert (status, body.get("queued")) == (202, 1), body

    # When the first workflow's chain has run
    runner.clock.current = datetime.now(UTC)
    first = [
        e["payload"] for e in lambda_endpoint if e["payload"]["workflowId"] == str(workflows[0])
    ]
    HandOns(runner, first[:1]).drain()
    runs = runs_by_time(queries, uuid.UUID(schedules[0]))
    assert [(r["status"], r["trigger"]) for r in runs] == [("succeeded", "backfill")] * 3

    # Then the third may backfill
    status, body = _backfill(api, schedules[2], _hour(-3), _hour(-2))
    assert (status, body.get("queued")) == (202, 2), body
