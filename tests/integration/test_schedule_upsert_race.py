"""Concurrent PUTs of one externalId (two API Lambdas, each its own database connection) end with
exactly one schedule and one EventBridge schedule, and both answers name it. Real Postgres,
moto's Scheduler API; the race is forced by holding the first PUT inside its EventBridge call
while the second one's insert waits on the unique index."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from scheduler.api.schedule_upsert import upsert_schedule
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
from scheduler.models.schedule_views import ScheduleView
from scheduler.models.schedules import ScheduleUpsert
from scheduler.store.db import Database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    Api,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)
from tests.integration.test_api_consistency import Hook, hooks  # noqa: F401  (fixture)

WAIT_S = 10  # how long a test waits for the other party before giving up (a hang is a failure)
# Two API writers and lock waits: run alone (`make test`), not beside another worker.
pytestmark = pytest.mark.serial


@pytest.fixture
def services(clean_db: str) -> Iterator[Callable[[], ScheduleService]]:
    """ScheduleServices on connections of their own (another Lambda's each), closed after."""
    opened: list[Database] = []

    def open_service() -> ScheduleService:
        database = Database(clean_db)
        opened.append(database)
        return ScheduleService(
            ScheduleServiceQueries.over(database), EventBridgeSchedules(), lambda _: None
        )

    yield open_service
    for database in opened:
        database.close()


def _waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and row[0] > 0


def _wait_until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "the other party never got there"
        time.sleep(0.02)


def test_two_concurrent_puts_of_one_external_id_make_one_schedule(
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    services: Callable[[], ScheduleService],
) -> None:
    body = ScheduleUpsert.model_validate(
        {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "name": "sync"}
    )
    first_in_eventbridge, release = threading.Event(), threading.Event()

    def hold_the_first(**_: Any) -> None:
        if not first_in_eventbridge.is_set():
            first_in_eventbridge.set()
            release.wait(WAIT_S)

    hooks("before-call.scheduler.CreateSchedule", hold_the_first)
    first_service, second_service = services(), services()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(upsert_schedule, first_service, ALICE, "sync-c42", body)
        try:
            # Given the first PUT has inserted its row and is inside its EventBridge call
            assert first_in_eventbridge.wait(WAIT_S)
            # When a second PUT of the same externalId comes meanwhile (it finds no committed
            # schedule, and its insert waits on the unique index)
            second = pool.submit(upsert_schedule, second_service, ALICE, "sync-c42", body)
            _wait_until(lambda: _waiting_on_a_lock(clean_db))
        finally:
            release.set()
        (first_view, first_created) = first.result(WAIT_S)
        (second_view, second_created) = second.result(WAIT_S)

    # Then one created it and the other found it as its body says: one schedule, both named
    assert (first_created, second_created) == (True, False)
    assert isinstance(second_view, ScheduleView)
    assert second_view == first_view
    rows = database_state(clean_db)
    assert [(row["id"], row["external_id"]) for row in rows] == [(first_view.id, "sync-c42")]
    assert list(eventbridge_state(eventbridge)) == [str(first_view.id)]


def test_concurrent_puts_started_together_make_one_schedule_per_external_id(
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    services: Callable[[], ScheduleService],
) -> None:
    # Four writers started together, with different bodies for one externalId, several rounds
    bodies = [
        ScheduleUpsert.model_validate(
            {"workflowId": str(workflows["alice"]), "cron": f"{minute} 7 * * *"}
        )
        for minute in range(4)
    ]
    writers = [services() for _ in bodies]

    def put(
        start: threading.Barrier, service: ScheduleService, external_id: str, body: ScheduleUpsert
    ) -> tuple[ScheduleView, bool]:
        start.wait(WAIT_S)
        return upsert_schedule(service, ALICE, external_id, body)

    for round_ in range(3):
        start = threading.Barrier(len(writers))
        with ThreadPoolExecutor(max_workers=len(writers)) as pool:
            answers = [
                f.result(WAIT_S)
                for f in [
                    pool.submit(put, start, service, f"race-{round_}", body)
                    for service, body in zip(writers, bodies, strict=True)
                ]
            ]

        assert sum(created for _, created in answers) == 1
        assert len({view.id for view, _ in answers}) == 1

    rows = database_state(clean_db)
    assert sorted(row["external_id"] for row in rows) == ["race-0", "race-1", "race-2"]
    state = eventbridge_state(eventbridge)
    assert sorted(state) == sorted(str(row["id"]) for row in rows)
    # each EventBridge schedule holds its row's cron, whichever PUT was last
    for row in rows:
        minute = row["cron"].split()[0]
        assert state[str(row["id"])]["ScheduleExpression"] == f"cron({minute} 7 * * ? *)"
