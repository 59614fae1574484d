"""Retention of schedules' exceptions (issue #26 review), on real Postgres: an exception whose
time (its occurrence, and a move's new time) passed longer ago than the run history is kept is
deleted by the retention pass, in batches; one whose new time is inside the period, and every
one still to come, stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.policies.retention import delete_expired_exceptions
from scheduler.store.exceptions import ExceptionQueries

from tests.conftest import EVENTS
from tests.integration.runner_fixtures import make_schedule
from tests.queries import AllQueries

KEEP_DAYS = 90


def _add(queries: AllQueries, schedule: dict[str, Any], occurrence: datetime, **move: Any) -> None:
    ExceptionQueries(queries.db).add_exception(
        schedule["id"],
        occurrence=occurrence,
        action="move" if move else "skip",
        move_to=move.get("to"),
        note=None,
        created_by="test",
    )


def _occurrences(queries: AllQueries) -> list[datetime]:
    rows = queries.db.execute("select occurrence from schedule_exceptions order by occurrence")
    return [row["occurrence"] for row in rows.fetchall()]


def test_exceptions_older_than_the_history_kept_are_deleted_in_batches(
    queries: AllQueries,
) -> None:
    schedule = make_schedule(queries, [])
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    cutoff = now - timedelta(days=KEEP_DAYS)
    old = [cutoff - timedelta(days=d) for d in (30, 20, 10)]
    for occurrence in old[:2]:
        _add(queries, schedule, occurrence)
    _add(queries, schedule, old[2], to=old[2] + timedelta(hours=3))
    # moved from before the cutoff to after it: its new time is inside the period
    straddling = cutoff - timedelta(hours=1)
    _add(queries, schedule, straddling, to=cutoff + timedelta(hours=1))
    recent, ahead = now - timedelta(days=1), now + timedelta(days=1)
    _add(queries, schedule, recent)
    _add(queries, schedule, ahead)

    deleted = delete_expired_exceptions(
        ExceptionQueries(queries.db), keep_days=KEEP_DAYS, now=now, more=lambda: True, batch_size=2
    )

    assert deleted == 3
    assert _occurrences(queries) == [straddling, recent, ahead]
    again = delete_expired_exceptions(
        ExceptionQueries(queries.db), keep_days=KEEP_DAYS, now=now, more=lambda: True
    )
    assert again == 0


def test_the_retention_function_deletes_expired_exceptions(
    queries: AllQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUN_HISTORY_DAYS", raising=False)
    schedule = make_schedule(queries, [])
    now = datetime.now(UTC).replace(microsecond=0)
    _add(queries, schedule, now - timedelta(days=91))
    _add(queries, schedule, now - timedelta(days=89))
    from devstack.apigw import LambdaContext
    from functions.retention.app import lambda_handler

    event = json.loads((EVENTS / "retention.json").read_text())
    summary = lambda_handler(event, LambdaContext(function_name="RetentionFunction", timeout_s=300))

    assert summary["exceptions_deleted"] == 1
    assert _occurrences(queries) == [now - timedelta(days=89)]
