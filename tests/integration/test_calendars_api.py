"""Exclusion calendars through the API (issue #26): real Postgres, moto's Scheduler.

A calendar's CRUD and its validation, a schedule's `excludeCalendars` (checked against the
owner's calendars, audited, shown on every read, leaving excluded fires out of the preview), the
calendar's own preview, and deleting one in use: refused naming the schedules, or detached.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    BOB_CLAIMS,
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)

CHRISTMAS = [{"start": "2026-12-24", "end": "2026-12-26"}, {"start": "2026-12-31"}]


def _calendar(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Holidays", "timezone": "Europe/Berlin", "dates": CHRISTMAS, **fields}
    status, created = api.call("POST", "/api/calendars", body=body)
    assert status == 201, created
    return created  # type: ignore[no-any-return]


def _error(api: Api, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
    got, body = api.call(method, path, **kwargs)
    assert got == status, body
    return body["error"]  # type: ignore[no-any-return]


def test_a_calendar_is_created_read_listed_and_changed(api: Api) -> None:
    created = _calendar(api, note="office closed")
    assert created["name"] == "Holidays"
    assert created["timezone"] == "Europe/Berlin"
    assert created["dates"] == [
        {"start": "2026-12-24", "end": "2026-12-26"},
        {"start": "2026-12-31", "end": "2026-12-31"},
    ]
    assert created["scheduleCount"] == 0

    status, read = api.call("GET", f"/api/calendars/{created['id']}")
    assert (status, read) == (200, created)
    status, page = api.call("GET", "/api/calendars")
    assert [c["id"] for c in page["items"]] == [created["id"]]

    # overlapping and adjacent ranges are stored merged
    status, changed = api.call(
        "PATCH",
        f"/api/calendars/{created['id']}",
        body={
            "dates": [
                {"start": "2027-01-01"},
                {"start": "2026-12-30", "end": "2026-12-31"},
                {"start": "2026-12-31", "end": "2027-01-02"},
            ],
            "note": None,
        },
    )
    assert status == 200, changed
    assert changed["dates"] == [{"start": "2026-12-30", "end": "2027-01-02"}]
    assert changed["note"] is None
    assert changed["updatedAt"] >= created["updatedAt"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"dates": [{"start": "2026-02-30"}]}, "dates"),
        ({"dates": [{"start": "2026-12-26", "end": "2026-12-24"}]}, "before start"),
        ({"dates": [{"start": "1999-12-31"}]}, "outside the years"),
        ({"dates": [{"start": "2026-01-01"}] * 1001}, "dates"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "  "}, "blank"),
        ({"name": "x" * 101}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_calendars_are_a_422_naming_the_problem(
    api: Api, body: dict[str, Any], says: str
) -> None:
    error = _error(api, "POST", "/api/calendars", 422, body={"name": "Holidays", **body})
    assert says in error["message"] + str(error.get("details"))


def test_a_name_is_unique_per_owner_and_another_owners_calendar_is_not_found(api: Api) -> None:
    mine = _calendar(api)
    error = _error(api, "POST", "/api/calendars", 409, body={"name": "Holidays"})
    assert "'Holidays' is taken" in error["message"]
    # another owner may use the name, and sees nothing of Alice's
    status, _ = api.call("POST", "/api/calendars", body={"name": "Holidays"}, claims=BOB_CLAIMS)
    assert status == 201
    # renaming another of hers to a name she has is the same clash
    other = _calendar(api, name="Other")
    error = _error(api, "PATCH", f"/api/calendars/{other['id']}", 409, body={"name": "Holidays"})
    assert "'Holidays' is taken" in error["message"]
    error = _error(api, "PATCH", f"/api/calendars/{other['id']}", 422, body={"timezone": "EST"})
    assert "timezone" in str(error)
    for method, body in (("GET", None), ("PATCH", {"note": "mine now"}), ("DELETE", None)):
        kwargs = {} if body is None else {"body": body}
        _error(api, method, f"/api/calendars/{mine['id']}", 404, claims=BOB_CLAIMS, **kwargs)
    status, page = api.call("GET", "/api/calendars", claims=BOB_CLAIMS)
    assert [c["id"] for c in page["items"]] != [mine["id"]]
    # a user cannot make someone else's calendar; service credentials can
    error = _error(
        api, "POST", "/api/calendars", 422, body={"name": "X", "ownerId": str(uuid.uuid4())}
    )
    assert "ownerId" in error["message"]
    owner = str(uuid.uuid4())
    status, made = api.call(
        "POST", "/api/calendars", body={"name": "X", "ownerId": owner}, claims=SERVICE_CLAIMS
    )
    assert (status, made["ownerId"]) == (201, owner)


def test_a_schedule_excludes_its_owners_calendars_and_its_reads_leave_those_fires_out(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a calendar that excludes every day of the coming weeks but one
    calendar = _calendar(
        api,
        name="Freeze",
        timezone="UTC",
        dates=[{"start": "2026-01-01", "end": "2099-12-31"}],
    )
    # When a daily schedule excludes it
    schedule = _create(api, workflows["alice"], excludeCalendars=[calendar["id"]] * 2)
    assert schedule["excludeCalendars"] == [calendar["id"]]  # each id once
    # Then it never fires within the preview's year: no next run, five excluded fires shown
    assert schedule["nextRunAt"] is None
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert status == 200
    assert detail["nextRunTimes"] == []
    assert len(detail["excludedRunTimes"]) == 5
    assert {e["calendar"] for e in detail["excludedRunTimes"]} == {"Freeze"}
    status, page = api.call("GET", "/api/schedules")
    assert page["items"][0]["nextRunAt"] is None
    assert page["items"][0]["excludeCalendars"] == [calendar["id"]]

    # When the calendar is narrowed to one day: that day's fire alone is excluded
    first = detail["excludedRunTimes"][0]["time"]
    status, _ = api.call(
        "PATCH", f"/api/calendars/{calendar['id']}", body={"dates": [{"start": first[:10]}]}
    )
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert [e["time"] for e in detail["excludedRunTimes"]] == [first]
    assert first not in detail["nextRunTimes"]
    assert len(detail["nextRunTimes"]) == 5

    # And the calendar's preview says the same, per schedule
    status, preview = api.call("GET", f"/api/calendars/{calendar['id']}/preview")
    assert status == 200
    assert preview["schedules"] == [
        {"scheduleId": schedule["id"], "scheduleName": None, "excludedRunTimes": [first]}
    ]
    status, read = api.call("GET", f"/api/calendars/{calendar['id']}")
    assert read["scheduleCount"] == 1


def test_a_schedule_refuses_unknown_foreign_and_too_many_calendars(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    bobs = api.call("POST", "/api/calendars", body={"name": "Bob's"}, claims=BOB_CLAIMS)[1]
    unknown = str(uuid.uuid4())
    for calendar_id in (bobs["id"], unknown):
        error = _error(
            api,
            "POST",
            "/api/schedules",
            422,
            body={
                "workflowId": str(workflows["alice"]),
                "cron": "0 7 * * *",
                "excludeCalendars": [calendar_id],
            },
        )
        assert f"excludeCalendars: no calendar {calendar_id}" in error["message"]
    schedule = _create(api, workflows["alice"])
    error = _error(
        api,
        "PATCH",
        f"/api/schedules/{schedule['id']}",
        422,
        body={"excludeCalendars": [bobs["id"]]},
    )
    assert "excludeCalendars" in error["message"]
    ids = [_calendar(api, name=f"c{i}")["id"] for i in range(11)]
    error = _error(
        api, "PATCH", f"/api/schedules/{schedule['id']}", 422, body={"excludeCalendars": ids}
    )
    assert "excludeCalendars" in str(error)
    error = _error(
        api, "PATCH", f"/api/schedules/{schedule['id']}", 422, body={"excludeCalendars": None}
    )
    assert "excludeCalendars cannot be null" in error["message"]
    # nothing changed
    assert api.call("GET", f"/api/schedules/{schedule['id']}")[1]["excludeCalendars"] == []


def test_a_change_of_exclude_calendars_is_audited(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    calendar = _calendar(api)
    schedule = _create(api, workflows["alice"])
    status, _ = api.call(
        "PATCH", f"/api/schedules/{schedule['id']}", body={"excludeCalendars": [calendar["id"]]}
    )
    assert status == 200
    status, page = api.call("GET", f"/api/schedules/{schedule['id']}/events")
    assert page["items"][0]["action"] == "updated"
    assert page["items"][0]["changes"] == {
        "excludeCalendars": {"before": [], "after": [calendar["id"]]}
    }
    # the same list again changes nothing and records nothing
    api.call(
        "PATCH", f"/api/schedules/{schedule['id']}", body={"excludeCalendars": [calendar["id"]]}
    )
    assert len(api.call("GET", f"/api/schedules/{schedule['id']}/events")[1]["items"]) == 2


def test_deleting_a_calendar_in_use_is_refused_naming_them_or_detaches_them(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    calendar = _calendar(api)
    other = _calendar(api, name="Other")
    used = [
        _create(
            api, workflows["alice"], name=f"s{i}", excludeCalendars=[calendar["id"], other["id"]]
        )
        for i in range(7)
    ]

    error = _error(api, "DELETE", f"/api/calendars/{calendar['id']}", 409)
    assert error["code"] == "calendar_in_use"
    assert "used by 7 schedule(s)" in error["message"]
    assert [d["scheduleId"] for d in error["details"]] == [s["id"] for s in used[:5]]
    assert api.call("GET", f"/api/calendars/{calendar['id']}")[0] == 200

    status, body = api.call("DELETE", f"/api/calendars/{calendar['id']}", query="detach=true")
    assert (status, body) == (204, None)
    assert api.call("GET", f"/api/calendars/{calendar['id']}")[0] == 404
    for schedule in used:
        status, read = api.call("GET", f"/api/schedules/{schedule['id']}")
        assert read["excludeCalendars"] == [other["id"]]
        events = api.call("GET", f"/api/schedules/{schedule['id']}/events")[1]["items"]
        assert events[0]["changes"] == {
            "excludeCalendars": {
                "before": [calendar["id"], other["id"]],
                "after": [other["id"]],
            }
        }
    # a calendar no schedule uses is deleted without asking
    unused = _calendar(api, name="Unused")
    assert api.call("DELETE", f"/api/calendars/{unused['id']}")[0] == 204


def test_a_thousand_ranges_fit_and_the_owners_calendars_are_bounded(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,000 separate days (every other day, so none merge): the bound, in one request
    days = [{"start": (date(2026, 1, 1) + timedelta(days=2 * n)).isoformat()} for n in range(1000)]
    created = _calendar(api, name="Every other day", dates=days)
    assert len(created["dates"]) == 1000

    monkeypatch.setattr("scheduler.api.calendars.MAX_CALENDARS_PER_OWNER", 2)
    _calendar(api, name="Second")
    error = _error(api, "POST", "/api/calendars", 429, body={"name": "Third"})
    assert "at most 2 calendars per owner" in error["message"]
    # another owner's count is their own
    status, _ = api.call("POST", "/api/calendars", body={"name": "Third"}, claims=BOB_CLAIMS)
    assert status == 201


def test_put_by_external_id_sets_and_keeps_exclude_calendars(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    calendar = _calendar(api)
    body = {
        "workflowId": str(workflows["alice"]),
        "cron": "0 7 * * *",
        "excludeCalendars": [calendar["id"]],
    }
    status, created = api.call("PUT", "/api/schedules/by-external-id/nightly", body=body)
    assert (status, created["excludeCalendars"]) == (201, [calendar["id"]])
    status, same = api.call("PUT", "/api/schedules/by-external-id/nightly", body=body)
    assert (status, same["excludeCalendars"]) == (200, [calendar["id"]])
    # a field left out takes its default: no calendars
    del body["excludeCalendars"]
    status, cleared = api.call("PUT", "/api/schedules/by-external-id/nightly", body=body)
    assert (status, cleared["excludeCalendars"]) == (200, [])


def test_an_every_minute_schedule_over_excluded_days_fires_next_on_the_day_after(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # 2,880 excluded fire times in a row: the preview leaps over them, it does not walk them
    today = datetime.now(UTC).date()
    calendar = _calendar(
        api, timezone="UTC", dates=[{"start": str(today), "end": str(today + timedelta(days=1))}]
    )
    schedule = _create(api, workflows["alice"], cron="* * * * *", excludeCalendars=[calendar["id"]])
    after = datetime.combine(today + timedelta(days=2), datetime.min.time(), UTC)
    assert datetime.fromisoformat(schedule["nextRunAt"]) == after

    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert status == 200
    times = [datetime.fromisoformat(t) for t in detail["nextRunTimes"]]
    assert times == [after + timedelta(minutes=n) for n in range(5)]
    excluded = [datetime.fromisoformat(e["time"]) for e in detail["excludedRunTimes"]]
    assert len(excluded) == 5
    assert {t.date() for t in excluded} <= {today, today + timedelta(days=1)}
