"""Schedule windows (startAt / endAt), flexible windows and notes, end to end below the HTTP
layer: the API's handler on real Postgres and moto, EventBridge's StartDate / EndDate /
FlexibleTimeWindow, reconcile's comparison of them, and the runner's window check."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.policies.periodic_pass import reconcile
from scheduler.sync.eventbridge import EventBridgeSchedules, desired_schedules, fingerprint

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    make_schedule,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_reconcile import (  # noqa: F401  (fixtures)
    CountingScheduler,
    exact_clocks,
    later,
    no_metrics_left_behind,
    scheduler,
)
from tests.integration.test_reconcile import api as service_of
from tests.queries import AllQueries, process_queries


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hour(hours_from_now: int) -> datetime:
    """A whole hour this many hours ahead (the fire times of an hourly cron)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=hours_from_now)


def _create(api: Api, workflow_id: uuid.UUID, **fields: Any) -> tuple[int, Any]:
    return api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflow_id), "cron": "0 * * * *", **fields},
    )


def _error(body: Any) -> str:
    return " ".join(str(detail) for detail in body["error"].get("details") or []) + str(
        body["error"]["message"]
    )


# --- the API: create, read, PATCH


def test_the_fields_round_trip_through_the_api_and_eventbridge(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    # Given an hourly schedule that may fire from three hours ahead until six hours ahead
    start, end = _hour(3), _hour(6)
    status, created = _create(
        api,
        workflows["alice"],
        startAt=start.astimezone(timezone_plus_two()).isoformat(),  # any offset: kept as instant
        endAt=_iso(end),
        flexibleWindowMinutes=15,
        note="owner: billing team",
    )

    # Then the answer carries them, in camelCase, and the next run is the window's first fire
    assert status == 201, created
    assert _parse(created["startAt"]) == start
    assert _parse(created["endAt"]) == end
    assert created["flexibleWindowMinutes"] == 15
    assert created["note"] == "owner: billing team"
    assert _parse(created["nextRunAt"]) == start

    # And EventBridge holds the window and the flexible window
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["StartDate"] == start
    assert described["EndDate"] == end
    assert described["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}

    # And every read shows them: the detail lists only the fire times inside the window
    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    assert status == 200
    assert [_parse(t) for t in detail["nextRunTimes"]] == [_hour(h) for h in (3, 4, 5, 6)]
    assert detail["note"] == "owner: billing team"
    status, page = api.call("GET", "/api/schedules")
    [item] = page["items"]
    assert (item["note"], item["flexibleWindowMinutes"]) == ("owner: billing team", 15)
    assert _parse(item["startAt"]) == start


def timezone_plus_two() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_a_schedule_without_the_fields_keeps_todays_behaviour(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    status, created = _create(api, workflows["alice"])

    assert status == 201
    assert (created["startAt"], created["endAt"], created["note"]) == (None, None, None)
    assert created["flexibleWindowMinutes"] == 0
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert not described.get("StartDate")
    assert not described.get("EndDate")
    # and a row as it was before the migration maps (and fingerprints) exactly as it did
    row = process_queries().schedules.get_schedule(uuid.UUID(created["id"]))
    legacy = {
        k: v
        for k, v in row.items()
        if k not in ("start_at", "end_at", "flexible_window_minutes", "note")
    }
    assert fingerprint(desired_schedules(row)) == fingerprint(desired_schedules(legacy))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"endAt": "2020-01-01T00:00:00Z"}, "endAt is in the past"),
        ({"startAt": "2031-01-02T00:00:00Z", "endAt": "2031-01-01T00:00:00Z"}, "after startAt"),
        ({"startAt": "2031-01-01T00:00:00Z", "endAt": "2031-01-01T00:00:00Z"}, "after startAt"),
        ({"startAt": "2031-01-01T00:01:00Z", "endAt": "2031-01-01T00:59:00Z"}, "no fire time"),
        ({"endAt": "9999-12-31T23:59:00-01:00"}, "out of range"),
        ({"startAt": "2031-01-01T00:00:00"}, "timezone"),  # no offset: which instant is it?
        ({"flexibleWindowMinutes": 1441}, "1440"),
        ({"flexibleWindowMinutes": -1}, "0"),
        ({"flexibleWindowMinutes": "15"}, "integer"),
        ({"note": "paused\nby ops"}, "control characters"),
        ({"note": "nul\x00"}, "control characters"),
        ({"note": "   "}, "blank"),
        ({"note": "x" * 501}, "500"),
    ],
)
def test_bad_fields_are_refused_with_a_clear_422(
    api: Api, workflows: dict[str, uuid.UUID], fields: dict[str, Any], message: str
) -> None:
    status, body = _create(api, workflows["alice"], **fields)

    assert status == 422, body
    assert message in _error(body)
    assert api.call("GET", "/api/schedules")[1]["items"] == []


def test_patch_sets_and_clears_each_field_and_eventbridge_follows(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    _, created = _create(api, workflows["alice"])
    path = f"/api/schedules/{created['id']}"
    start, end = _hour(2), _hour(5)

    # When each field is set
    status, patched = api.call(
        "PATCH",
        path,
        body={"startAt": _iso(start), "endAt": _iso(end), "flexibleWindowMinutes": 30},
    )
    assert status == 200, patched
    status, noted = api.call("PATCH", path, body={"note": "why: quarterly only"})
    assert status == 200, noted

    # Then the reads and EventBridge have them
    assert (_parse(noted["startAt"]), _parse(noted["endAt"])) == (start, end)
    assert (noted["flexibleWindowMinutes"], noted["note"]) == (30, "why: quarterly only")
    described = eventbridge.get(created["id"])
    assert described is not None
    assert (described["StartDate"], described["EndDate"]) == (start, end)
    assert described["FlexibleTimeWindow"]["MaximumWindowInMinutes"] == 30

    # When the window and the note are cleared with null, and the flexible window set to 0
    status, cleared = api.call(
        "PATCH",
        path,
        body={"startAt": None, "endAt": None, "note": None, "flexibleWindowMinutes": 0},
    )

    # Then they are gone everywhere
    assert status == 200, cleared
    assert (cleared["startAt"], cleared["endAt"], cleared["note"]) == (None, None, None)
    described = eventbridge.get(created["id"])
    assert described is not None
    assert not described.get("StartDate")
    assert not described.get("EndDate")
    assert described["FlexibleTimeWindow"] == {"Mode": "OFF"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"cron": None}, "cron cannot be null"),
        ({"enabled": None}, "enabled cannot be null"),
        ({"flexibleWindowMinutes": None}, "flexibleWindowMinutes cannot be null"),
        ({"endAt": "2031-01-01T00:00:00Z"}, "endAt must be after startAt (the stored startAt)"),
        ({"startAt": "2031-02-02T00:00:00Z", "endAt": "2031-02-01T00:00:00Z"}, "after startAt"),
        ({"note": "tab\there"}, "control characters"),
    ],
)
def test_patch_refuses_what_cannot_be_null_and_a_window_that_ends_first(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    body: dict[str, Any],
    message: str,
) -> None:
    _, created = _create(api, workflows["alice"], startAt="2031-01-05T00:00:00Z")
    before = eventbridge.get(created["id"])

    status, answer = api.call("PATCH", f"/api/schedules/{created['id']}", body=body)

    assert status == 422, answer
    assert message in _error(answer)
    assert api.call("GET", f"/api/schedules/{created['id']}")[1]["startAt"] == created["startAt"]
    assert eventbridge.get(created["id"]) == before


def test_a_pause_with_a_note_works_and_the_note_shows(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    _, created = _create(api, workflows["alice"])

    status, paused = api.call(
        "PATCH",
        f"/api/schedules/{created['id']}",
        body={"enabled": False, "note": "paused: vendor API down (INC-42)"},
    )

    assert status == 200, paused
    assert (paused["enabled"], paused["note"]) == (False, "paused: vendor API down (INC-42)")
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["State"] == "DISABLED"


def test_a_window_that_ended_maps_to_a_disabled_schedule_and_previews_nothing(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    # Given a schedule whose end a PATCH moves into the past (ending it now)
    _, created = _create(api, workflows["alice"])
    ended = datetime.now(UTC) - timedelta(minutes=1)

    status, patched = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"endAt": _iso(ended)}
    )

    # Then it stays enabled as the user left it, but nothing is previewed and EventBridge holds
    # it DISABLED without a past EndDate
    assert status == 200, patched
    assert patched["enabled"] is True
    assert patched["nextRunAt"] is None
    detail = api.call("GET", f"/api/schedules/{created['id']}")[1]
    assert (detail["nextRunTimes"], detail["dstNotes"]) == ([], [])
    described = eventbridge.get(created["id"])
    assert described is not None
    assert described["State"] == "DISABLED"
    assert not described.get("EndDate")


def test_dst_notes_and_previews_honour_the_window(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a Berlin 02:30 schedule (the spring change skips it, the autumn one repeats it)
    base = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    _, open_ended = _create(api, workflows["alice"], **base)
    soon = datetime.now(UTC) + timedelta(days=20)
    _, short = _create(api, workflows["alice2"], **base, endAt=_iso(soon))

    # Then the open-ended one has a note per change of the year, the short one only those of
    # changes before its end
    notes = api.call("GET", f"/api/schedules/{open_ended['id']}")[1]["dstNotes"]
    assert [n["kind"] for n in sorted(notes, key=lambda n: n["wallTime"][5:])] == [
        "skipped",
        "once",
    ]
    short_detail = api.call("GET", f"/api/schedules/{short['id']}")[1]
    berlin_end = soon.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    assert short_detail["dstNotes"] == [
        n for n in notes if datetime.fromisoformat(n["wallTime"]) <= berlin_end
    ]
    assert all(_parse(t) <= soon for t in short_detail["nextRunTimes"])

    # And the preview takes a window too
    start = datetime.now(UTC) + timedelta(days=400)
    status, preview = api.call("POST", "/api/cron/preview", body={**base, "startAt": _iso(start)})
    assert status == 200, preview
    assert preview["valid"] is True
    assert all(_parse(t) >= start for t in preview["nextRunTimes"])
    assert len(preview["nextRunTimes"]) == 5
    assert preview["dstNotes"] == []  # notes look a year ahead: the window starts after it
    status, bad = api.call(
        "POST",
        "/api/cron/preview",
        body={**base, "startAt": "2031-01-02T00:00:00Z", "endAt": "2031-01-01T00:00:00Z"},
    )
    assert (status, bad["valid"]) == (200, False)
    assert "after startAt" in bad["error"]


# --- reconcile


def test_reconcile_repairs_window_drift_and_a_second_pass_is_free(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given schedules written through the API with windows and flexible windows
    service = service_of(queries, scheduler)
    start, end = _hour(3), _hour(30)
    ids = []
    for fields in (
        {"startAt": start, "endAt": end},
        {"flexibleWindowMinutes": 10},
        {"endAt": end, "note": "n"},
    ):
        workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
        created = service.create_schedule(
            None, ScheduleCreate(workflowId=workflow["id"], cron="0 * * * *", **fields)
        )
        ids.append(str(created.id))
    scheduler.calls.clear()

    # When nothing changed, a pass costs one listing
    assert reconcile(queries.periodic_pass, scheduler.schedules, now=_now)["described"] == 0
    assert dict(scheduler.calls) == {"ListSchedules": 1}

    # When each is changed out of band: dates dropped or moved, the flexible window turned off
    client = scheduler.client
    first = scheduler.describe(ids[0])
    _update(client, first, StartDate=None, EndDate=end + timedelta(hours=1))
    _update(client, scheduler.describe(ids[1]), FlexibleTimeWindow={"Mode": "OFF"})
    _update(client, scheduler.describe(ids[2]), StartDate=_hour(2))  # a date the row lacks
    scheduler.calls.clear()
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=_now)

    # Then each is repaired to what its row says
    assert (summary["updated"], summary["failed"]) == (3, 0)
    repaired = scheduler.describe(ids[0])
    assert (repaired["StartDate"], repaired["EndDate"]) == (start, end)
    assert scheduler.describe(ids[1])["FlexibleTimeWindow"]["MaximumWindowInMinutes"] == 10
    assert not scheduler.describe(ids[2]).get("StartDate")

    # And the next pass writes and fetches nothing
    scheduler.calls.clear()
    again = reconcile(queries.periodic_pass, scheduler.schedules, now=_now)
    assert dict(scheduler.calls) == {"ListSchedules": 1}
    assert (again["unchanged"], again["described"]) == (3, 0)


def test_reconcile_sees_a_start_or_end_passing_as_no_change(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a schedule written while its start and end were ahead, and one fetched in full
    service = service_of(queries, scheduler)
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
    created = service.create_schedule(
        None,
        ScheduleCreate(
            workflowId=workflow["id"], cron="0 * * * *", startAt=_hour(2), endAt=_hour(4)
        ),
    )
    queries.sync_state.forget_eventbridge_state(
        created.id
    )  # no record: the next pass compares in full
    scheduler.calls.clear()

    # When reconcile runs after the start, then after the end
    for moment in (_hour(3), _hour(5), _hour(6)):
        summary = reconcile(queries.periodic_pass, scheduler.schedules, now=lambda m=moment: m)
        # Then EventBridge's copy still means what the row means: nothing is written
        assert scheduler.writes() == 0
        assert (summary["unchanged"], summary["failed"]) == (1, 0)
    assert scheduler.calls["GetSchedule"] == 1  # found in step once, recorded, then listed only


def test_a_write_after_the_start_leaves_the_past_start_date_out(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given a schedule whose start has passed (EventBridge refuses a StartDate > 5 minutes old)
    service = service_of(queries, scheduler)
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
    created = service.create_schedule(
        None, ScheduleCreate(workflowId=workflow["id"], cron="0 * * * *")
    )
    queries.schedules.update_schedule(
        created.id, None, {"start_at": datetime.now(UTC) - timedelta(days=2)}
    )

    # When the API writes it again (a note), Then the write succeeds without the date
    service.update_schedule(None, created.id, ScheduleUpdate(note="still running"))
    assert not scheduler.describe(str(created.id)).get("StartDate")
    # and reconcile takes it as in step
    scheduler.calls.clear()
    assert reconcile(queries.periodic_pass, scheduler.schedules, now=_now)["updated"] == 0
    assert scheduler.writes() == 0


def _now() -> datetime:
    return datetime.now(UTC)


def _update(client: Any, described: dict[str, Any], **changes: Any) -> None:
    """UpdateSchedule out of band: the schedule as described with `changes` (None drops)."""
    request = {
        key: described[key]
        for key in (
            "Name",
            "GroupName",
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "FlexibleTimeWindow",
            "State",
            "Description",
            "Target",
            "StartDate",
            "EndDate",
        )
        if described.get(key) is not None
    }
    request.update(changes)
    client.update_schedule(**{k: v for k, v in request.items() if v is not None})


# --- the runner


def _windowed(runner: Runner, server: LoopbackServer, **window: Any) -> dict[str, Any]:
    schedule = make_schedule(runner.queries, http_steps(server))
    return runner.queries.schedules.update_schedule(schedule["id"], None, window)


def test_a_fire_outside_the_window_is_ignored_like_a_disabled_schedules(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a */5 schedule whose window is [07:05, 07:10] (both ends fire)
    schedule = _windowed(
        runner,
        http_server,
        start_at=SEVEN + timedelta(minutes=5),
        end_at=SEVEN + timedelta(minutes=10),
        note="owner: ops",
    )

    # When EventBridge (late, or out of step) delivers fires before, in and after it
    outcomes = {
        minutes: runner.fire(schedule, SEVEN + timedelta(minutes=minutes))
        for minutes in (0, 5, 10, 15)
    }

    # Then only the fires inside it ran; the others left no run row
    assert {m: r.outcome for m, r in outcomes.items()} == {
        0: "ignored",
        5: "succeeded",
        10: "succeeded",
        15: "ignored",
    }
    assert outcomes[0].reason == outcomes[15].reason == "outside the schedule's window"
    assert [r["scheduled_time"] for r in runner.runs(schedule)] == [
        SEVEN + timedelta(minutes=5),
        SEVEN + timedelta(minutes=10),
    ]
    assert len(http_server.requests) == 2


def test_a_manual_run_outside_the_window_runs(runner: Runner, http_server: LoopbackServer) -> None:
    schedule = _windowed(runner, http_server, end_at=SEVEN - timedelta(days=1))

    manual = runner.fire(schedule, datetime(2026, 11, 27, 9, 41, 12, tzinfo=UTC), trigger="manual")

    assert manual.outcome == "succeeded"


def test_a_flexible_delivery_runs_under_its_nominal_fire_time_once(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a schedule with a 15-minute flexible window
    schedule = _windowed(runner, http_server, flexible_window_minutes=15)

    # When EventBridge invokes 12 minutes after the fire time (scheduled-time is the nominal
    # time: the time the schedule names, not the moment of the invocation), then again
    runner.clock.advance(12 * 60)
    first = runner.fire(schedule, SEVEN)
    runner.clock.advance(60)
    again = runner.fire(schedule, SEVEN)

    # Then the run is recorded under 07:00 and the redelivery is a duplicate
    assert (first.outcome, again.outcome) == ("succeeded", "duplicate")
    [run] = runner.runs(schedule)
    assert run["scheduled_time"] == SEVEN
    assert run["started_at"] == SEVEN + timedelta(minutes=12, seconds=2)
    assert http_server.requests[0].headers["x-scheduled-time"] == "2026-11-27T07:00:00Z"


def test_a_schedule_written_after_its_end_is_in_step_while_disabled(
    queries: AllQueries, scheduler: CountingScheduler
) -> None:
    # Given an enabled row whose end has passed, written by the API since (sent DISABLED)
    service = service_of(queries, scheduler)
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "w")
    created = service.create_schedule(
        None, ScheduleCreate(workflowId=workflow["id"], cron="0 * * * *")
    )
    service.update_schedule(
        None, created.id, ScheduleUpdate(endAt=datetime.now(UTC) - timedelta(hours=1))
    )
    assert scheduler.describe(str(created.id))["State"] == "DISABLED"
    scheduler.calls.clear()

    # When reconcile runs, Then the listing is enough: ended, either State fires nothing
    summary = reconcile(queries.periodic_pass, scheduler.schedules, now=_now)
    assert dict(scheduler.calls) == {"ListSchedules": 1}
    assert (summary["unchanged"], summary["described"]) == (1, 0)
