"""The missed-fire check's answers to a review of issue #23's fixes: a pause that commits while a
batch is being decided (D1), and a `latest` outage backlog longer than a batch (D5), on real
Postgres and moto."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.policies import catchup as catchup_policy
from scheduler.policies.missed_fires import MissedFireQueries, check_missed_fires
from scheduler.store.fire_checks import FireCheckQueries
from scheduler.store.sql import Row

from tests.integration.policy_fixtures import (
    checking_since,
    fire_check,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401


class _PausedAfterRead(FireCheckQueries):
    """The check's queries, whose schedule is paused (an API PATCH commits) right after the check
    has read the due schedules, before it writes their rows."""

    pause: Callable[[], object]

    def due_fire_checks(self, now: datetime, limit: int) -> list[Row]:
        rows = super().due_fire_checks(now, limit)
        if rows:
            self.pause()
        return rows


def test_a_pause_committing_during_a_batch_records_its_missed_slots(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    # Given a */10 schedule catching up all, whose 06:10-06:50 fires were not delivered
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="*/10 * * * *",
        catchup_policy="all",
        catchup_window_seconds=86_400,
    )
    checking_since(queries, schedule["id"], datetime(2026, 11, 27, 6, 0, tzinfo=UTC))
    pausing = _PausedAfterRead(queries.db)
    pausing.pause = lambda: queries.schedules.update_schedule(
        schedule["id"], None, {"enabled": False}
    )
    hand_ons: list[dict[str, Any]] = []

    # When the 07:00 pass reads the schedule, then a pause commits before it writes the rows
    check_missed_fires(
        MissedFireQueries(pausing, queries.queue), hand_on=hand_ons.append, now=lambda: _at(7, 0)
    )

    # Then every missed slot is recorded missed, not run (the schedule is paused), and alerted
    runs = runs_by_time(queries, schedule["id"])
    missed = [_at(6, m) for m in (10, 20, 30, 40, 50)]
    assert [r["scheduled_time"] for r in runs] == missed
    assert {(r["status"], r["trigger"]) for r in runs} == {("missed", "schedule")}
    assert all(r["error"].endswith(catchup_policy.PAUSED) for r in runs)
    assert all(r["finished_at"] == _at(7, 0) and r["lease_expires_at"] is None for r in runs)
    assert hand_ons == []
    alerted = [a for a in alert_queue.received() if a["detail-type"] == "Run Missed"]
    assert sorted(a["detail"]["scheduledTime"] for a in alerted) == [iso(t) for t in missed]
    # and the check moved past them only because they have their rows
    assert fire_check(queries, schedule["id"])["checked_through"] == _at(6, 50)


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


def test_latest_catches_up_an_outage_whose_newest_missed_slot_is_batches_before_its_end(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    # Given an every-minute schedule catching up its latest, whose fires 12:01-22:00 were not
    # delivered and 22:01-08:05 ran (delivery recovered while the check was still down)
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="* * * * *",
        catchup_policy="latest",
        catchup_window_seconds=604_800,
    )
    start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    checking_since(queries, schedule["id"], start)
    newest_missed = start + timedelta(minutes=600)
    ran = [start + timedelta(minutes=m) for m in range(601, 1206)]
    queries.db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time, status,
                                      started_at, finished_at)
           select %s, %s, 'schedule', t, 'succeeded', t, t from unnest(%s::timestamptz[]) t""",
        (schedule["id"], schedule["workflow_id"], ran),
    )
    hand_ons: list[dict[str, Any]] = []

    # When the check comes back, its backlog taking more than one batch (500 fire times each)
    check_missed_fires(
        queries.missed_fires, hand_on=hand_ons.append, now=lambda: start + timedelta(minutes=1206)
    )

    # Then the newest missed fire time waits to run as the outage's catch-up, handed on
    runs = [r for r in runs_by_time(queries, schedule["id"]) if r["status"] != "succeeded"]
    assert len(runs) == 600
    [caught_up] = [r for r in runs if r["status"] == "buffered"]
    assert (caught_up["scheduled_time"], caught_up["trigger"]) == (newest_missed, "catchup")
    assert [e["scheduledTime"] for e in hand_ons] == [iso(newest_missed)]
    # and every older one is recorded superseded
    older = [r for r in runs if r["status"] == "missed"]
    assert len(older) == 599
    assert all(r["error"].endswith(catchup_policy.SUPERSEDED) for r in older)
    assert fire_check(queries, schedule["id"])["backlog_latest_slot"] is None


def test_latest_records_the_slot_it_carried_when_the_schedule_changes_mid_backlog(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given an every-minute schedule catching up its latest, 600 of whose fires were not
    # delivered, and a pass with time for one batch only (its newest 500th slot is carried)
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="* * * * *",
        catchup_policy="latest",
        catchup_window_seconds=604_800,
    )
    start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    checking_since(queries, schedule["id"], start)
    at = start + timedelta(minutes=606)
    check_missed_fires(
        queries.missed_fires, hand_on=lambda _: None, now=lambda: at, remaining_s=lambda: 0.0
    )
    carried = start + timedelta(minutes=500)
    assert fire_check(queries, schedule["id"])["backlog_latest_slot"] == carried

    # When the schedule is changed (its check restarts then) before the next pass
    queries.schedules.update_schedule(schedule["id"], None, {"cron": "*/5 * * * *"})
    checking_since(queries, schedule["id"], at)
    hand_ons: list[dict[str, Any]] = []
    check_missed_fires(
        queries.missed_fires, hand_on=hand_ons.append, now=lambda: at + timedelta(minutes=3)
    )

    # Then the carried slot is recorded missed, not run, like the other 499 of the batch
    runs = runs_by_time(queries, schedule["id"])
    assert [r["scheduled_time"] for r in runs] == [
        start + timedelta(minutes=m) for m in range(1, 501)
    ]
    assert {r["status"] for r in runs} == {"missed"}
    assert runs[-1]["error"].endswith("not run: its schedule was changed or enabled again since")
    assert hand_ons == []
    assert fire_check(queries, schedule["id"])["backlog_latest_slot"] is None
