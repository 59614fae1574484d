"""No half-made exception: Scheduler API and database failures while a move is added or removed
leave the row, its audit event and its at() schedule together, as before the request (injected
as in test_api_consistency: botocore hooks on the moto-backed client, a dropped connection)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_api_consistency import (  # noqa: F401  (fixture)
    Hook,
    _fail_with,
    _kill_api_connection,
    hooks,
)
from tests.integration.test_schedule_exceptions import _fires, _iso, _schedule


def _state(clean_db: str, eventbridge: EventBridgeSchedules) -> tuple[Any, Any, list[str]]:
    with psycopg.connect(clean_db, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("select * from schedule_exceptions order by id").fetchall()
        events = conn.execute(
            "select action from audit_events where action like 'exception%' order by occurred_at"
        ).fetchall()
    moves = sorted(n for n in eventbridge.list_names() if n.startswith("move-"))
    return rows, events, moves


def _fail_once(code: str) -> Hook:
    """A before-call hook that fails the first call with `code`, then lets every call through."""
    fail = _fail_with(code)
    done: list[bool] = []

    def hook(**kwargs: Any) -> None:
        if not done:
            done.append(True)
            fail(**kwargs)

    return hook


def _move(api: Api, schedule_id: str) -> tuple[int, Any]:
    first = _fires(1)[0]
    body = {"occurrence": _iso(first), "action": "move", "moveTo": _iso(first + timedelta(hours=1))}
    return api.call("POST", f"/api/schedules/{schedule_id}/exceptions", body=body)


def test_a_move_whose_at_cannot_be_made_adds_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule = _schedule(api, workflows["alice"])
    hooks("before-call.scheduler.CreateSchedule", _fail_with("InternalServerException"))

    status, body = _move(api, schedule["id"])

    assert status == 503, body
    assert _state(clean_db, eventbridge) == ([], [], [])


def test_a_move_whose_commit_fails_removes_its_at(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule = _schedule(api, workflows["alice"])
    hooks("after-call.scheduler.CreateSchedule", _kill_api_connection())

    status, body = _move(api, schedule["id"])

    assert status == 503, body
    assert _state(clean_db, eventbridge) == ([], [], [])


def test_a_remove_that_eventbridge_or_the_commit_fails_keeps_the_move_and_its_at(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule = _schedule(api, workflows["alice"])
    status, added = _move(api, schedule["id"])
    assert status == 201, added
    before = _state(clean_db, eventbridge)
    path = f"/api/schedules/{schedule['id']}/exceptions/{added['id']}"
    assert before[2] == [f"move-{added['id']}"]

    hooks("before-call.scheduler.DeleteSchedule", _fail_once("ThrottlingException"))
    status, body = api.call("DELETE", path)
    assert status == 503, body
    assert _state(clean_db, eventbridge) == before

    hooks("after-call.scheduler.DeleteSchedule", _kill_api_connection())
    status, body = api.call("DELETE", path)
    assert status == 503, body
    assert _state(clean_db, eventbridge) == before  # the at() was made again
    # and with nothing failing, it goes
    assert api.call("DELETE", path)[0] == 204
    rows, events, moves = _state(clean_db, eventbridge)
    assert (rows, moves) == ([], [])
    assert [e["action"] for e in events] == ["exception_added", "exception_removed"]
