"""pauseAfterFailures: the runner's record counts a schedule's consecutive failed runs, pauses it
at the threshold (`Schedule Paused`), and a success resets the count (`Run Recovered`).

Alerts are observed as a consumer sees them (test_alerts.AlertQueue: a rule on moto's bus)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from scheduler.policies.periodic_pass import reconcile
from scheduler.run.fire import RunnerQueries
from scheduler.run.runner import RunReport
from scheduler.store.db import Database
from scheduler.store.queue import QueueQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    WAIT_S,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    join,
    make_schedule,
    runner_fixture,
)
from tests.integration.test_alerts import (  # noqa: F401  (fixtures)
    AlertQueue,
    _on_put_events,
    _throttled,
    alert_queue_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    Api,
    _create,
    api,
    eventbridge,
    eventbridge_state,
)
from tests.integration.test_runner_faults import Fault, FaultyRuns
from tests.queries import AllQueries, process_queries


def _schedule(runner: Runner, server: LoopbackServer, pause_after: int | None) -> dict[str, Any]:
    schedule = make_schedule(runner.queries, http_steps(server))
    return runner.queries.schedules.update_schedule(
        schedule["id"], None, {"pause_after_failures": pause_after}
    )


def _fire(runner: Runner, schedule: dict[str, Any], n: int) -> RunReport:
    """The schedule's n-th fire (every five minutes from SEVEN), the clock just past it."""
    at = SEVEN + timedelta(minutes=5 * n)
    runner.clock.current = at + timedelta(seconds=2)
    return runner.fire(schedule, at)


def test_n_consecutive_failures_pause_the_schedule_and_publish_one_schedule_paused(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=3)

    reports = [_fire(runner, schedule, n) for n in range(2)]
    assert [r.outcome for r in reports] == ["failed", "failed"]
    row = runner.schedule(schedule)
    assert (row["enabled"], row["consecutive_failures"]) == (True, 2)
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Failed"] * 2

    third = _fire(runner, schedule, 2)

    assert third.outcome == "failed"
    row = runner.schedule(schedule)
    assert row["enabled"] is False
    assert row["disabled_reason"] == "paused after 3 consecutive failed runs"
    assert row["consecutive_failures"] == 3
    failed, paused = alert_queue.received()
    assert (failed["detail-type"], paused["detail-type"]) == ("Run Failed", "Schedule Paused")
    assert paused["detail"]["runId"] == str(third.run_id)
    assert paused["detail"]["error"] == "paused after 3 consecutive failed runs"
    assert paused["detail"]["consecutiveFailures"] == 3
    assert paused["detail"]["dedupeKey"] == f"{third.run_id}:paused"
    # paused: the next fire does not run, and nothing more is published
    assert _fire(runner, schedule, 3).outcome == "ignored"
    assert alert_queue.received() == []
    assert len(http_server.requests) == 3


def test_a_success_after_failures_resets_the_count_and_publishes_one_run_recovered(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=3)
    assert [_fire(runner, schedule, n).outcome for n in range(2)] == ["failed"] * 2
    alert_queue.received()  # the two Run Failed

    http_server.status = 200
    recovered = _fire(runner, schedule, 2)

    assert recovered.outcome == "succeeded"
    row = runner.schedule(schedule)
    assert (row["enabled"], row["consecutive_failures"], row["disabled_reason"]) == (True, 0, None)
    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Recovered"
    assert event["detail"]["runId"] == str(recovered.run_id)
    assert event["detail"]["consecutiveFailures"] == 2
    assert event["detail"]["error"] is None
    assert event["detail"]["dedupeKey"] == f"{recovered.run_id}:recovered"
    # the next success recovers from nothing: no alert
    assert _fire(runner, schedule, 3).outcome == "succeeded"
    assert alert_queue.received() == []
    # and the count starts again from 0: two more failures do not reach 3
    http_server.status = 500
    assert [_fire(runner, schedule, n).outcome for n in (4, 5)] == ["failed"] * 2
    assert runner.schedule(schedule)["enabled"] is True


def test_without_pause_after_failures_failures_are_counted_but_never_pause(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=None)

    assert [_fire(runner, schedule, n).outcome for n in range(4)] == ["failed"] * 4

    row = runner.schedule(schedule)
    assert (row["enabled"], row["consecutive_failures"]) == (True, 4)
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Failed"] * 4


def test_a_critical_error_at_the_threshold_is_disabled_for_its_error_not_paused(
    runner: Runner, alert_queue: AlertQueue
) -> None:
    schedule = make_schedule(runner.queries, [{"type": "teleport"}])
    runner.queries.schedules.update_schedule(schedule["id"], None, {"pause_after_failures": 1})

    assert _fire(runner, schedule, 0).outcome == "failed"

    row = runner.schedule(schedule)
    assert row["enabled"] is False
    assert row["disabled_reason"].startswith("disabled by the runner: ")
    assert row["consecutive_failures"] == 1
    kinds = [e["detail-type"] for e in alert_queue.received()]
    assert kinds == ["Run Failed", "Schedule Disabled"]


def test_a_failure_recorded_while_another_holds_the_count_adds_to_it(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    # Given a schedule paused after 2 failures, none yet
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=2)
    reports: list[RunReport] = []
    # When another writer (another run's record) has added a failure, uncommitted, while this
    # run records its own failure
    with psycopg.connect(clean_db) as other:
        other.execute(
            "update schedules set consecutive_failures = consecutive_failures + 1 where id = %s",
            (schedule["id"],),
        )
        thread = threading.Thread(target=lambda: reports.append(_fire(runner, schedule, 0)))
        thread.start()
        _wait_until_blocked(clean_db, thread)
        other.commit()
    join(thread)

    # Then the record counted on top of the other's: 2 failures, and it paused the schedule
    [report] = reports
    assert report.outcome == "failed"
    row = runner.schedule(schedule)
    assert (row["consecutive_failures"], row["enabled"]) == (2, False)
    assert row["disabled_reason"] == "paused after 2 consecutive failed runs"


def _wait_until_blocked(database_url: str, thread: threading.Thread) -> None:
    """Until a session waits for a lock (through the pooler, which backend is not known)."""
    deadline = datetime.now().timestamp() + WAIT_S
    with psycopg.connect(database_url, autocommit=True) as admin:
        while datetime.now().timestamp() < deadline and thread.is_alive():
            if admin.execute(
                "select 1 from pg_stat_activity where wait_event_type = 'Lock'"
                " and datname = current_database()"
            ).fetchone():
                return
            threading.Event().wait(0.01)
    pytest.fail("the record neither waited for the other writer's lock nor finished")


def test_a_failing_alert_publish_leaves_the_pause_recorded(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=1)
    _on_put_events(_throttled)

    report = _fire(runner, schedule, 0)

    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["status"] == "failed"
    row = runner.schedule(schedule)
    assert (row["enabled"], row["consecutive_failures"]) == (False, 1)
    assert row["disabled_reason"] == "paused after 1 consecutive failed runs"
    assert alert_queue.received() == []


def test_through_the_api_a_paused_schedule_reads_disabled_in_eventbridge_and_a_re_enable_resets(
    api: Api,
    eventbridge: EventBridgeSchedules,
    queries: AllQueries,
    runner: Runner,
    http_server: LoopbackServer,
) -> None:
    # Given a schedule created with pauseAfterFailures 2, whose workflow fails
    http_server.status = 500
    workflow = queries.workflows.create_workflow(ALICE, "flaky", {"steps": http_steps(http_server)})
    created = _create(api, workflow["id"], cron="*/5 * * * *", pauseAfterFailures=2)
    assert (created["pauseAfterFailures"], created["consecutiveFailures"]) == (2, 0)
    path = f"/api/schedules/{created['id']}"
    row = queries.schedules.get_schedule(uuid.UUID(created["id"]))

    # When it fails once: the reads say so
    assert _fire(runner, row, 0).outcome == "failed"
    status, detail = api.call("GET", path)
    assert (status, detail["consecutiveFailures"], detail["enabled"]) == (200, 1, True)
    status, page = api.call("GET", "/api/schedules")
    assert [item["consecutiveFailures"] for item in page["items"]] == [1]

    # When it fails again: paused, and reconcile disables its EventBridge schedule
    assert _fire(runner, row, 1).outcome == "failed"
    status, detail = api.call("GET", path)
    assert (detail["enabled"], detail["consecutiveFailures"]) == (False, 2)
    assert detail["disabledReason"] == "paused after 2 consecutive failed runs"
    reconcile(process_queries().periodic_pass, eventbridge)
    assert [s["State"] for s in eventbridge_state(eventbridge).values()] == ["DISABLED"]

    # When it is re-enabled: the count starts again from 0, and EventBridge fires it again
    status, enabled = api.call("PATCH", path, body={"enabled": True})
    assert status == 200, enabled
    assert (enabled["enabled"], enabled["consecutiveFailures"]) == (True, 0)
    assert enabled["disabledReason"] is None
    assert [s["State"] for s in eventbridge_state(eventbridge).values()] == ["ENABLED"]

    # When pauseAfterFailures is cleared: failures no longer pause it
    status, cleared = api.call("PATCH", path, body={"pauseAfterFailures": None})
    assert (status, cleared["pauseAfterFailures"]) == (200, None)
    assert [_fire(runner, row, n).outcome for n in (2, 3, 4)] == ["failed"] * 3
    status, detail = api.call("GET", path)
    assert (detail["enabled"], detail["consecutiveFailures"]) == (True, 3)


@pytest.mark.parametrize("value", [0, 1001, "3", 2.5, True])
def test_an_out_of_range_pause_after_failures_is_a_422_naming_it(
    api: Api, queries: AllQueries, eventbridge: EventBridgeSchedules, value: Any
) -> None:
    workflow = queries.workflows.create_workflow(ALICE, "w", {"steps": []})
    body = {"workflowId": str(workflow["id"]), "cron": "0 7 * * *", "pauseAfterFailures": value}

    status, answer = api.call("POST", "/api/schedules", body=body)

    assert status == 422, answer
    assert answer["error"]["message"].startswith("pauseAfterFailures"), answer
    assert queries.schedules.list_schedules(None) == []
    created = _create(api, workflow["id"])
    status, answer = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"pauseAfterFailures": value}
    )
    assert status == 422, answer
    assert answer["error"]["message"].startswith("pauseAfterFailures"), answer


# Found by the simulation (issue #25): the record that pauses the schedule (or ends a failure
# streak) commits, its answer is lost, and the runner's retry of the record finds the run
# already written: the alert of the change that record made must still be published, once.
def _record_answer_lost_once(runner: Runner, clean_db: str) -> tuple[RunnerQueries, Database]:
    database = Database(clean_db)
    return RunnerQueries(
        FaultyRuns(database, Fault("record", "lost_ack")), QueueQueries(database)
    ), database


def test_a_pausing_record_whose_answer_was_lost_still_publishes_one_schedule_paused(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue, clean_db: str
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=1)
    queries, database = _record_answer_lost_once(runner, clean_db)

    report = runner.fire(schedule, SEVEN, queries=queries)

    assert report.outcome == "failed"
    row = runner.schedule(schedule)
    assert (row["enabled"], row["consecutive_failures"]) == (False, 1)
    kinds = [event["detail-type"] for event in alert_queue.received()]
    assert kinds == ["Run Failed", "Schedule Paused"]
    database.close()


def test_a_recovering_record_whose_answer_was_lost_still_publishes_one_run_recovered(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue, clean_db: str
) -> None:
    http_server.status = 500
    schedule = _schedule(runner, http_server, pause_after=3)
    assert _fire(runner, schedule, 0).outcome == "failed"
    alert_queue.received()
    http_server.status = 200
    queries, database = _record_answer_lost_once(runner, clean_db)

    report = runner.fire(schedule, SEVEN + timedelta(minutes=5), queries=queries)

    assert report.outcome == "succeeded"
    assert runner.schedule(schedule)["consecutive_failures"] == 0
    [event] = alert_queue.received()
    assert (event["detail-type"], event["detail"]["consecutiveFailures"]) == ("Run Recovered", 1)
    database.close()
