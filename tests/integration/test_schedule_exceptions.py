"""Exceptions for single fire times (issue #26) through the API's handler, on real Postgres and
moto: skip and move, the 422s and 409s, the at() schedule a move makes and its removal, the
audit events, and the read's previews (nextRunTimes without the skipped, with the moved)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from scheduler import cron
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.errors import InvalidInput
from scheduler.models.schedule_exceptions import ExceptionCreate
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    workflows,
)
from tests.queries import process_queries

DAILY = "0 7 * * *"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _schedule(api: Api, workflow_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflow_id), "cron": DAILY, **fields}
    )
    assert status == 201, created
    return created  # type: ignore[no-any-return]


def _fires(n: int, expr: str = DAILY, zone: str = "UTC") -> list[datetime]:
    return cron.next_fire_times(expr, zone, datetime.now(UTC), n)


def _add(api: Api, schedule_id: str, **body: Any) -> tuple[int, Any]:
    return api.call("POST", f"/api/schedules/{schedule_id}/exceptions", body=body)


def _message(body: Any) -> str:
    return str(body["error"]["message"])


def test_a_skip_leaves_the_occurrence_out_of_the_preview_and_is_audited(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    schedule = _schedule(api, workflows["alice"])
    first, second, third = _fires(3)

    status, added = _add(
        api, schedule["id"], occurrence=_iso(second), action="skip", note="holiday"
    )

    assert status == 201, added
    assert (_parse(added["occurrence"]), added["action"], added["note"]) == (
        second,
        "skip",
        "holiday",
    )
    assert added["moveTo"] is None
    assert added["createdBy"].startswith("user:")
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert status == 200
    times = [_parse(t) for t in detail["nextRunTimes"]]
    assert first in times
    assert third in times
    assert second not in times
    assert len(times) == 5  # still five: the skipped one is replaced by a later one
    [shown] = detail["exceptions"]
    assert shown["id"] == added["id"]
    status, listed = api.call("GET", f"/api/schedules/{schedule['id']}/exceptions")
    assert status == 200
    assert [e["id"] for e in listed["items"]] == [added["id"]]
    status, events = api.call("GET", f"/api/schedules/{schedule['id']}/events")
    assert status == 200
    [event] = [e for e in events["items"] if e["action"] == "exception_added"]
    assert event["detail"]["occurrence"] == _iso(second)
    assert event["detail"]["note"] == "holiday"


def test_a_move_makes_an_at_schedule_that_fires_under_the_original_slot(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    schedule = _schedule(api, workflows["alice"])
    first, second = _fires(2)
    new_time = first + timedelta(hours=3)

    status, added = _add(
        api, schedule["id"], occurrence=_iso(first), action="move", moveTo=_iso(new_time)
    )

    assert status == 201, added
    assert _parse(added["moveTo"]) == new_time
    described = eventbridge.get(f"move-{added['id']}")
    assert described is not None
    assert described["ScheduleExpression"] == f"at({new_time:%Y-%m-%dT%H:%M:%S})"
    assert described["ScheduleExpressionTimezone"] == "UTC"
    assert described["ActionAfterCompletion"] == "DELETE"
    target_input = json.loads(described["Target"]["Input"])
    assert target_input["scheduleId"] == schedule["id"]
    assert target_input["scheduledTime"] == _iso(first)  # the run's identity: the original slot
    assert target_input["movedTo"] == _iso(new_time)
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    times = [_parse(t) for t in detail["nextRunTimes"]]
    assert times[:2] == [new_time, second]
    assert first not in times
    assert _parse(detail["nextRunAt"]) == new_time

    # removing it removes the at() and audits it; the occurrence fires as the cron says again
    status, _ = api.call("DELETE", f"/api/schedules/{schedule['id']}/exceptions/{added['id']}")
    assert status == 204
    assert eventbridge.get(f"move-{added['id']}") is None
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert _parse(detail["nextRunTimes"][0]) == first
    assert detail["exceptions"] == []
    status, events = api.call("GET", f"/api/schedules/{schedule['id']}/events")
    assert "exception_removed" in [e["action"] for e in events["items"]]


def test_a_move_onto_another_occurrence_is_a_409_until_that_one_is_skipped(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    schedule = _schedule(api, workflows["alice"])
    first, second, third = _fires(3)

    status, body = _add(
        api, schedule["id"], occurrence=_iso(first), action="move", moveTo=_iso(second)
    )
    assert status == 409, body
    assert _iso(second) in _message(body)
    assert "skip that occurrence" in _message(body)
    assert [n for n in eventbridge.list_names() if n.startswith("move-")] == []

    # skip the other one, then the move is accepted
    assert _add(api, schedule["id"], occurrence=_iso(second), action="skip")[0] == 201
    status, moved = _add(
        api, schedule["id"], occurrence=_iso(first), action="move", moveTo=_iso(second)
    )
    assert status == 201, moved
    # a second move to the same instant collides with the first move
    status, body = _add(
        api, schedule["id"], occurrence=_iso(third), action="move", moveTo=_iso(second)
    )
    assert status == 409, body
    assert "moved already" in _message(body)
    # and the skip under the move cannot go while the move lands there
    status, listed = api.call("GET", f"/api/schedules/{schedule['id']}/exceptions")
    skip = next(e for e in listed["items"] if e["action"] == "skip")
    status, body = api.call("DELETE", f"/api/schedules/{schedule['id']}/exceptions/{skip['id']}")
    assert status == 409, body
    assert "remove that move first" in _message(body)
    # an occurrence with an exception already: 409 naming it
    status, body = _add(api, schedule["id"], occurrence=_iso(second), action="skip")
    assert status == 409
    assert skip["id"] in _message(body)


def test_bad_exceptions_are_422s_naming_the_field(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    schedule = _schedule(api, workflows["alice"])
    first = _fires(1)[0]
    sid = schedule["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"occurrence": _iso(first + timedelta(minutes=1)), "action": "skip"}, "occurrence: "),
        ({"occurrence": _iso(first - timedelta(days=2)), "action": "skip"}, "in the past"),
        ({"occurrence": "tomorrow", "action": "skip"}, "occurrence: "),
        ({"occurrence": _iso(first), "action": "move"}, "moveTo: required"),
        ({"occurrence": _iso(first), "action": "skip", "moveTo": _iso(first)}, "moveTo"),
        (
            {"occurrence": _iso(first), "action": "move", "moveTo": "2001-01-01T00:00:00Z"},
            "moveTo: 2001-01-01T00:00:00Z is in the past",
        ),
        (
            {
                "occurrence": _iso(first),
                "action": "move",
                "moveTo": _iso(first + timedelta(days=9)),
            },
            "more than 7 days",
        ),
        (
            {
                "occurrence": _iso(first),
                "action": "move",
                "moveTo": _iso(first + timedelta(seconds=30)),
            },
            "moveTo: ",
        ),
        ({"occurrence": "9999-12-31T23:59:00-01:00", "action": "skip"}, "occurrence: "),
        ({"occurrence": "9999-12-31T07:00:00Z", "action": "skip"}, "more than 366 days ahead"),
        ({"occurrence": "0001-01-01T07:00:00+01:00", "action": "skip"}, "occurrence: "),
        (
            {"occurrence": _iso(first), "action": "move", "moveTo": "9999-12-31T23:59:00-01:00"},
            "moveTo: ",
        ),
        ({"occurrence": _iso(first), "action": "skip", "note": "two\nlines"}, "note"),
        ({"occurrence": _iso(first), "action": "pause"}, "action"),
        ({"occurrence": _iso(first), "action": "skip", "move_to": None}, "move_to"),
    ]
    for body, expected in cases:
        status, answer = _add(api, sid, **body)
        assert status == 422, (body, answer)
        text = _message(answer) + json.dumps(answer["error"].get("details"))
        assert expected in text, (body, answer)
    # a one-time schedule has no exceptions: PATCH its `at`
    at = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    status, once = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice2"]), "at": _iso(at)}
    )
    status, answer = _add(api, once["id"], occurrence=_iso(at), action="skip")
    assert status == 422
    assert "PATCH its `at`" in _message(answer)
    # another owner's schedule is not found
    status, _ = api.call("GET", f"/api/schedules/{sid}/exceptions")
    assert status == 200
    bob = Api(
        {
            "sub": "00000000-0000-4000-8000-000000000b0b",
            "role": "authenticated",
            "aud": "authenticated",
        }
    )
    assert bob.call("GET", f"/api/schedules/{sid}/exceptions")[0] == 404
    assert _add(bob, sid, occurrence=_iso(first), action="skip")[0] == 404
    assert api.call("DELETE", f"/api/schedules/{sid}/exceptions/{uuid.uuid4()}")[0] == 404


def test_a_claimed_occurrence_cannot_be_skipped(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    schedule = _schedule(api, workflows["alice"])
    first = _fires(1)[0]
    process_queries().db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time,
                                      claim_token, lease_expires_at)
           values (%s, %s, 'schedule', %s, 'someone', now() + interval '1 minute')""",
        (schedule["id"], schedule["workflowId"], first),
    )
    status, answer = _add(api, schedule["id"], occurrence=_iso(first), action="skip")
    assert status == 422
    assert "already claimed" in _message(answer)


def _autumn_night() -> date:
    """Berlin's next autumn change (the last Sunday of October) at least a day away: inside the
    366 days an occurrence may be ahead, whenever the suite runs."""
    today = datetime.now(UTC).date()
    for year in (today.year, today.year + 1):
        last = date(year, 10, 31)
        sunday = last - timedelta(days=(last.weekday() + 1) % 7)
        if sunday > today + timedelta(days=1):
            return sunday
    raise AssertionError("unreachable")


def _spring_night(after: date) -> date:
    """Berlin's spring change (the last Sunday of March) following `after`."""
    last = date(after.year + 1, 3, 31)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def test_an_exception_on_a_dst_day_in_berlin_names_the_wall_time_once(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # 02:30 every day: on the autumn night Berlin's clocks show it twice (00:30Z CEST, 01:30Z CET)
    night = _autumn_night()
    schedule = _schedule(api, workflows["alice"], cron="30 2 * * *", timezone="Europe/Berlin")
    first_instant = datetime(night.year, night.month, night.day, 0, 30, tzinfo=UTC)

    # the second instant names the same occurrence, stored as its first
    second_instant = _iso(first_instant + timedelta(hours=1))
    status, added = _add(api, schedule["id"], occurrence=second_instant, action="skip")
    assert status == 201, added
    assert _parse(added["occurrence"]) == first_instant
    # the wall time, written without offset, is the same occurrence: a 409
    status, body = _add(api, schedule["id"], occurrence=f"{night}T02:30:00", action="skip")
    assert status == 409, body
    # on the spring-forward night 02:30 does not exist, so it is no occurrence
    spring = _spring_night(night)
    if spring <= datetime.now(UTC).date() + timedelta(days=366):
        status, body = _add(api, schedule["id"], occurrence=f"{spring}T02:30:00", action="skip")
        assert status == 422, body
        assert "does not exist in Europe/Berlin" in _message(body)
    # moving the next day's 02:30 (CET) to 03:00 on its wall clock
    day_after = night + timedelta(days=1)
    status, moved = _add(
        api,
        schedule["id"],
        occurrence=f"{day_after}T02:30:00",
        action="move",
        moveTo=f"{day_after}T03:00:00",
    )
    assert status == 201, moved
    at = datetime(day_after.year, day_after.month, day_after.day, tzinfo=UTC)
    assert _parse(moved["occurrence"]) == at + timedelta(hours=1, minutes=30)
    assert _parse(moved["moveTo"]) == at + timedelta(hours=2)
    # the read shows the autumn night's 02:30 skipped and the next one at 03:00, when near
    status, detail = api.call("GET", f"/api/schedules/{schedule['id']}")
    assert first_instant not in [_parse(t) for t in detail["nextRunTimes"]]
    assert len(detail["exceptions"]) == 2


def test_a_retry_with_its_idempotency_key_gets_the_first_answer_and_adds_nothing(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    schedule = _schedule(api, workflows["alice"])
    first, second = _fires(2)
    path = f"/api/schedules/{schedule['id']}/exceptions"
    body = {"occurrence": _iso(first), "action": "move", "moveTo": _iso(first + timedelta(hours=1))}
    headers = {"idempotency-key": "move-once"}

    status, added = api.call("POST", path, body=body, headers=headers)
    retry_status, retried = api.call("POST", path, body=body, headers=headers)
    other_status, other = api.call(
        "POST", path, body={"occurrence": _iso(second), "action": "skip"}, headers=headers
    )

    assert (status, retry_status) == (201, 201)
    assert retried == added
    assert other_status == 422, other
    _, listed = api.call("GET", path)
    assert [e["id"] for e in listed["items"]] == [added["id"]]
    _, events = api.call("GET", f"/api/schedules/{schedule['id']}/events")
    assert [e["action"] for e in events["items"]].count("exception_added") == 1
    assert [n for n in eventbridge.list_names() if n.startswith("move-")] == [f"move-{added['id']}"]


def test_a_move_less_than_a_minute_ahead_is_refused(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    schedule = _schedule(api, workflows["alice"])
    now = datetime(2030, 1, 1, 5, 59, 30, tzinfo=UTC)
    service = ExceptionService(ExceptionServiceQueries.over(database()), eventbridge, lambda: now)
    request = ExceptionCreate.model_validate(
        {"occurrence": "2030-01-01T07:00:00Z", "action": "move", "moveTo": "2030-01-01T06:00:00Z"}
    )

    with pytest.raises(InvalidInput, match="less than a minute from now"):
        service.add_exception(None, uuid.UUID(schedule["id"]), request)

    later = ExceptionCreate.model_validate(
        {**request.model_dump(by_alias=True), "moveTo": "2030-01-01T06:01:00Z"}
    )
    added = service.add_exception(None, uuid.UUID(schedule["id"]), later)
    assert added.move_to == datetime(2030, 1, 1, 6, 1, tzinfo=UTC)
