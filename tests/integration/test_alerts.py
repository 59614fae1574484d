"""Alerts: what the runner publishes to EventBridge when a run fails, and what it never does.

Observed as a consumer sees them: a moto rule on the default bus, with the pattern the
template's rule uses (alerts.EVENT_PATTERN), delivers each event to an SQS queue the test reads.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from scheduler import clients
from scheduler.config import get_settings
from scheduler.observability import logger, metrics
from scheduler.run import alerts

from functions.runner.app import lambda_handler
from tests.integration.runner_fixtures import (
    OWNER,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,  # noqa: F401
    clock_fixture,  # noqa: F401
    create_locks_table,
    dynamodb_fixture,  # noqa: F401
    http_server_fixture,  # noqa: F401
    http_steps,
    make_schedule,
    runner_fixture,  # noqa: F401
)
from tests.queries import AllQueries

QUERY_SECRET = "qs_token_9e8d7c6b5a4f3e2d"


@dataclass
class AlertQueue:
    """The SQS queue a rule on the default bus sends every alert to."""

    url: str

    def received(self) -> list[dict[str, Any]]:
        """Every event delivered so far (each read once), oldest first."""
        sqs = clients.aws_client("sqs")
        events = []
        while messages := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(events, key=lambda event: event["detail-type"])


@pytest.fixture(name="alert_queue")
def alert_queue_fixture(aws: None) -> AlertQueue:
    sqs, events = clients.aws_client("sqs"), clients.aws_client("events")
    url = sqs.create_queue(QueueName="alerts-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="alerts-test", EventPattern=json.dumps(alerts.EVENT_PATTERN))
    events.put_targets(Rule="alerts-test", Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}])
    return AlertQueue(url)


@pytest.fixture(name="put_events_calls")
def put_events_calls_fixture(aws: None) -> Iterator[list[dict[str, Any]]]:
    """The PutEvents requests the alerts' client sends (their parameters)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    client = clients.events_client()
    client.meta.events.register("provide-client-params.events.PutEvents", record)
    yield calls
    client.meta.events.unregister("provide-client-params.events.PutEvents", record)


def _on_put_events(answer: Callable[..., Any]) -> None:
    """Every PutEvents of the alerts' client is answered by `answer` (raise, or a response)."""
    clients.events_client().meta.events.register("before-call.events.PutEvents", answer)


def test_a_failed_run_publishes_one_run_failed_event_with_the_run_in_its_detail(
    runner: Runner,
    http_server: LoopbackServer,
    alert_queue: AlertQueue,
    put_events_calls: list[dict[str, Any]],
) -> None:
    http_server.status = 500
    steps = [{"type": "http", "url": f"{http_server.url}/run?token={QUERY_SECRET}"}]
    schedule = make_schedule(runner.queries, steps)

    report = runner.fire(schedule, attempt=2)

    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["status"] == "failed"
    assert len(put_events_calls) == 1
    [event] = alert_queue.received()
    assert (event["source"], event["detail-type"]) == ("workflow-scheduler", "Run Failed")
    assert event["detail"] == {
        "scheduleId": str(schedule["id"]),
        "workflowId": str(schedule["workflow_id"]),
        "workflowName": "nightly report",
        "ownerId": str(OWNER),
        "scheduledTime": "2026-11-27T07:00:00Z",
        "trigger": "schedule",
        "runId": str(report.run_id),
        "attempt": 2,
        "error": run["error"],
        "occurredAt": "2026-11-27T07:00:02Z",
        "dedupeKey": f"{report.run_id}:failed",
    }
    assert "HTTP 500" in event["detail"]["error"]
    assert QUERY_SECRET not in json.dumps(event)


def test_a_critical_error_publishes_run_failed_and_schedule_disabled_in_one_call(
    runner: Runner, alert_queue: AlertQueue, put_events_calls: list[dict[str, Any]]
) -> None:
    schedule = make_schedule(runner.queries, [{"type": "teleport"}])

    report = runner.fire(schedule)

    assert report.outcome == "failed"
    assert runner.schedule(schedule)["enabled"] is False
    assert len(put_events_calls) == 1
    failed, disabled = alert_queue.received()
    assert (failed["detail-type"], disabled["detail-type"]) == ("Run Failed", "Schedule Disabled")
    assert "unknown type 'teleport'" in failed["detail"]["error"]
    assert disabled["detail"]["error"] == runner.schedule(schedule)["disabled_reason"]
    assert disabled["detail"]["dedupeKey"] == f"{report.run_id}:disabled"
    assert disabled["detail"]["runId"] == failed["detail"]["runId"] == str(report.run_id)


def test_a_missing_workflow_secret_fails_the_run_and_alerts_it(
    runner: Runner,
    http_server: LoopbackServer,
    alert_queue: AlertQueue,
) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/run",
        "headers": {"Authorization": {"secretRef": "workflow-secrets/absent"}},
    }
    schedule = make_schedule(runner.queries, [step])

    assert runner.fire(schedule).outcome == "failed"

    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Failed"
    assert "workflow-secrets/absent" in event["detail"]["error"]
    assert http_server.requests == []


def test_a_successful_run_publishes_nothing(
    runner: Runner,
    http_server: LoopbackServer,
    alert_queue: AlertQueue,
    put_events_calls: list[dict[str, Any]],
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))

    assert runner.fire(schedule).outcome == "succeeded"

    assert put_events_calls == []
    assert alert_queue.received() == []


def test_a_redelivered_failed_fire_publishes_nothing_more(
    runner: Runner,
    http_server: LoopbackServer,
    alert_queue: AlertQueue,
    put_events_calls: list[dict[str, Any]],
) -> None:
    http_server.status = 503
    schedule = make_schedule(runner.queries, http_steps(http_server))
    assert runner.fire(schedule, invocation="first").outcome == "failed"
    assert len(alert_queue.received()) == 1

    # EventBridge delivers the same fire again, and Lambda retries the first invocation
    again = runner.fire(schedule, attempt=2, invocation="second")
    retried = runner.fire(schedule, invocation="first")

    assert (again.outcome, retried.outcome) == ("duplicate", "duplicate")
    assert len(http_server.requests) == 1
    assert len(put_events_calls) == 1
    assert alert_queue.received() == []


def test_a_skipped_overlap_publishes_nothing(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    runner.lock.acquire(schedule["workflow_id"], 60, owner="another run")

    assert runner.fire(schedule).outcome == "skipped"

    assert alert_queue.received() == []


def _throttled(**_: Any) -> None:
    raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutEvents")


def _one_entry_refused(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    entries = [{"EventId": "1"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]
    return AWSResponse("https://events", 200, {}, None), {
        "FailedEntryCount": 1,
        "Entries": entries,
    }


@pytest.mark.parametrize(
    ("answer", "unpublished"),
    [
        (_throttled, ["Run Failed", "Schedule Disabled"]),
        (_one_entry_refused, ["Schedule Disabled"]),
    ],
    ids=["raises", "refuses-one-entry"],
)
def test_a_failing_put_events_is_logged_and_counted_and_the_run_stays_recorded_failed(
    answer: Callable[..., Any],
    unpublished: list[str],
    queries: AllQueries,
    aws: None,
    alert_queue: AlertQueue,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_locks_table(clients.aws_client("dynamodb"), "workflow-locks")
    workflow = queries.workflows.create_workflow(OWNER, "broken", {"steps": [{"type": "teleport"}]})
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="* * * * *", timezone="UTC", enabled=True
    )
    _on_put_events(answer)
    metrics.clear_metrics()  # what earlier tests' runs added outside a handler
    event = {
        "scheduleId": str(schedule["id"]),
        "workflowId": str(workflow["id"]),
        "scheduledTime": datetime.now(UTC).replace(second=0, microsecond=0).isoformat(),
        "attempt": "1",
    }

    result = lambda_handler(event, _LambdaContext())

    assert result["outcome"] == "failed"
    [run] = queries.schedules.list_runs(schedule["id"])
    assert (str(run["id"]), run["status"]) == (result["runId"], "failed")
    assert queries.schedules.get_schedule(schedule["id"])["enabled"] is False
    assert alert_queue.received() == []
    [record] = [r for r in caplog.records if r.getMessage() == "alert not published"]
    assert record.levelno == logging.ERROR
    logged = json.loads(logger.registered_formatter.format(record))
    assert logged["detail_types"] == unpublished
    assert logged["run_id"] == result["runId"]
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert emf["AlertPublishFailed"] == [float(len(unpublished))]
    assert emf.get("AlertPublished", [0.0]) == [2.0 - len(unpublished)]


class _LambdaContext:
    function_name = "RunnerFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:runner"
    aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _run_ref(**fields: Any) -> alerts.RunRef:
    return alerts.RunRef(
        **{
            "run_id": uuid.uuid4(),
            "schedule_id": uuid.uuid4(),
            "workflow_id": uuid.uuid4(),
            "scheduled_time": SEVEN,
            "trigger": "schedule",
            **fields,
        }
    )


def test_a_missed_fire_is_published_as_run_missed(alert_queue: AlertQueue) -> None:
    run = _run_ref(owner_id=OWNER)
    missed = alerts.run_missed(run, "no delivery", occurred_at=SEVEN + timedelta(minutes=5))

    assert alerts.publish([missed], time_left_s=60) is True

    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Missed"
    assert event["detail"]["error"] == "no delivery"
    assert event["detail"]["attempt"] is None
    assert event["detail"]["dedupeKey"] == f"{run.run_id}:missed"
    assert event["time"] == "2026-11-27T07:05:00Z"


def test_a_long_error_is_cut_to_a_thousand_characters(alert_queue: AlertQueue) -> None:
    failed = alerts.run_failed(_run_ref(), "x" * 5000, occurred_at=SEVEN)

    assert alerts.publish(failed, time_left_s=60) is True

    [event] = alert_queue.received()
    assert len(event["detail"]["error"]) == alerts.MAX_ERROR_CHARS
    assert event["detail"]["error"].endswith("…")


def test_with_too_little_time_left_nothing_is_sent(
    alert_queue: AlertQueue, put_events_calls: list[dict[str, Any]]
) -> None:
    failed = alerts.run_failed(_run_ref(), "boom", occurred_at=SEVEN)

    assert alerts.publish(failed, time_left_s=alerts.MAX_PUBLISH_S - 1) is False

    assert put_events_calls == []
    assert alert_queue.received() == []


def test_alerts_go_to_the_bus_alert_event_bus_names(
    alert_queue: AlertQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, sqs = clients.aws_client("events"), clients.aws_client("sqs")
    events.create_event_bus(Name="alerts")
    url = sqs.create_queue(QueueName="alerts-bus-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    pattern = json.dumps(alerts.EVENT_PATTERN)
    events.put_rule(Name="alerts-bus", EventBusName="alerts", EventPattern=pattern)
    targets = [{"Id": "queue", "Arn": arn["QueueArn"]}]
    events.put_targets(Rule="alerts-bus", EventBusName="alerts", Targets=targets)
    monkeypatch.setenv("ALERT_EVENT_BUS", "alerts")
    get_settings.cache_clear()

    failed = alerts.run_failed(_run_ref(), "boom", occurred_at=SEVEN)
    published = alerts.publish(failed, time_left_s=60)

    assert published is True
    assert [event["detail-type"] for event in AlertQueue(url).received()] == ["Run Failed"]
    assert alert_queue.received() == []  # the default bus saw nothing
    get_settings.cache_clear()
