"""ApiFunction's overhead: in-process handler time ÷ the raw SQL and Scheduler calls it must make.

The handler is called with API Gateway v2 events (built outside the timing). The raw side
replays, through one psycopg connection and the same boto3 Scheduler client, the statements the
handler sent in a warm-up call (create: in a transaction, with the CreateSchedule of each
EventBridge schedule the row needs, named after the new row). Both sides alternate.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import backends

ROUNDS = backends.sized(200, 4)
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")
PAGE = 20  # the API's default page size; Bob's listing returns one full page
# The ScheduleService method behind each measured route.
USE_CASES = {"create": "create_schedule", "get": "get_schedule", "list": "list_schedules"}
CRONS = ("0 7 * * MON-FRI", "*/15 * * * *", "30 2 1 * *", "0 9 * * 1", "0 0 1 1 *")


def _claims(owner: uuid.UUID) -> dict[str, str]:
    return {"sub": str(owner), "role": "authenticated", "aud": "authenticated"}


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.fresh_backends(), backends.quiet_logs():
        return _measure()


def _measure() -> dict[str, float]:
    import psycopg
    from psycopg.rows import dict_row
    from scheduler import clients
    from scheduler.store.db import database
    from scheduler.store.schedules import ScheduleQueries
    from scheduler.store.workflows import WorkflowQueries

    from devstack.apigw import LambdaContext, build_http_api_event
    from functions.api.app import lambda_handler

    db = database()
    workflows, schedules = WorkflowQueries(db), ScheduleQueries(db)
    alice_workflow = workflows.create_workflow(ALICE, "daily report")["id"]
    bob_workflow = workflows.create_workflow(BOB, "bob's sync")["id"]
    for index in range(PAGE):
        schedules.create_schedule(
            BOB,
            workflow_id=bob_workflow,
            cron=CRONS[index % len(CRONS)],
            timezone="Europe/Berlin",
            enabled=True,
        )
    detailed = schedules.create_schedule(
        ALICE, workflow_id=alice_workflow, cron=CRONS[0], timezone="Europe/Berlin", enabled=True
    )
    db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time, status,
                                      started_at, finished_at, attempt)
           values (%s, %s, 'schedule', now() - interval '1 day', 'succeeded',
                   now() - interval '1 day', now() - interval '1 day', 1)""",
        (detailed["id"], alice_workflow),
    )
    scheduler = clients.aws_client("scheduler")
    connection = db.connection()  # connected before counting, as in a warm Lambda

    def call(method: str, path: str, owner: uuid.UUID, body: Any = None) -> Callable[[], float]:
        raw_body = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if body is not None else {}

        def timed() -> float:
            event = build_http_api_event(method, path, "", headers, raw_body, _claims(owner))
            context = LambdaContext()
            started = time.perf_counter()
            response = lambda_handler(event, context)
            elapsed = time.perf_counter() - started
            if response["statusCode"] not in (200, 201):
                raise RuntimeError(f"{method} {path} answered {response}")
            return elapsed

        return timed

    create = call(
        "POST",
        "/api/schedules",
        ALICE,
        {"workflowId": str(alice_workflow), "cron": CRONS[0], "timezone": "Europe/Berlin"},
    )
    cases = {
        "create": create,
        "get": call("GET", f"/api/schedules/{detailed['id']}", ALICE),
        "list": call("GET", "/api/schedules", BOB),
    }
    results: dict[str, float] = {}
    url = backends.database_url()
    with psycopg.connect(url, autocommit=True, prepare_threshold=None, row_factory=dict_row) as raw:
        for name, handler_call in cases.items():
            use_case = USE_CASES[name]
            with (
                backends.recorded_statements(connection) as statements,
                backends.recorded_requests(scheduler) as requests,
                _answers_of(use_case) as answers,
            ):
                handler_call()  # warm-up, and what the raw side replays
            replay = _replay(raw, scheduler, statements, requests)
            results[f"api.{name}.sql_statements"] = len(statements)
            results[f"api.{name}.scheduler_calls"] = len(requests)
            replay()
            handler_times, raw_times = backends.interleaved(handler_call, replay, ROUNDS)
            results.update(backends.ratio_of_medians(f"api.{name}_ratio", handler_times, raw_times))
            results[f"api.{name}.handler_ms"] = 1000 * statistics.median(handler_times)
            # The least the ratio could be: the handler around a use case that costs nothing.
            with _answering(use_case, answers[-1]):
                shell_times, raw_times = backends.interleaved(handler_call, replay, ROUNDS // 2)
            shell, raw_s = statistics.median(shell_times), statistics.median(raw_times)
            results[f"api.{name}.floor_ratio"] = (shell + raw_s) / raw_s
    return results


@contextmanager
def _answers_of(use_case: str) -> Iterator[list[Any]]:
    """What the ScheduleService method returns while the block runs."""
    from scheduler.api.schedules import ScheduleService

    original = getattr(ScheduleService, use_case)
    answers: list[Any] = []

    def answering(*args: Any, **kwargs: Any) -> Any:
        answers.append(original(*args, **kwargs))
        return answers[-1]

    setattr(ScheduleService, use_case, answering)
    try:
        yield answers
    finally:
        setattr(ScheduleService, use_case, original)


@contextmanager
def _answering(use_case: str, answer: Any) -> Iterator[None]:
    """The ScheduleService method replaced by its answer: no SQL, no Scheduler call, no work."""
    from scheduler.api.schedules import ScheduleService

    original = getattr(ScheduleService, use_case)
    setattr(ScheduleService, use_case, lambda *_args, **_kwargs: answer)
    try:
        yield
    finally:
        setattr(ScheduleService, use_case, original)


def _rows(cursor: Any) -> list[Any]:
    """What a statement answered; nothing for one that returns no rows (an insert's record)."""
    return cursor.fetchall() if cursor.description is not None else []


def _replay(
    raw: Any,
    scheduler: Any,
    statements: list[tuple[Any, Any]],
    requests: list[tuple[str, dict[str, Any]]],
) -> Callable[[], float]:
    """The statements again, as one transaction when the handler wrote; for each EventBridge
    schedule the handler created, one CreateSchedule named after the row just inserted."""
    creates = [params for operation, params in requests if operation == "CreateSchedule"]
    writes = any(str(query).lstrip().lower().startswith("insert") for query, _ in statements)

    def run() -> float:
        started = time.perf_counter()
        if not writes:
            for query, params in statements:
                _rows(raw.execute(query, params))
            return time.perf_counter() - started
        with raw.transaction():
            rows = [_rows(raw.execute(query, params)) for query, params in statements]
            inserted = next(
                answer
                for (query, _), answer in zip(statements, rows, strict=True)
                if str(query).lstrip().lower().startswith("insert")
            )
            new_id = str(inserted[0]["id"])
            for params in creates:
                old_id = json.loads(params["Target"]["Input"])["scheduleId"]
                scheduler.create_schedule(
                    **{
                        **params,
                        "Name": params["Name"].replace(old_id, new_id),
                        "Target": {
                            **params["Target"],
                            "Input": params["Target"]["Input"].replace(old_id, new_id),
                        },
                    }
                )
        return time.perf_counter() - started

    return run


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
