"""A calendar and an exception of one occurrence on the same schedule (issue #26): the read's
next fire times leave out both, and the runner's claim lets the calendar decide a slot both
take out, so its run and its report say the same thing. Real Postgres and moto."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scheduler import cron
from scheduler.api.calendar_views import excluding_calendars
from scheduler.api.schedule_views import view_fields
from scheduler.cron.exclusions import Exclusion
from scheduler.store.exceptions import ExceptionQueries

from tests.integration.policy_fixtures import HandOns, iso, runs_by_time
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    hooks_fixture,
    http_server_fixture,
    http_steps,
    make_schedule,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    Api,
    api,
    eventbridge,
    lambda_endpoint,
    workflows,
)
from tests.integration.test_calendars_runner import _calendar, _exclude
from tests.integration.test_schedule_exceptions import _autumn_night
from tests.queries import process_queries


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_the_read_leaves_out_the_calendars_dates_and_the_skipped_occurrence(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    fires = cron.next_fire_times("0 7 * * *", "UTC", datetime.now(UTC), 8)
    status, calendar = api.call(
        "POST",
        "/api/calendars",
        body={"name": "Holidays", "timezone": "UTC", "dates": [{"start": _iso(fires[0])[:10]}]},
    )
    assert status == 201, calendar
    status, schedule = api.call(
        "POST",
        "/api/schedules",
        body={
            "workflowId": str(workflows["alice"]),
            "cron": "0 7 * * *",
            "excludeCalendars": [calendar["id"]],
        },
    )
    assert status == 201, schedule
    status, added = api.call(
        "POST",
        f"/api/schedules/{schedule['id']}/exceptions",
        body={"occurrence": _iso(fires[2]), "action": "skip"},
    )
    assert status == 201, added

    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")

    assert status == 200
    # the calendar takes the first, the exception the third: five others remain
    assert detail["nextRunTimes"] == [_iso(t) for t in (fires[1], *fires[3:7])]
    assert detail["nextRunAt"] == _iso(fires[1])
    assert [e["time"] for e in detail["excludedRunTimes"]] == [_iso(fires[0])]
    assert [e["occurrence"] for e in detail["exceptions"]] == [_iso(fires[2])]


def test_a_slot_a_calendar_and_a_skip_both_take_out_is_skipped_by_the_calendar(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server), cron="0 7 * * *")
    _exclude(
        runner.queries, schedule, _calendar(runner.queries, "Holidays", [(date(2026, 11, 27),) * 2])
    )
    ExceptionQueries(runner.queries.db).add_exception(
        schedule["id"], occurrence=SEVEN, action="skip", move_to=None, note="x", created_by="t"
    )

    report = runner.fire(schedule)

    [run] = runner.runs(schedule)
    assert (report.outcome, report.reason) == ("skipped", "skipped by calendar Holidays")
    assert (run["status"], run["error"]) == ("skipped", "skipped by calendar Holidays")
    assert http_server.requests == []
    # the next day's fire, on no excluded date, runs
    assert runner.fire(schedule, SEVEN + timedelta(days=1)).outcome == "succeeded"


def test_a_backfill_skips_an_occurrence_skipped_by_an_exception_and_goes_on(
    api: Api,
    runner: Runner,
    http_server: LoopbackServer,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    # Given a daily schedule whose occurrence of three days ago had a skip (added before it,
    # never delivered: an outage), and none of the last four days ran
    workflow_id = process_queries().workflows.create_workflow(
        ALICE, "daily report", {"steps": http_steps(http_server)}
    )["id"]
    status, schedule = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflow_id), "cron": "0 0 * * *"}
    )
    assert status == 201, schedule
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in (4, 3, 2, 1)]
    ExceptionQueries(process_queries().db).add_exception(
        uuid.UUID(schedule["id"]),
        occurrence=days[1],
        action="skip",
        move_to=None,
        note="supplier closed",
        created_by="test",
    )

    # When those days are backfilled and the chain of hand-ons runs
    body = {"from": iso(days[0]), "to": iso(days[-1])}
    status, accepted = api.call("POST", f"/api/schedules/{schedule['id']}/backfill", body=body)
    assert (status, accepted["queued"]) == (202, 4), accepted
    [invoke] = lambda_endpoint
    runner.clock.current = datetime.now(UTC)
    done = HandOns(runner, [invoke["payload"]]).drain()

    # Then the skipped occurrence is recorded skipped by its exception and the chain goes on
    assert [(t, report.outcome) for t, report in done] == [
        (iso(d), "skipped" if d == days[1] else "succeeded") for d in days
    ]
    runs = runs_by_time(runner.queries, uuid.UUID(schedule["id"]))
    assert [(r["status"], r["error"]) for r in runs] == [
        ("succeeded", None),
        ("skipped", "skipped by exception: supplier closed"),
        ("succeeded", None),
        ("succeeded", None),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(d) for d in days if d != days[1]
    ]


def test_an_exception_on_the_autumn_night_names_the_slot_the_schedules_dst_policy_runs(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # 02:30 in Berlin, shown twice on the autumn night: 00:30Z (CEST), then 01:30Z (CET)
    night = _autumn_night()
    first = datetime(night.year, night.month, night.day, 0, 30, tzinfo=UTC)
    second = first + timedelta(hours=1)

    def schedule(fall_back: str) -> str:
        status, created = api.call(
            "POST",
            "/api/schedules",
            body={
                "workflowId": str(workflows["alice"]),
                "cron": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "dstPolicy": {"fallBack": fall_back},
            },
        )
        assert status == 201, created
        return str(created["id"])

    def skip(schedule_id: str, occurrence: datetime) -> tuple[int, Any]:
        return api.call(
            "POST",
            f"/api/schedules/{schedule_id}/exceptions",
            body={"occurrence": _iso(occurrence), "action": "skip"},
        )

    # Under `last` the night's 02:30 runs at its second instant: that is its slot, named by
    # either instant
    last = schedule("last")
    status, added = skip(last, first)
    assert status == 201, added
    assert added["occurrence"] == _iso(second)
    status, detail = api.call("GET", f"/api/schedules/{last}")
    assert _iso(second) not in detail["nextRunTimes"]
    # Under `both` each instant is a slot of its own: skipping one leaves the other
    both = schedule("both")
    status, added = skip(both, second)
    assert (status, added["occurrence"]) == (201, _iso(second))
    status, added = skip(both, first)
    assert (status, added["occurrence"]) == (201, _iso(first))


def test_a_calendars_preview_walks_the_fire_times_of_the_schedules_dst_policy() -> None:
    # 02:30 in Berlin under `shift`: on 28 Mar 2027 (no 02:30) it runs at 03:00 CEST (01:00Z)
    row = {
        "id": uuid.uuid4(),
        "cron": "30 2 * * *",
        "run_at": None,
        "timezone": "Europe/Berlin",
        "enabled": True,
        "start_at": None,
        "end_at": None,
        "dst_policy": {"spring_forward": "shift", "fall_back": "first"},
        "exclude_calendars": [calendar_id := uuid.uuid4()],
    }
    now = datetime(2027, 3, 26, 12, tzinfo=UTC)
    saturday = Exclusion.of({"name": "Sat", "timezone": "UTC", "dates": [["2027-03-27"] * 2]})

    fields = excluding_calendars(view_fields(row, now, 3), {calendar_id: saturday}, now, 3)

    assert fields["next_run_times"] == [
        datetime(2027, 3, 28, 1, tzinfo=UTC),
        datetime(2027, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2027, 3, 30, 0, 30, tzinfo=UTC),
    ]
    assert fields["excluded_run_times"] == []  # none asked for


def test_the_lists_next_run_is_the_first_fire_the_exceptions_and_calendars_leave(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    fires = cron.next_fire_times("0 7 * * *", "UTC", datetime.now(UTC), 4)
    status, calendar = api.call(
        "POST",
        "/api/calendars",
        body={"name": "Holidays", "timezone": "UTC", "dates": [{"start": _iso(fires[1])[:10]}]},
    )
    assert status == 201, calendar
    body = {"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    status, skipped = api.call("POST", "/api/schedules", body=body)
    status, moved = api.call("POST", "/api/schedules", body=body)
    status, plain = api.call("POST", "/api/schedules", body=body)
    # the first skips its next fire; the second skips its next one too (the calendar takes the
    # one after) and moves the third an hour later
    path = "/api/schedules/{}/exceptions"
    status, _ = api.call(
        "POST", path.format(skipped["id"]), body={"occurrence": _iso(fires[0]), "action": "skip"}
    )
    assert status == 201
    status, _ = api.call(
        "POST", path.format(moved["id"]), body={"occurrence": _iso(fires[0]), "action": "skip"}
    )
    assert status == 201
    status, _ = api.call(
        "PATCH", f"/api/schedules/{moved['id']}", body={"excludeCalendars": [calendar["id"]]}
    )
    assert status == 200
    later = fires[2] + timedelta(hours=1)
    status, _ = api.call(
        "POST",
        path.format(moved["id"]),
        body={"occurrence": _iso(fires[2]), "action": "move", "moveTo": _iso(later)},
    )
    assert status == 201

    status, page = api.call("GET", "/api/schedules")

    assert status == 200
    next_run = {item["id"]: item["nextRunAt"] for item in page["items"]}
    assert next_run == {
        skipped["id"]: _iso(fires[1]),
        moved["id"]: _iso(later),
        plain["id"]: _iso(fires[0]),
    }


def test_a_patch_that_would_make_a_moves_new_time_a_fire_time_is_refused(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a daily 07:00 schedule whose next-but-one 07:00 is moved to 10:00 that day
    status, schedule = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    assert status == 201, schedule
    occurrence = cron.next_fire_times("0 7 * * *", "UTC", datetime.now(UTC), 2)[1]
    ten = occurrence + timedelta(hours=3)
    status, moved = api.call(
        "POST",
        f"/api/schedules/{schedule['id']}/exceptions",
        body={"occurrence": _iso(occurrence), "action": "move", "moveTo": _iso(ten)},
    )
    assert status == 201, moved
    path = f"/api/schedules/{schedule['id']}"

    # When the cron would fire at 10:00 too: refused, naming the move, and nothing changes
    status, refused = api.call("PATCH", path, body={"cron": "0 7,10 * * *"})
    assert status == 409, refused
    assert moved["id"] in refused["error"]["message"]
    status, read = api.call("GET", path)
    assert read["cron"] == "0 7 * * *"

    # And a cron that keeps 10:00 free is taken
    status, changed = api.call("PATCH", path, body={"cron": "0 7,11 * * *"})
    assert (status, changed["cron"]) == (200, "0 7,11 * * *")
