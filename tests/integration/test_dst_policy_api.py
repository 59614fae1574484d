"""dstPolicy through the API's handler and reconcile (real Postgres, moto's Scheduler): stored,
shown, audited, validated; previews and dstNotes follow it; EventBridge holds one-time at()
schedules for the instants the cron cannot deliver, made on create and PATCH, kept by reconcile.

The real clock: Europe/Berlin's next two changes are always within the year (spring: gap
02:00-03:00; autumn: 02:00-03:00 twice), which is all these tests need."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler import cron
from scheduler.policies.periodic_pass import reconcile
from scheduler.sync.dst_schedules import dst_name, split_dst_name
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    SERVICE_CLAIMS,
    Api,
    _create,
    api,
    eventbridge,
    lambda_endpoint,
    workflows,
)
from tests.queries import process_queries

BERLIN = "Europe/Berlin"
BOTH = {"springForward": "shift", "fallBack": "both"}


def _changes(after: datetime) -> tuple[datetime, datetime]:
    """(the first instant after Berlin's next spring gap, the first instant of its next repeated
    02:30), from the notes machinery's own search of the zone's changes."""
    notes = cron.dst_notes("30 2 * * *", BERLIN, after, policy=cron.DstPolicy("shift", "both"))
    shifted = next(n.at for n in notes if n.kind == "shifted")
    twice = next(n.at for n in notes if n.kind == "twice")
    assert shifted is not None
    assert twice is not None
    return shifted, twice


def _dst_schedules(eventbridge: EventBridgeSchedules, schedule_id: str) -> dict[str, Any]:
    return {
        name: eventbridge.get(name)
        for name in eventbridge.list_names()
        if (parts := split_dst_name(name)) is not None and parts[0] == schedule_id
    }


def test_the_policy_is_stored_shown_and_makes_the_at_schedules(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    now = datetime.now(UTC)
    shifted, first = _changes(now)
    second = first + timedelta(hours=1)
    # Given 02:30 daily in Berlin under shift / both
    created = _create(api, workflows["alice"], cron="30 2 * * *", timezone=BERLIN, dstPolicy=BOTH)
    assert created["dstPolicy"] == BOTH
    schedule_id = created["id"]

    # Then EventBridge holds the cron and one at() per instant the cron cannot deliver
    extra = _dst_schedules(eventbridge, schedule_id)
    assert set(extra) == {dst_name(schedule_id, t) for t in (shifted, first, second)}
    at_second = extra[dst_name(schedule_id, second)]
    assert at_second["ScheduleExpression"] == f"at({second:%Y-%m-%dT%H:%M:%S})"
    assert at_second["ScheduleExpressionTimezone"] == "UTC"
    assert at_second["ActionAfterCompletion"] == "DELETE"
    event = json.loads(at_second["Target"]["Input"])
    assert event["scheduledTime"] == second.isoformat().replace("+00:00", "Z")
    assert (event["scheduleId"], event["workflowId"]) == (schedule_id, str(workflows["alice"]))
    assert eventbridge.get(schedule_id) is not None  # the cron's own schedule

    # And the detail's next fire times and notes follow the policy
    status, detail = api.call("GET", f"/api/schedules/{schedule_id}")
    assert status == 200
    kinds = {note["kind"]: note for note in detail["dstNotes"]}
    assert set(kinds) == {"shifted", "twice"}
    assert kinds["shifted"]["note"].endswith("(springForward shift)")
    assert datetime.fromisoformat(kinds["shifted"]["at"]) == shifted
    assert detail["dstPolicy"] == BOTH

    # When the policy goes back to the default by PATCH
    status, patched = api.call("PATCH", f"/api/schedules/{schedule_id}", body={"dstPolicy": {}})
    assert status == 200, patched
    assert patched["dstPolicy"] == {"springForward": "skip", "fallBack": "first"}
    # Then the at() schedules are gone, the cron's stays
    assert _dst_schedules(eventbridge, schedule_id) == {}
    assert eventbridge.get(schedule_id) is not None
    # And a PATCH to last makes only the second instant's
    status, _ = api.call(
        "PATCH", f"/api/schedules/{schedule_id}", body={"dstPolicy": {"fallBack": "last"}}
    )
    assert status == 200
    assert set(_dst_schedules(eventbridge, schedule_id)) == {dst_name(schedule_id, second)}

    # And a delete removes them all
    assert api.call("DELETE", f"/api/schedules/{schedule_id}")[0] == 204
    assert eventbridge.list_names() == []


def test_the_default_policy_is_todays_behaviour_and_adds_nothing(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    created = _create(api, workflows["alice"], cron="30 2 * * *", timezone=BERLIN)
    assert created["dstPolicy"] == {"springForward": "skip", "fallBack": "first"}
    assert eventbridge.list_names() == [created["id"]]
    # a zone without DST: any policy is accepted and adds nothing
    in_tokyo = _create(api, workflows["alice"], timezone="Asia/Tokyo", dstPolicy=BOTH)
    assert in_tokyo["dstPolicy"] == BOTH
    assert _dst_schedules(eventbridge, in_tokyo["id"]) == {}


def test_policy_changes_are_audited(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    created = _create(api, workflows["alice"], timezone=BERLIN)
    status, _ = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"dstPolicy": {"springForward": "shift"}}
    )
    assert status == 200
    status, page = api.call("GET", f"/api/schedules/{created['id']}/events")
    assert status == 200
    updated = next(e for e in page["items"] if e["action"] == "updated")
    assert updated["changes"] == {
        "dstPolicy": {
            "before": {"springForward": "skip", "fallBack": "first"},
            "after": {"springForward": "shift", "fallBack": "first"},
        }
    }


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"dstPolicy": {"springForward": "later"}}, "springForward"),
        ({"dstPolicy": {"fallBack": "twice"}}, "fallBack"),
        ({"dstPolicy": {"spring_forward": "shift"}}, "springForward"),  # camelCase only
        ({"dstPolicy": {"winter": "skip"}}, "winter"),
        ({"dstPolicy": "shift"}, "dstPolicy"),
        ({"dstPolicy": None}, "dstPolicy"),
    ],
)
def test_a_bad_policy_is_a_422_naming_it(
    api: Api, workflows: dict[str, uuid.UUID], body: dict[str, Any], named: str
) -> None:
    status, error = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", **body},
    )
    assert status == 422, error
    assert named in json.dumps(error)
    created = _create(api, workflows["alice"])
    status, error = api.call("PATCH", f"/api/schedules/{created['id']}", body=body)
    assert status == 422, error
    assert named in json.dumps(error)


def test_shift_makes_a_gap_only_cron_schedulable(api: Api, workflows: dict[str, uuid.UUID]) -> None:
    # 02:30 on the last Sunday of March: always inside Berlin's gap
    body = {"workflowId": str(workflows["alice"]), "cron": "30 2 * 3 L0", "timezone": BERLIN}
    status, refused = api.call("POST", "/api/schedules", body=body)
    assert status == 422
    assert "never fires" in json.dumps(refused)
    status, created = api.call(
        "POST", "/api/schedules", body={**body, "dstPolicy": {"springForward": "shift"}}
    )
    assert status == 201, created
    assert created["nextRunAt"] is not None


def test_the_preview_and_put_by_external_id_take_the_policy(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    body = {"cron": "30 2 * * *", "timezone": BERLIN, "dstPolicy": BOTH}
    status, preview = api.call("POST", "/api/cron/preview", body=body)
    assert status == 200
    assert preview["valid"], preview
    assert preview["dstPolicy"] == BOTH
    assert {n["kind"] for n in preview["dstNotes"]} == {"shifted", "twice"}
    status, plain = api.call("POST", "/api/cron/preview", body={**body, "dstPolicy": {}})
    assert {n["kind"] for n in plain["dstNotes"]} == {"skipped", "once"}
    status, bad = api.call(
        "POST", "/api/cron/preview", body={**body, "dstPolicy": {"fallBack": "x"}}
    )
    assert status == 422
    assert "fallBack" in json.dumps(bad)

    status, put = api.call(
        "PUT",
        "/api/schedules/by-external-id/berlin-nightly",
        body={"workflowId": str(workflows["alice"]), **body},
    )
    assert status in (200, 201), put
    assert put["dstPolicy"] == BOTH
    # the same PUT again changes nothing; one without the policy takes the default
    status, again = api.call(
        "PUT",
        "/api/schedules/by-external-id/berlin-nightly",
        body={"workflowId": str(workflows["alice"]), "cron": "30 2 * * *", "timezone": BERLIN},
    )
    assert status == 200, again
    assert again["dstPolicy"] == {"springForward": "skip", "fallBack": "first"}


def test_reconcile_makes_the_missing_at_schedules_and_removes_the_unwanted(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    now = datetime.now(UTC)
    shifted, first = _changes(now)
    created = _create(api, workflows["alice"], cron="30 2 * * *", timezone=BERLIN, dstPolicy=BOTH)
    schedule_id = created["id"]
    wanted = set(_dst_schedules(eventbridge, schedule_id))
    # Given drift: one at() deleted out of band, one the row does not want made out of band
    client = eventbridge.client
    client.delete_schedule(Name=dst_name(schedule_id, shifted), GroupName=eventbridge.group)
    stray = dst_name(schedule_id, first + timedelta(days=3))
    template = eventbridge.get(dst_name(schedule_id, first))
    assert template is not None
    client.create_schedule(
        Name=stray,
        GroupName=eventbridge.group,
        ScheduleExpression=f"at({first + timedelta(days=3):%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=template["Target"],
        ActionAfterCompletion="DELETE",
    )
    # When reconcile passes (after the orphan grace, which applies to the stray's age)
    queries = process_queries()
    later = now + timedelta(minutes=10)
    summary = reconcile(queries.periodic_pass, eventbridge, now=lambda: later)
    # Then the wanted set is back, the stray is gone
    assert set(_dst_schedules(eventbridge, schedule_id)) == wanted
    assert summary["created"] >= 1
    assert summary["deleted"] >= 1
    # And a second pass finds nothing to do
    again = reconcile(queries.periodic_pass, eventbridge, now=lambda: later)
    assert again["created"] == again["updated"] == again["deleted"] == 0


@pytest.mark.parametrize(
    ("fall", "expected"),
    [
        ("first", ["2026-10-25T00:30:00Z"]),
        ("last", ["2026-10-25T01:30:00Z"]),
        ("both", ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]),
    ],
)
def test_a_backfill_across_a_change_queues_the_policys_fire_times(
    api: Api,
    workflows: dict[str, uuid.UUID],
    lambda_endpoint: list[dict[str, Any]],
    fall: str,
    expected: list[str],
) -> None:
    # Given 02:30 in Berlin under the policy, and the night 2026-10-25 repeated 02:00-03:00
    created = _create(
        api, workflows["alice"], cron="30 2 * * *", timezone=BERLIN, dstPolicy={"fallBack": fall}
    )
    # When that night is backfilled
    body = {"from": "2026-10-24T12:00:00Z", "to": "2026-10-25T12:00:00Z"}
    status, accepted = api.call("POST", f"/api/schedules/{created['id']}/backfill", body=body)
    # Then the queued fire times are the policy's
    assert status == 202, accepted
    assert (accepted["fires"], accepted["queued"]) == (len(expected), len(expected))
    status, page = api.call("GET", f"/api/schedules/{created['id']}/runs")
    assert sorted(r["scheduledTime"] for r in page["items"]) == expected


def test_a_new_policy_starts_the_missed_fire_check_again_from_now(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a schedule whose check started long ago (as if created then)
    created = _create(api, workflows["alice"], cron="30 2 * * *", timezone=BERLIN)
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    queries = process_queries()
    queries.db.execute(
        "update schedule_fire_checks set fires_from = %(t)s, checked_through = %(t)s"
        " where schedule_id = %(id)s",
        {"t": long_ago, "id": created["id"]},
    )
    # When only its note changes, the check goes on; when its policy changes, it restarts now
    api.call("PATCH", f"/api/schedules/{created['id']}", body={"note": "n"})
    check = "select checked_through from schedule_fire_checks where schedule_id = %s"
    assert queries.db.execute(check, (created["id"],)).fetchone()["checked_through"] == long_ago
    before = datetime.now(UTC)
    status, _ = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={"dstPolicy": {"springForward": "shift"}}
    )
    assert status == 200
    restarted = queries.db.execute(check, (created["id"],)).fetchone()["checked_through"]
    assert restarted >= before - timedelta(seconds=5)
