"""The schedule list carries each schedule's newest run (`lastRun`), read in the page's query.

The dashboard's table shows every schedule's last run status: the list answers it, so a page
costs one statement, not one per schedule.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from typing import Any

import pytest
from scheduler.store.db import Database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    Api,
    _create,
    _insert_run,
    api,
    eventbridge,
)
from tests.queries import process_queries


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement the API runs through the database from now on."""
    statements: list[str] = []
    execute = Database.execute

    def recording(self: Database, query: Any, params: Any = None) -> Any:
        statements.append(str(query))
        return execute(self, query, params)

    monkeypatch.setattr(Database, "execute", recording)
    return statements


def test_each_listed_schedule_carries_its_newest_run_from_one_query(
    api: Api, eventbridge: EventBridgeSchedules, clean_db: str, executed: list[str]
) -> None:

    # Given Alice's schedules: one never run, one whose newest run failed, one that succeeded,
    # and Bob's schedule with a newer run she must not see
    queries = process_queries()
    workflow = queries.workflows.create_workflow(ALICE, "report")["id"]
    never = _create(api, workflow)
    failed = _create(api, workflow, cron="0 8 * * *")
    succeeded = _create(api, workflow, cron="0 9 * * *")
    _insert_run(clean_db, failed, "2026-01-01T08:00:00Z")
    _insert_run(clean_db, failed, "2026-01-02T08:00:00Z", status="failed", error="HTTP 500")
    _insert_run(clean_db, succeeded, "2026-01-02T09:00:00Z")
    bobs = _create(Api(_claims(BOB)), queries.workflows.create_workflow(BOB, "sync")["id"])
    _insert_run(clean_db, bobs, "2026-01-03T09:00:00Z", status="failed", error="bob's")

    # When she lists them
    executed.clear()
    status, page = api.call("GET", "/api/schedules")

    # Then each item has its own newest run (null before the first), from a single statement
    assert status == 200, page
    last_runs = {item["id"]: item["lastRun"] for item in page["items"]}
    assert set(last_runs) == {never["id"], failed["id"], succeeded["id"]}
    assert last_runs[never["id"]] is None
    assert last_runs[failed["id"]] == {
        "status": "failed",
        "scheduledTime": "2026-01-02T08:00:00Z",
        "startedAt": "2026-01-02T08:00:00Z",
        "finishedAt": "2026-01-02T08:00:00Z",
        "error": "HTTP 500",
    }
    assert last_runs[succeeded["id"]]["status"] == "succeeded"
    assert last_runs[succeeded["id"]]["error"] is None
    assert len([s for s in executed if "schedule_runs" in s]) == 1, executed
    assert len([s for s in executed if "from schedules" in s]) == 1, executed


def test_a_paged_and_filtered_list_keeps_the_last_runs(
    api: Api, eventbridge: EventBridgeSchedules, clean_db: str
) -> None:

    # Given two workflows' schedules, each run once
    queries = process_queries()
    first, second = (queries.workflows.create_workflow(ALICE, name)["id"] for name in ("a", "b"))
    made = [_create(api, workflow) for workflow in (first, second, first)]
    for schedule in made:
        _insert_run(clean_db, schedule, "2026-01-05T07:00:00Z", status="skipped")

    # When she pages through one workflow's schedules, one a page
    status, page1 = api.call("GET", "/api/schedules", query=f"workflowId={first}&limit=1")
    assert status == 200, page1
    status, page2 = api.call(
        "GET", "/api/schedules", query=f"workflowId={first}&limit=1&cursor={page1['nextCursor']}"
    )

    # Then both pages' items carry their run
    items = page1["items"] + page2["items"]
    assert [item["id"] for item in items] == [made[2]["id"], made[0]["id"]]
    assert [item["lastRun"]["status"] for item in items] == ["skipped", "skipped"]


def _claims(owner: uuid.UUID) -> dict[str, Any]:
    return {"sub": str(owner), "role": "authenticated", "aud": "authenticated"}
