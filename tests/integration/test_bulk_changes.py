"""Bulk pause and resume (scheduler.api.bulk_changes) against the real Postgres and moto's
Scheduler API: every matching schedule changes in one transaction, bounded, owner-scoped, a dry
run writes nothing, and EventBridge follows; through the API's handler: the answer's shape, the
limit's 422, a read-only key's 403, an Idempotency-Key's replay.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from scheduler.api.bulk_changes import BulkChanges, BulkChangeServiceQueries
from scheduler.api.schedules import ScheduleService
from scheduler.config import get_settings
from scheduler.errors import InvalidInput
from scheduler.models.bulk_changes import BulkPause, BulkResume
from scheduler.models.schedules import ScheduleCreate
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    BOB_CLAIMS,
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_api_consistency import Hook, _fail_with, hooks  # noqa: F401
from tests.integration.test_api_keys import Gateway, _issue, gateway  # noqa: F401
from tests.queries import AllQueries, process_queries

OWNER = uuid.UUID("6f1c2a4e-0b7d-4c3e-9a51-2d8e7f6a1b90")
OTHER = uuid.UUID("0b0b0b0b-0b7d-4c3e-9a51-2d8e7f6a1b90")


@pytest.fixture(autouse=True)
def fast_drain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The drain's rate is a production bound on AWS's quota; moto has none."""
    monkeypatch.setenv("EVENTBRIDGE_DRAIN_RATE", "1000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class Fleet:
    """Schedules made through the API's use case (so EventBridge has them), and the bulk
    changes under test, over one Database."""

    def __init__(self, queries: AllQueries, eventbridge: EventBridgeSchedules) -> None:
        self.queries = queries
        self.eventbridge = eventbridge
        self.service = ScheduleService(queries.schedule_service, eventbridge, lambda _: None)
        self.bulk = BulkChanges(BulkChangeServiceQueries.over(queries.db), eventbridge)
        self.workflows: dict[UUID, UUID] = {}

    def workflow(self, owner: UUID, name: str = "report") -> UUID:
        workflow_id: UUID = self.queries.workflows.create_workflow(owner, name)["id"]
        return workflow_id

    def schedule(self, workflow_id: UUID, **fields: Any) -> UUID:
        request = ScheduleCreate.model_validate(
            {"workflowId": str(workflow_id), "cron": "*/5 * * * *", **fields}
        )
        return self.service.create_schedule(None, request).id

    def row(self, schedule_id: UUID) -> dict[str, Any]:
        return self.queries.schedules.get_schedule(schedule_id)

    def state(self, schedule_id: UUID) -> str:
        described = self.eventbridge.get(str(schedule_id))
        assert described is not None
        return str(described["State"])

    def pending(self) -> set[UUID]:
        rows = self.queries.db.execute(
            "select schedule_id from schedule_eventbridge_pending"
        ).fetchall()
        return {row["schedule_id"] for row in rows}


@pytest.fixture
def fleet(queries: AllQueries, eventbridge: EventBridgeSchedules) -> Fleet:
    return Fleet(queries, eventbridge)


def pause(**fields: Any) -> BulkPause:
    return BulkPause.model_validate({"note": "INC-42: vendor down", **fields})


def test_a_bulk_pause_pauses_every_match_with_the_note_and_eventbridge_follows(
    fleet: Fleet,
) -> None:
    # Given three enabled schedules of a workflow, one of it paused for its own reason, and a
    # schedule of another workflow
    incident = fleet.workflow(OWNER)
    enabled = sorted(fleet.schedule(incident) for _ in range(3))
    paused = fleet.schedule(incident, enabled=False, note="own reason")
    elsewhere = fleet.schedule(fleet.workflow(OWNER, "other"))

    # When every schedule of the workflow is paused
    result = fleet.bulk.pause(OWNER, pause(filter={"workflowId": str(incident)}))

    # Then the enabled ones are paused with the note, in EventBridge too; the paused one keeps
    # its note; the other workflow's is untouched; nothing is left pending
    assert (result.matched, result.changed, result.ids) == (4, 3, enabled)
    assert result.eventbridge_pending == 0
    for schedule_id in enabled:
        row = fleet.row(schedule_id)
        assert (row["enabled"], row["note"]) == (False, "INC-42: vendor down")
        assert fleet.state(schedule_id) == "DISABLED"
    assert fleet.row(paused)["note"] == "own reason"
    assert fleet.row(elsewhere)["enabled"] is True
    assert fleet.state(elsewhere) == "ENABLED"
    assert fleet.pending() == set()

    # And pausing again changes nothing (a no-op, safe to retry)
    again = fleet.bulk.pause(OWNER, pause(filter={"workflowId": str(incident)}))
    assert (again.matched, again.changed, again.ids) == (4, 0, [])


def test_a_bulk_resume_resumes_like_a_patch_and_sets_or_keeps_the_note(fleet: Fleet) -> None:
    incident = fleet.workflow(OWNER)
    ids = [fleet.schedule(incident, name=f"s{i}") for i in range(2)]  # ids[i] is named s{i}
    fleet.bulk.pause(OWNER, pause(filter={"workflowId": str(incident)}))
    fleet.queries.db.execute(
        "update schedules set consecutive_failures = 2, disabled_reason = 'x' where id = %s",
        (ids[0],),
    )

    # note left out: notes stay as they are
    kept = fleet.bulk.resume(OWNER, BulkResume.model_validate({"filter": {"q": "s0"}}))
    assert kept.ids == [ids[0]]
    row = fleet.row(ids[0])
    assert (row["enabled"], row["note"], row["disabled_reason"], row["consecutive_failures"]) == (
        True,
        "INC-42: vendor down",
        None,
        0,
    )
    assert fleet.state(ids[0]) == "ENABLED"

    # note null: removed
    cleared = fleet.bulk.resume(OWNER, BulkResume.model_validate({"note": None}))
    assert cleared.ids == [ids[1]]
    assert (fleet.row(ids[1])["enabled"], fleet.row(ids[1])["note"]) == (True, None)
    assert fleet.state(ids[1]) == "ENABLED"


def test_more_matches_than_the_limit_change_nothing_and_the_error_names_the_count(
    fleet: Fleet,
) -> None:
    workflow = fleet.workflow(OWNER)
    ids = [fleet.schedule(workflow) for _ in range(3)]

    with pytest.raises(InvalidInput, match=r"limit: 3 schedules match, more than the limit of 2"):
        fleet.bulk.pause(OWNER, pause(limit=2))

    assert all(fleet.row(i)["enabled"] for i in ids)
    assert fleet.pending() == set()
    # raising the limit is the caller's explicit choice
    assert fleet.bulk.pause(OWNER, pause(limit=3)).changed == 3


def test_a_dry_run_counts_and_lists_and_writes_nothing(fleet: Fleet) -> None:
    workflow = fleet.workflow(OWNER)
    ids = sorted(fleet.schedule(workflow) for _ in range(2))
    fleet.schedule(workflow, enabled=False)

    result = fleet.bulk.pause(OWNER, pause(dryRun=True))

    assert (result.dry_run, result.matched, result.changed, result.ids) == (True, 3, 2, ids)
    assert all(fleet.row(i)["enabled"] for i in ids)
    assert all(fleet.state(i) == "ENABLED" for i in ids)
    assert fleet.pending() == set()


def test_a_bulk_change_sees_only_the_callers_schedules(fleet: Fleet) -> None:
    mine = fleet.schedule(fleet.workflow(OWNER))
    theirs = fleet.schedule(fleet.workflow(OTHER))

    result = fleet.bulk.pause(OWNER, pause())

    assert result.ids == [mine]
    assert fleet.row(theirs)["enabled"] is True
    # the service (owner None) sees every schedule
    assert fleet.bulk.pause(None, pause()).ids == [theirs]


def test_a_resume_skips_a_row_that_can_no_longer_be_scheduled(fleet: Fleet) -> None:
    workflow = fleet.workflow(OWNER)
    good = fleet.schedule(workflow, enabled=False)
    stale = fleet.schedule(workflow, enabled=False)
    # a zone the row was written with and tzdata no longer knows (written around the API)
    fleet.queries.db.execute(
        "update schedules set timezone = 'Mars/Olympus_Mons' where id = %s", (stale,)
    )

    result = fleet.bulk.resume(OWNER, BulkResume.model_validate({}))

    assert (result.ids, result.skipped) == ([good], [stale])
    assert fleet.row(stale)["enabled"] is False


def test_a_bulk_pause_and_resume_take_one_time_schedules_like_recurring_ones(
    fleet: Fleet,
) -> None:
    workflow = fleet.workflow(OWNER)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    once = fleet.schedule(workflow, cron=None, at=at.isoformat())
    hourly = fleet.schedule(workflow)

    paused = fleet.bulk.pause(OWNER, pause())
    assert sorted(paused.ids) == sorted([once, hourly])
    assert fleet.state(str(once)) == "DISABLED"

    resumed = fleet.bulk.resume(OWNER, BulkResume.model_validate({}))

    assert (sorted(resumed.ids), resumed.skipped) == (sorted([once, hourly]), [])
    assert fleet.row(once)["enabled"] is True
    assert fleet.row(once)["run_at"] == at
    assert fleet.state(str(once)) == "ENABLED"
    described = fleet.eventbridge.get(str(once))
    assert described is not None
    assert described["ScheduleExpression"].startswith("at(")


# --- through the API's handler


def _bulk_body(workflow_id: UUID, **fields: Any) -> dict[str, Any]:
    return {"filter": {"workflowId": str(workflow_id)}, "note": "INC-7", **fields}


def test_the_api_pauses_and_answers_in_camel_case_and_a_keyed_retry_replays(
    api: Api, workflows: dict[str, UUID], eventbridge: EventBridgeSchedules
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    created = [api.call("POST", "/api/schedules", body=body)[1]["id"] for _ in range(2)]
    key = {"idempotency-key": f"bulk-{uuid.uuid4()}"}

    status, answer = api.call(
        "POST", "/api/schedules/bulk-pause", body=_bulk_body(workflows["alice"]), headers=key
    )

    assert status == 200, answer
    assert answer == {
        "action": "pause",
        "dryRun": False,
        "matched": 2,
        "changed": 2,
        "ids": sorted(created),
        "skipped": [],
        "eventbridgePending": 0,
    }
    assert {eventbridge.get(i)["State"] for i in created} == {"DISABLED"}  # type: ignore[index]
    # the same key and request: the first answer, nothing done again
    assert api.call(
        "POST", "/api/schedules/bulk-pause", body=_bulk_body(workflows["alice"]), headers=key
    ) == (200, answer)
    # the same key with another request: 422
    status, other = api.call(
        "POST",
        "/api/schedules/bulk-pause",
        body=_bulk_body(workflows["alice"], note="other"),
        headers=key,
    )
    assert status == 422, other


def test_the_api_refuses_an_over_limit_request_with_a_422_naming_the_count(
    api: Api, workflows: dict[str, UUID]
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    for _ in range(2):
        api.call("POST", "/api/schedules", body=body)

    status, answer = api.call(
        "POST", "/api/schedules/bulk-pause", body=_bulk_body(workflows["alice"], limit=1)
    )
    assert status == 422, answer
    assert "2 schedules match" in answer["error"]["message"]

    status, answer = api.call(
        "POST", "/api/schedules/bulk-pause", body=_bulk_body(workflows["alice"], limit=10_001)
    )
    assert status == 422, answer
    assert "limit" in answer["error"]["message"]

    status, answer = api.call("POST", "/api/schedules/bulk-pause", body={"filter": {}})
    assert status == 422, answer
    assert "note: required to pause" in answer["error"]["message"]
    # a dry run needs no note: the dashboard counts before it asks for one
    status, answer = api.call(
        "POST", "/api/schedules/bulk-pause", body={"filter": {}, "dryRun": True, "limit": 10_000}
    )
    assert (status, answer["matched"], answer["changed"]) == (200, 2, 2), answer

    status, answer = api.call(
        "POST", "/api/schedules/bulk-resume", body={"filter": {"label": ["no-equals-sign"]}}
    )
    assert status == 422, answer
    assert "label" in answer["error"]["message"]
    assert all(row["enabled"] for row in process_queries().schedules.iter_all_schedules())


def test_a_read_only_key_cannot_bulk_change(
    api: Api, gateway: Gateway, workflows: dict[str, UUID]
) -> None:
    api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"},
    )
    key = _issue(api, readOnly=True)["key"]

    for path in ("/api/schedules/bulk-pause", "/api/schedules/bulk-resume"):
        status, answer = gateway.call(key, "POST", path, body=_bulk_body(workflows["alice"]))
        assert status == 403, (path, answer)
    assert all(row["enabled"] for row in process_queries().schedules.iter_all_schedules())


def test_a_user_bulk_change_never_reaches_another_users_schedules(
    api: Api, workflows: dict[str, UUID]
) -> None:
    mine = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )[1]
    theirs = Api(BOB_CLAIMS).call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["bob"]), "cron": "0 7 * * *"}
    )[1]

    status, answer = api.call("POST", "/api/schedules/bulk-pause", body={"note": "all of mine"})

    assert status == 200, answer
    assert answer["ids"] == [mine["id"]]
    assert process_queries().schedules.get_schedule(UUID(theirs["id"]))["enabled"] is True


def test_a_bulk_pause_by_label_and_a_resume_by_the_incident_note(fleet: Fleet) -> None:
    # Given schedules of two teams, and one of the billing team paused before the incident
    workflow = fleet.workflow(OWNER)
    billing = sorted(fleet.schedule(workflow, labels={"team": "billing"}) for _ in range(2))
    paused_before = fleet.schedule(
        workflow, labels={"team": "billing"}, enabled=False, note="retired"
    )
    search = fleet.schedule(workflow, labels={"team": "search"})

    # When the incident pauses everything labelled team=billing
    paused = fleet.bulk.pause(OWNER, pause(filter={"label": ["team=billing"]}))

    # Then only those change, and a resume filtered by the incident's note (q searches notes)
    # resumes exactly them, not the schedule paused before for its own reason
    assert (paused.matched, paused.ids) == (3, billing)
    assert fleet.row(search)["enabled"] is True
    resumed = fleet.bulk.resume(
        OWNER,
        BulkResume.model_validate({"filter": {"label": ["team=billing"], "q": "INC-42"}}),
    )
    assert resumed.ids == billing
    assert fleet.row(paused_before)["enabled"] is False


def test_a_dry_run_says_how_many_eventbridge_updates_are_still_pending(
    fleet: Fleet, queries: AllQueries
) -> None:
    fleet.schedule(fleet.workflow(OWNER))
    fleet.bulk.budget_s = 0  # a request that got none of its updates in
    assert fleet.bulk.pause(OWNER, pause()).eventbridge_pending == 1

    counted = fleet.bulk.resume(OWNER, BulkResume.model_validate({"dryRun": True}))

    assert (counted.changed, counted.eventbridge_pending) == (1, 1)


def test_through_the_api_an_eventbridge_failure_answers_200_with_updates_pending(
    api: Api, workflows: dict[str, UUID], hooks: Callable[[str, Hook], None]
) -> None:
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    for _ in range(3):
        api.call("POST", "/api/schedules", body=body)
    hooks("before-call.scheduler.UpdateSchedule", _fail_with("ThrottlingException", after_calls=1))

    # The database change is committed: the answer is a success, saying what is left
    status, answer = api.call(
        "POST", "/api/schedules/bulk-pause", body=_bulk_body(workflows["alice"])
    )
    assert status == 200, answer
    assert (answer["changed"], answer["eventbridgePending"]) == (3, 2)
    assert not any(row["enabled"] for row in process_queries().schedules.iter_all_schedules())
