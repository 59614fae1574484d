"""Expected versus actual (scheduler.policies.accounting, GET /api/schedules/{id}/accounting) on
real Postgres: every outcome, from the run rows, the missed-fire check's own rows and progress,
the audit log's pauses and the retention period; the window and creation clipping; the DST day
in Europe/Berlin; and through the API, the bounds (422) and the owner scoping (404).

The use case runs with a fixed clock; a schedule's creation is moved into the past by setting
created_at and its schedule_fire_checks row, since the database's now() is real time.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from scheduler.config import get_settings
from scheduler.models.accounting import ScheduleAccounting
from scheduler.policies import expected
from scheduler.policies.accounting import AccountingQueryset, schedule_accounting
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.overlap import OVERLAP_REASON
from scheduler.store.audit import AuditContext
from scheduler.store.calendars import CalendarQueries
from scheduler.store.exceptions import ExceptionQueries

from tests.integration.policy_fixtures import checking_since, iso
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB_CLAIMS,
    Api,
    api,
    eventbridge,
)
from tests.queries import AllQueries, process_queries

T0 = datetime(2026, 11, 27, 0, 0, 30, tzinfo=UTC)  # the schedule's creation
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
HOURLY = "0 * * * *"


def _at(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _schedule(
    queries: AllQueries, cron: str = HOURLY, *, created: datetime = T0, **fields: Any
) -> dict[str, Any]:
    """An enabled schedule of ALICE's that "exists" since `created`."""
    workflow_id = queries.workflows.create_workflow(ALICE, "hourly report")["id"]
    fields.setdefault("timezone", "UTC")
    row = queries.schedules.create_schedule(
        None, workflow_id=workflow_id, cron=cron, enabled=True, **fields
    )
    with queries.db.transaction():  # past the trigger that keeps created_at as inserted
        queries.db.execute("set local session_replication_role = replica")
        queries.db.execute(
            "update schedules set created_at = %s where id = %s", (created, row["id"])
        )
    checking_since(queries, row["id"], created)
    return {**row, "created_at": created}


def _run(
    queries: AllQueries,
    schedule: dict[str, Any],
    at: datetime,
    status: str = "succeeded",
    *,
    trigger: str = "schedule",
    error: str | None = None,
) -> UUID:
    row = queries.db.execute(
        """insert into schedule_runs
             (schedule_id, workflow_id, trigger, scheduled_time, status, started_at,
              finished_at, error)
           values (%s, %s, %s, %s, %s, %s, %s, %s) returning id""",
        (
            schedule["id"],
            schedule["workflow_id"],
            trigger,
            at,
            status,
            at,
            None if status in ("running", "buffered") else at + timedelta(seconds=5),
            error,
        ),
    ).fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


def _account(
    queries: AllQueries,
    schedule: dict[str, Any],
    start: datetime | None,
    end: datetime | None,
    now: datetime = NOW,
) -> ScheduleAccounting:
    return schedule_accounting(
        AccountingQueryset.over(queries.db), ALICE, schedule["id"], start=start, end=end, now=now
    )


def _outcomes(accounting: ScheduleAccounting) -> dict[datetime, str]:
    return {item.scheduled_time: item.outcome for item in accounting.items}


def _audit_event(
    queries: AllQueries, schedule: dict[str, Any], action: str, at: datetime, **changes: Any
) -> None:
    """An audit event of the schedule as the API or the runner writes it, moved to `at`."""
    queries.audit.record(
        AuditContext("user:alice"), "schedule", [schedule["id"]], action, changes=changes
    )
    queries.db.execute(
        """update audit_events set occurred_at = %s
           where id = (select id from audit_events order by occurred_at desc limit 1)""",
        (at,),
    )


def test_every_outcome_of_a_run_row_the_check_and_the_clock(
    queries: AllQueries, alert_queue: AlertQueue
) -> None:
    schedule = _schedule(queries)
    ran = {
        _at(1): _run(queries, schedule, _at(1)),
        _at(2): _run(queries, schedule, _at(2), "failed", error="step 1: HTTP 500"),
        _at(3): _run(queries, schedule, _at(3), "skipped", error=OVERLAP_REASON),
        _at(4): _run(queries, schedule, _at(4), "buffered"),
        _at(5): _run(queries, schedule, _at(5), "running"),
        _at(6): _run(queries, schedule, _at(6), trigger="backfill"),
    }
    manual = _run(queries, schedule, _at(10, 12), trigger="manual")
    old_cron = _run(queries, schedule, _at(7, 30))
    # the check, at 08:30, records 07:00 and 08:00 missed (due by 08:05); 09:00 and 10:00 are
    # due by NOW and not checked yet
    check_missed_fires(queries.missed_fires, hand_on=lambda _: None, now=lambda: _at(8, 30))

    # from before the creation: 23:00 and 00:00 were not owed
    accounting = _account(queries, schedule, _at(22, day=26), _at(13))

    assert _outcomes(accounting) == {
        _at(1): "succeeded",
        _at(2): "failed",
        _at(3): "skipped",
        _at(4): "buffered",
        _at(5): "running",
        _at(6): "succeeded",
        _at(7): "missed",
        _at(8): "missed",
        _at(9): "noRecord",
        _at(10): "noRecord",
        _at(11): "upcoming",
        _at(12): "upcoming",
        _at(13): "upcoming",
    }
    items = {item.scheduled_time: item for item in accounting.items}
    assert {t: items[t].run_id for t in ran} == ran
    assert items[_at(2)].cause == "ran and failed: step 1: HTTP 500"
    assert items[_at(3)].cause == f"skipped (overlap): {OVERLAP_REASON}"
    assert items[_at(6)].trigger == "backfill"
    assert items[_at(7)].status == "missed"
    assert items[_at(7)].cause.startswith("missed: no run had started 5 min after")
    assert "not checked yet" in items[_at(9)].cause
    assert "through 2026-11-27T08:00:00Z" in items[_at(9)].cause
    assert items[_at(11)].cause == "no run yet; not due before 2026-11-27T11:05:00Z"
    assert [(r.run_id, r.trigger) for r in accounting.other_runs] == [
        (old_cron, "schedule"),
        (manual, "manual"),
    ]
    assert accounting.totals.model_dump(by_alias=True) == {
        "expected": 13,
        "succeeded": 2,
        "failed": 1,
        "running": 1,
        "buffered": 1,
        "skipped": 1,
        "missed": 2,
        "paused": 0,
        "outsideRetention": 0,
        "upcoming": 3,
        "noRecord": 2,
        "otherRuns": 2,
    }


def test_fire_times_while_paused_are_paused_not_missed(queries: AllQueries) -> None:
    schedule = _schedule(queries, created=_at(23, 30, day=26))
    # its creation's event, later: a fire time before it was not paused
    _audit_event(queries, schedule, "created", _at(0, 30), enabled={"before": None, "after": True})
    _run(queries, schedule, _at(1))
    _audit_event(queries, schedule, "paused", _at(1, 30), enabled={"before": True, "after": False})
    _audit_event(queries, schedule, "resumed", _at(3, 30), enabled={"before": False, "after": True})
    _run(queries, schedule, _at(4))
    _audit_event(queries, schedule, "auto_paused", _at(4, 10))
    _audit_event(queries, schedule, "bulk_resumed", _at(5, 30))
    # an update that pauses says so by its change of `enabled`
    _audit_event(queries, schedule, "updated", _at(6, 30), enabled={"before": True, "after": False})
    queries.db.execute("update schedules set enabled = false where id = %s", (schedule["id"],))

    accounting = _account(queries, schedule, _at(22, day=26), _at(9), now=_at(9, 30))

    assert _outcomes(accounting) == {
        _at(0): "noRecord",
        _at(1): "succeeded",
        _at(2): "paused",
        _at(3): "paused",
        _at(4): "succeeded",
        _at(5): "paused",
        _at(6): "noRecord",
        _at(7): "paused",
        _at(8): "paused",
        _at(9): "paused",
    }
    items = {item.scheduled_time: item for item in accounting.items}
    assert items[_at(2)].cause == (
        "the schedule was paused (paused by user:alice at 2026-11-27T01:30:00Z)"
    )
    assert "auto_paused" in items[_at(5)].cause
    # an interval that starts while paused: the resume after it says so
    during = _account(queries, schedule, _at(1, 30), _at(3), now=_at(9, 30))
    assert [i.cause for i in during.items] == [
        "the schedule was paused (paused by user:alice at 2026-11-27T01:30:00Z)",
        "the schedule was paused (paused by user:alice at 2026-11-27T01:30:00Z)",
    ]
    # an interval inside the last pause: the event before it says so
    inside = _account(queries, schedule, _at(7, 30), _at(9), now=_at(9, 30))
    assert _outcomes(inside) == {_at(8): "paused", _at(9): "paused"}


def test_a_schedule_paused_since_before_any_event_is_paused(queries: AllQueries) -> None:
    schedule = _schedule(queries)
    queries.db.execute("update schedules set enabled = false where id = %s", (schedule["id"],))

    accounting = _account(queries, schedule, _at(0), _at(2), now=_at(3))

    assert set(_outcomes(accounting).values()) == {"paused"}
    assert accounting.items[0].cause == "the schedule is paused, and no audit event says since when"


@pytest.fixture(name="two_days_of_history")
def two_days_of_history_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RUN_HISTORY_DAYS", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_fire_times_older_than_the_history_kept_are_outside_retention(
    queries: AllQueries, two_days_of_history: None
) -> None:
    schedule = _schedule(queries, "0 6 * * *", created=_at(0, day=17))
    kept = _run(queries, schedule, _at(6, day=20))  # a schedule's latest run outlives retention
    _run(queries, schedule, _at(6, day=26))

    accounting = _account(queries, schedule, _at(0, day=17), NOW)

    # the history kept starts at NOW - 2 days: the 25th at 10:30
    outside = "outsideRetention"
    assert [_outcomes(accounting)[_at(6, day=d)] for d in range(17, 28)] == [
        *[outside] * 3,
        "succeeded",
        *[outside] * 5,
        "succeeded",
        "noRecord",
    ]
    assert accounting.items[3].run_id == kept
    assert accounting.items[0].cause.startswith("older than the run history kept (RunHistoryDays")
    assert accounting.totals.outside_retention == 8


def test_a_fire_time_without_a_run_says_what_the_check_knows_of_it(queries: AllQueries) -> None:
    schedule = _schedule(queries)
    # the schedule changed at 02:30 (fires_from), the check has looked through 05:00 since
    queries.db.execute(
        """update schedule_fire_checks set fires_from = %s, checked_through = %s
           where schedule_id = %s""",
        (_at(2, 30), _at(5), schedule["id"]),
    )
    _run(queries, schedule, _at(3))

    items = {i.scheduled_time: i for i in _account(queries, schedule, _at(1, 30), _at(6)).items}

    assert [items[_at(h)].outcome for h in (2, 3, 4, 5, 6)] == [
        "noRecord",
        "succeeded",
        "noRecord",
        "noRecord",
        "noRecord",
    ]
    assert "when the schedule was last created, enabled or changed" in items[_at(2)].cause
    assert items[_at(4)].cause.startswith("no run, lost: the missed-fire check passed")
    assert items[_at(5)].cause.startswith("no run, lost")
    assert items[_at(6)].cause.startswith("no run yet, not checked yet")


def test_before_a_change_of_its_cron_the_old_crons_fire_times_were_expected(
    queries: AllQueries,
) -> None:
    # hourly on the hour since T0; at 05:30 changed to half past, and a window set from 07:00
    schedule = _schedule(queries)
    _audit_event(
        queries,
        schedule,
        "updated",
        _at(5, 30),
        cron={"before": HOURLY, "after": "30 * * * *"},
        startAt={"before": None, "after": "2026-11-27T07:00:00Z"},
    )
    queries.db.execute(
        "update schedules set cron = '30 * * * *', start_at = %s where id = %s",
        (_at(7), schedule["id"]),
    )
    old = _run(queries, schedule, _at(3))
    new = _run(queries, schedule, _at(7, 30))
    manual = _run(queries, schedule, _at(6, 12), trigger="manual")

    accounting = _account(queries, schedule, _at(0), _at(8, 45))

    assert [i.scheduled_time for i in accounting.items] == [
        *(_at(h) for h in (1, 2, 3, 4, 5)),
        _at(7, 30),
        _at(8, 30),
    ]
    items = {i.scheduled_time: i for i in accounting.items}
    assert (items[_at(3)].outcome, items[_at(3)].run_id) == ("succeeded", old)
    assert (items[_at(7, 30)].outcome, items[_at(7, 30)].run_id) == ("succeeded", new)
    assert [r.run_id for r in accounting.other_runs] == [manual]


def test_the_window_and_the_creation_clip_the_expected_fire_times(queries: AllQueries) -> None:
    schedule = _schedule(queries, start_at=_at(3), end_at=_at(6))
    before_window = _run(queries, schedule, _at(1))

    accounting = _account(queries, schedule, _at(0), _at(9))

    # startAt and endAt are fire times themselves, inside the window
    assert [i.scheduled_time for i in accounting.items] == [_at(h) for h in (3, 4, 5, 6)]
    assert [r.run_id for r in accounting.other_runs] == [before_window]
    # created at 00:00:30: the 00:00 fire time of a schedule without a window was never owed
    plain = _schedule(queries)
    assert _account(queries, plain, _at(22, day=26), _at(1)).items[0].scheduled_time == _at(1)


def test_the_repeated_autumn_hour_in_berlin_is_one_fire_time(queries: AllQueries) -> None:
    created = datetime(2026, 10, 20, tzinfo=UTC)
    daily = _schedule(queries, "30 2 * * *", created=created, timezone="Europe/Berlin")
    hourly = _schedule(queries, HOURLY, created=created, timezone="Europe/Berlin")
    # the local day of 25 October 2026: 25 hours, 02:00 to 03:00 twice
    day_start = datetime(2026, 10, 24, 22, tzinfo=UTC)
    day_end = datetime(2026, 10, 25, 23, tzinfo=UTC)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, before 02:30 CET at 01:30Z

    daily_items = _account(queries, daily, day_start, day_end, now=day_end).items
    hourly_items = _account(queries, hourly, day_start, day_end, now=day_end).items

    assert [i.scheduled_time for i in daily_items] == [first]
    assert len(hourly_items) == 24  # 00:00 … 23:00 local, 02:00 once
    assert datetime(2026, 10, 25, 1, tzinfo=UTC) not in {i.scheduled_time for i in hourly_items}
    # between the two occurrences, a delivery may still come at the second: not due yet
    between = _account(queries, daily, day_start, day_end, now=first + timedelta(minutes=40))
    assert [i.outcome for i in between.items] == ["upcoming"]
    assert between.items[0].cause == "no run yet; not due before 2026-10-25T01:35:00Z"


def test_a_calendar_and_the_slots_exceptions_explain_fire_times_without_a_run(
    queries: AllQueries,
) -> None:
    # Given an hourly schedule excluding a calendar of 27 Nov 02:00-… (a Pacific date: from
    # 08:00Z on the 27th), a skip at 03:00 and a move of 04:00 to 11:10
    schedule = _schedule(queries)
    calendar = CalendarQueries(queries.db).create_calendar(
        ALICE,
        name="holidays",
        timezone="America/Los_Angeles",
        note=None,
        dates=[(date(2026, 11, 27), date(2026, 11, 27))],
        max_per_owner=10,
    )
    queries.db.execute(
        "update schedules set exclude_calendars = %s where id = %s",
        ([calendar["id"]], schedule["id"]),
    )
    exceptions = ExceptionQueries(queries.db)
    for hour, action, move_to in ((3, "skip", None), (4, "move", _at(11, 10))):
        exceptions.add_exception(
            schedule["id"],
            occurrence=_at(hour),
            action=action,
            move_to=move_to,
            note="maintenance" if action == "skip" else None,
            created_by="test",
        )
    # and a fire on the calendar's date that did reach the runner: skipped by it
    _run(queries, schedule, _at(9), "skipped", error=f"{expected.SKIPPED_BY_CALENDAR} holidays")

    items = _account(queries, schedule, _at(2, 30), _at(9), now=_at(10, 30)).items

    assert [(iso(i.scheduled_time), i.outcome, i.cause) for i in items] == [
        (iso(_at(3)), "skipped", "skipped by exception: maintenance"),
        (
            iso(_at(4)),
            "upcoming",
            "moved to 2026-11-27T11:10:00Z; no run yet; not due before 2026-11-27T11:15:00Z",
        ),
        (iso(_at(5)), "noRecord", items[2].cause),
        (iso(_at(6)), "noRecord", items[3].cause),
        (iso(_at(7)), "noRecord", items[4].cause),
        (iso(_at(8)), "skipped", "skipped by calendar holidays"),  # 00:00 in Los Angeles
        (iso(_at(9)), "skipped", f"skipped (calendar): {expected.SKIPPED_BY_CALENDAR} holidays"),
    ]


def _api_schedule(cron: str = HOURLY) -> dict[str, Any]:
    return _schedule(process_queries(), cron, created=datetime.now(UTC) - timedelta(days=40))


def test_the_api_answers_the_last_24_hours_by_default(api: Api) -> None:
    schedule = _api_schedule()

    status, body = api.call("GET", f"/api/schedules/{schedule['id']}/accounting")

    assert status == 200, body
    start = datetime.fromisoformat(body["from"])
    end = datetime.fromisoformat(body["to"])
    assert end - start == timedelta(hours=24)
    assert len(body["items"]) == 24
    assert set(body) == {"scheduleId", "from", "to", "generatedAt", "items", "otherRuns", "totals"}
    assert set(body["items"][0]) >= {"scheduledTime", "outcome", "cause"}
    assert body["totals"]["expected"] == 24
    assert body["totals"]["noRecord"] + body["totals"]["upcoming"] == 24


@pytest.mark.parametrize(
    ("cron", "query", "message"),
    [
        (HOURLY, "from=2026-11-01T00:00:00Z&to=2026-12-02T00:00:01Z", "at most 31 days apart"),
        (HOURLY, "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to must be after from"),
        ("* * * * *", "from=2026-11-01T00:00:00Z&to=2026-11-05T00:00:00Z", "more than 5000"),
    ],
)
def test_the_api_refuses_an_interval_past_its_bounds(
    api: Api, cron: str, query: str, message: str
) -> None:
    schedule = _api_schedule(cron)

    status, body = api.call("GET", f"/api/schedules/{schedule['id']}/accounting", query=query)

    assert status == 422, body
    assert message in body["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z",
        "to=0001-01-01T00:00:00Z",
        "from=0001-01-01T00:30:00%2B01:00&to=0001-01-01T12:00:00Z",
        "from=9999-12-30T00:00:00Z&to=9999-12-31T23:59:59Z",
        "from=9999-12-31T23:00:00-01:00",
    ],
)
def test_the_ends_of_the_calendar_are_an_answer_or_a_422_never_a_500(api: Api, query: str) -> None:
    schedule = _api_schedule()

    status, body = api.call("GET", f"/api/schedules/{schedule['id']}/accounting", query=query)

    assert status in (200, 422), body
    if status == 422:
        assert body["error"]["message"]


def test_the_api_refuses_an_instant_without_a_zone(api: Api) -> None:
    schedule = _api_schedule()

    status, body = api.call(
        "GET", f"/api/schedules/{schedule['id']}/accounting", query="from=2026-11-01T00:00:00"
    )

    assert status == 422, body
    assert "from" in str(body["error"])


def test_another_owners_schedule_is_not_found(api: Api) -> None:
    schedule = _api_schedule()

    status, body = Api(BOB_CLAIMS).call("GET", f"/api/schedules/{schedule['id']}/accounting")

    assert status == 404, body
    assert body["error"]["code"] == "not_found"
