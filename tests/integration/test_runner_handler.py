"""RunnerFunction's handler: the events it accepts, what it drops, and one run end to end."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from scheduler import clients
from scheduler.observability import logger
from scheduler.run.event import parse_event

from functions.runner.app import lambda_handler
from tests.conftest import EVENTS
from tests.integration.runner_fixtures import create_locks_table
from tests.queries import AllQueries

OWNER = uuid.UUID("00000000-0000-4000-8000-00000000a11c")


@dataclass
class LambdaContext:
    function_name: str = "RunnerFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:runner"
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_the_sample_events_parse_with_attempt_as_a_string_or_a_number() -> None:
    scheduled = parse_event(_sample("runner-scheduled.json"))
    manual = parse_event(_sample("runner-manual.json"))

    assert scheduled is not None
    assert manual is not None
    assert (scheduled.attempt, scheduled.trigger) == (1, "schedule")
    assert scheduled.scheduled_time == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert (manual.attempt, manual.trigger) == (1, "manual")


@pytest.mark.parametrize(
    "change",
    [
        {"scheduleId": "not-a-uuid"},
        {"workflowId": None},
        {"scheduledTime": "2026-11-27T07:00:00"},  # no offset: ambiguous
        {"scheduledTime": "tomorrow"},
        {"attempt": "zero"},
        {"attempt": "0"},
        {"trigger": "cron"},
    ],
)
def test_a_malformed_event_is_dropped_without_raising(
    change: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    event = {**_sample("runner-scheduled.json"), **change}

    assert lambda_handler(event, LambdaContext()) == {"outcome": "dropped"}
    assert "malformed runner event dropped" in caplog.messages


@pytest.mark.parametrize("event", [{}, [], "run", None])
def test_a_non_object_event_is_dropped(event: Any) -> None:
    assert lambda_handler(event, LambdaContext()) == {"outcome": "dropped"}


def test_a_scheduled_fire_runs_end_to_end_and_emits_metrics(
    queries: AllQueries,
    aws: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_locks_table(clients.aws_client("dynamodb"), "workflow-locks")
    workflow = queries.workflows.create_workflow(OWNER, "empty", {"steps": []})
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="* * * * *", timezone="UTC", enabled=True
    )
    fire_time = datetime.now(UTC).replace(second=0, microsecond=0)
    event = {
        **_sample("runner-scheduled.json"),
        "scheduleId": str(schedule["id"]),
        "workflowId": str(workflow["id"]),
        "scheduledTime": fire_time.isoformat().replace("+00:00", "Z"),
        "attempt": "2",
    }

    result = lambda_handler(event, LambdaContext())

    assert result["outcome"] == "succeeded"
    [run] = queries.schedules.list_runs(schedule["id"])
    assert (str(run["id"]), run["status"], run["attempt"]) == (result["runId"], "succeeded", 2)
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert emf["RunSucceeded"] == [1.0]
    assert "RunStartLateness" in emf
    [finished] = [record for record in caplog.records if record.getMessage() == "run finished"]
    logged = json.loads(logger.registered_formatter.format(finished))
    assert logged["schedule_id"] == str(schedule["id"])
    assert logged["workflow_id"] == str(workflow["id"])
    assert logged["run_id"] == result["runId"]
    assert logged["scheduled_time"] == event["scheduledTime"]
