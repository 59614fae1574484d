"""One-time schedules (`at`) through the API's handler on real Postgres and moto: create with an
instant or a wall time, what EventBridge gets (at() in the schedule's timezone, deleted after
it fires), the 422s, reads, PATCH (re-arm, switch to and from cron), reconcile after the fire,
and the database's own check that a schedule has exactly one of cron and at."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.policies.periodic_pass import reconcile
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_reconcile import (  # noqa: F401  (fixtures)
    CountingScheduler,
    exact_clocks,
    no_metrics_left_behind,
    scheduler,
)
from tests.integration.test_reconcile import api as service_of
from tests.queries import AllQueries, process_queries

# Far enough ahead to be in the future for as long as the suite runs, on a whole minute.
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _create(api: Api, workflow_id: uuid.UUID, **fields: Any) -> tuple[int, Any]:
    return api.call("POST", "/api/schedules", body={"workflowId": str(workflow_id), **fields})


def _error(body: Any) -> str:
    details = " ".join(str(detail) for detail in body["error"].get("details") or [])
    return details + str(body["error"]["message"])


def _now() -> datetime:
    return datetime.now(UTC)


# --- create and read


def test_an_instant_creates_an_at_schedule_that_eventbridge_deletes_after_it_fires(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    status, created = _create(api, workflows["alice"], at=_iso(TOMORROW))

    assert status == 201, created
    assert created["cron"] is None
    assert _parse(created["at"]) == TOMORROW
    assert created["at"].endswith("+00:00")  # shown with the zone's offset
    assert _parse(created["nextRunAt"]) == TOMORROW
    assert created["description"].startswith(f"Once, at {TOMORROW:%Y-%m-%d %H:%M} (UTC")
    expression = f"at({TOMORROW:%Y-%m-%dT%H:%M:%S})"
    assert created["eventbridgeExpressions"] == [expression]
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["ScheduleExpression"] == expression
    assert described["ScheduleExpressionTimezone"] == "UTC"
    assert described["ActionAfterCompletion"] == "DELETE"
    assert described["State"] == "ENABLED"
    assert not described.get("StartDate")
    assert not described.get("EndDate")
    # the detail lists the one fire time, and no DST notes
    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    assert status == 200
    assert [_parse(t) for t in detail["nextRunTimes"]] == [TOMORROW]
    assert detail["dstNotes"] == []
    status, page = api.call("GET", "/api/schedules")
    [item] = page["items"]
    assert (item["cron"], _parse(item["at"])) == (None, TOMORROW)


def test_a_wall_time_is_read_in_the_schedules_timezone(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    # 17:00 in Berlin on a winter day is 16:00Z
    status, created = _create(
        api, workflows["alice"], at="2030-12-11T17:00:00", timezone="Europe/Berlin"
    )

    assert status == 201, created
    assert created["at"] == "2030-12-11T17:00:00+01:00"
    assert _parse(created["nextRunAt"]) == datetime(2030, 12, 11, 16, 0, tzinfo=UTC)
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["ScheduleExpression"] == "at(2030-12-11T17:00:00)"
    assert described["ScheduleExpressionTimezone"] == "Europe/Berlin"


def test_a_repeated_autumn_wall_time_is_its_first_occurrence(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # 02:30 happens twice in Berlin on 2030-10-27: at 00:30Z (CEST) and 01:30Z (CET)
    status, first = _create(
        api, workflows["alice"], at="2030-10-27T02:30:00", timezone="Europe/Berlin"
    )
    # the second one is written with its offset
    status2, second = _create(
        api, workflows["alice2"], at="2030-10-27T02:30:00+01:00", timezone="Europe/Berlin"
    )

    assert (status, status2) == (201, 201)
    assert _parse(first["nextRunAt"]) == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)
    assert first["at"] == "2030-10-27T02:30:00+02:00"
    assert _parse(second["nextRunAt"]) == datetime(2030, 10, 27, 1, 30, tzinfo=UTC)
    assert second["at"] == "2030-10-27T02:30:00+01:00"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"at": "2020-01-01T00:00:00Z"}, "at: 2020-01-01T00:00:00Z is in the past"),
        ({"at": _iso(TOMORROW), "cron": "0 7 * * *"}, "give exactly one"),
        ({}, "give exactly one"),
        ({"at": None, "cron": None}, "give exactly one"),
        (
            {"at": "2030-03-31T02:30:00", "timezone": "Europe/Berlin"},
            "at: 2030-03-31T02:30:00 does not exist in Europe/Berlin",
        ),
        ({"at": "2030-12-11T17:00:30Z"}, "at: 2030-12-11T17:00:30Z has seconds"),
        ({"at": "2030-12-11T17:00:00.5Z"}, "has seconds"),
        ({"at": "tomorrow at noon"}, "not an ISO 8601 date and time"),
        ({"at": "2030-12-11"}, "not an ISO 8601 date and time"),
        ({"at": "2030-02-30T17:00:00Z"}, "day is out of range"),
        ({"at": "2030-12-11T17:00:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"at": _iso(TOMORROW), "startAt": _iso(TOMORROW)}, "startAt: a one-time schedule"),
        ({"at": _iso(TOMORROW), "endAt": "2031-01-01T00:00:00Z"}, "endAt: a one-time schedule"),
    ],
)
def test_bad_at_is_refused_with_a_422_naming_it(
    api: Api, workflows: dict[str, uuid.UUID], fields: dict[str, Any], message: str
) -> None:
    status, body = _create(api, workflows["alice"], **fields)

    assert status == 422, body
    assert message in _error(body)
    assert api.call("GET", "/api/schedules")[1]["items"] == []


# --- PATCH


def test_patch_switches_between_cron_and_at_and_eventbridge_follows(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    status, created = _create(api, workflows["alice"], cron="0 7 * * *")
    assert status == 201
    path = f"/api/schedules/{created['id']}"
    sent: list[dict[str, Any]] = []
    eventbridge.client.meta.events.register(
        "provide-client-params.scheduler.UpdateSchedule", lambda params, **_: sent.append(params)
    )

    status, once = api.call("PATCH", path, body={"at": _iso(TOMORROW)})
    assert status == 200, once
    assert (once["cron"], _parse(once["at"])) == (None, TOMORROW)
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["ScheduleExpression"].startswith("at(")
    # moto's UpdateSchedule drops ActionAfterCompletion (its CreateSchedule keeps it): the
    # request is what must carry it
    assert [request["ActionAfterCompletion"] for request in sent] == ["DELETE"]

    status, recurring = api.call("PATCH", path, body={"cron": "0 8 * * *"})
    assert status == 200, recurring
    assert (recurring["cron"], recurring["at"]) == ("0 8 * * *", None)
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert (described.get("ActionAfterCompletion") or "NONE") == "NONE"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"at": "2020-01-01T00:00:00Z"}, "is in the past"),
        ({"at": _iso(TOMORROW), "cron": "0 7 * * *"}, "give exactly one"),
        ({"at": None}, "at cannot be null"),
        ({"cron": None}, "cron cannot be null"),
        ({"startAt": _iso(TOMORROW)}, "startAt: a one-time schedule (at) has no window"),
        ({"at": "2030-03-31T02:30:00", "timezone": "Europe/Berlin"}, "does not exist"),
    ],
)
def test_patch_refuses_a_bad_at_and_changes_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    body: dict[str, Any],
    message: str,
) -> None:
    _, created = _create(api, workflows["alice"], at=_iso(TOMORROW))
    before = eventbridge.get(created["id"])

    status, answer = api.call("PATCH", f"/api/schedules/{created['id']}", body=body)

    assert status == 422, answer
    assert message in _error(answer)
    _, after = api.call("GET", f"/api/schedules/{created['id']}")
    assert (after["cron"], after["at"]) == (None, created["at"])
    assert eventbridge.get(created["id"]) == before


def test_a_patch_of_at_reads_a_wall_time_in_the_new_timezone(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    _, created = _create(api, workflows["alice"], at=_iso(TOMORROW))

    status, moved = api.call(
        "PATCH",
        f"/api/schedules/{created['id']}",
        body={"at": "2030-07-01T09:00:00", "timezone": "America/New_York"},
    )

    assert status == 200, moved
    assert moved["at"] == "2030-07-01T09:00:00-04:00"
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["ScheduleExpression"] == "at(2030-07-01T09:00:00)"
    assert described["ScheduleExpressionTimezone"] == "America/New_York"


# --- after the fire: reconcile, re-arm


def _fired(queries: AllQueries, schedule_id: uuid.UUID, ago: timedelta) -> None:
    """The schedule's `at` passed `ago` ago (the database's now() is real time: moved back)."""
    queries.db.execute(
        "update schedules set run_at = %s where id = %s",
        ((datetime.now(UTC) - ago).replace(second=0, microsecond=0), schedule_id),
    )


def test_reconcile_never_recreates_a_fired_one_time_schedule_and_reports_no_drift(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    service = service_of(queries, scheduler)
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
    created = service.create_schedule(
        None, ScheduleCreate(workflowId=workflow["id"], at=_iso(TOMORROW))
    )
    name = str(created.id)
    # Given it fired a minute ago and EventBridge deleted it (ActionAfterCompletion DELETE)
    _fired(queries, created.id, timedelta(minutes=1))
    scheduler.client.delete_schedule(Name=name, GroupName=scheduler.schedules.group)
    scheduler.calls.clear()

    # When reconcile runs (now, and a day later), Then nothing is made again, nothing counted
    for moment in (_now, lambda: _now() + timedelta(days=1)):
        summary = reconcile(queries.periodic_pass, scheduler.schedules, now=moment)
        assert scheduler.writes() == 0
        assert (summary["created"], summary["updated"], summary["failed"]) == (0, 0, 0)
    assert name not in scheduler.names()
    # And the API reads it as fired: no next run, its `at` kept
    view = service.get_schedule(None, created.id)
    assert (view.next_run_at, view.next_run_times) == (None, [])
    assert view.at is not None
    assert view.enabled


def test_reconcile_leaves_an_at_in_its_delivery_time_and_deletes_one_left_after_it(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given one-time schedules whose at() EventBridge still holds (moto deletes nothing)
    service = service_of(queries, scheduler)
    ids = []
    for _ in range(2):
        workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
        created = service.create_schedule(
            None, ScheduleCreate(workflowId=workflow["id"], at=_iso(TOMORROW))
        )
        ids.append(created.id)
    # one due a minute ago (EventBridge may still be delivering it: retries, flexible window)
    _fired(queries, ids[0], timedelta(minutes=1))
    # one due a day ago: every delivery of it is over (max event age 6 h)
    _fired(queries, ids[1], timedelta(days=1))
    scheduler.calls.clear()

    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=_now)

    # Then the first is left as it is, the second deleted, neither recreated
    assert scheduler.names() == {str(ids[0])}
    assert (summary["deleted"], summary["created"], summary["updated"]) == (1, 0, 0)
    again = reconcile(queries.periodic_pass, scheduler.schedules, now=_now)
    assert (again["deleted"], again["created"], again["updated"]) == (0, 0, 0)


def test_a_patch_of_at_re_arms_a_fired_one_time_schedule(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    service = service_of(queries, scheduler)
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
    created = service.create_schedule(
        None, ScheduleCreate(workflowId=workflow["id"], at=_iso(TOMORROW))
    )
    _fired(queries, created.id, timedelta(hours=1))
    scheduler.client.delete_schedule(Name=str(created.id), GroupName=scheduler.schedules.group)
    # a note changes nothing in EventBridge: the fired one is not made again
    service.update_schedule(None, created.id, ScheduleUpdate(note="done"))
    assert str(created.id) not in scheduler.names()
    checks_before = queries.db.execute(
        "select fires_from from schedule_fire_checks where schedule_id = %s", (created.id,)
    ).fetchone()

    later = TOMORROW + timedelta(days=1)
    view = service.update_schedule(None, created.id, ScheduleUpdate(at=_iso(later)))

    assert view.next_run_at == later
    described = scheduler.describe(str(created.id))
    assert described["ScheduleExpression"] == f"at({later:%Y-%m-%dT%H:%M:%S})"
    assert described["State"] == "ENABLED"
    # the missed-fire check starts again from the re-arm (the new fire time is checked)
    checks = queries.db.execute(
        "select fires_from, next_check_at from schedule_fire_checks where schedule_id = %s",
        (created.id,),
    ).fetchone()
    assert checks is not None
    assert checks_before is not None
    assert checks["fires_from"] > checks_before["fires_from"]


# --- the database


_NEITHER = "update schedules set cron = null where id = %s"
_BOTH = "update schedules set run_at = now() + interval '1 day' where id = %s"


@pytest.mark.parametrize("statement", [_NEITHER, _BOTH])
def test_the_database_refuses_a_schedule_with_neither_or_both(
    api: Api, workflows: dict[str, uuid.UUID], statement: str
) -> None:
    _, created = _create(api, workflows["alice"], cron="0 7 * * *")

    with pytest.raises(psycopg.errors.CheckViolation, match="schedules_cron_or_run_at"):
        process_queries().db.execute(statement, (created["id"],))


def test_the_database_refuses_a_window_on_a_one_time_schedule(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    _, created = _create(api, workflows["alice"], at=_iso(TOMORROW))

    with pytest.raises(psycopg.errors.CheckViolation, match="schedules_run_at_has_no_window"):
        process_queries().db.execute(
            "update schedules set end_at = now() + interval '2 days' where id = %s",
            (created["id"],),
        )


def test_a_put_by_external_id_creates_keeps_and_switches_a_one_time_schedule(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    path = "/api/schedules/by-external-id/launch-reminder"
    body = {"workflowId": str(workflows["alice"]), "at": _iso(TOMORROW)}

    created = api.call("PUT", path, body=body)
    again = api.call("PUT", path, body=body)
    switched = api.call(
        "PUT", path, body={**{k: v for k, v in body.items() if k != "at"}, "cron": "0 7 * * *"}
    )

    assert created[0] == 201, created
    assert again[0] == 200, again
    assert again[1]["updatedAt"] == created[1]["updatedAt"]  # the same body writes nothing
    assert switched[0] == 200, switched
    assert (switched[1]["cron"], switched[1]["at"]) == ("0 7 * * *", None)
    described = eventbridge.get(created[1]["id"])
    assert described is not None
    assert described["ScheduleExpression"] == "cron(0 7 * * ? *)"
