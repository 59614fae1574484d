"""One simulated deployment: the product's use cases wired to the virtual clock, the real
database (through PgBouncer), moto, and the simulated EventBridge, Lambda and target.

Each function has its own database connection, as in AWS: the runner's (where the faults are),
the API's (retention's too) and the missed-fire check's. Build the world inside moto's mock.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import boto3
import pytest
from scheduler import clients
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
from scheduler.config import get_settings
from scheduler.errors import DependencyUnavailable
from scheduler.models.runs import BackfillRequest
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.observability import logger
from scheduler.policies.abandoned_runs import AbandonedRunQueries, settle_abandoned_runs
from scheduler.policies.idempotency import delete_expired_keys
from scheduler.policies.missed_fires import MissedFireQueries, check_missed_fires
from scheduler.policies.retention import delete_expired_runs
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import LeaseLock
from scheduler.store.db import Database
from scheduler.store.history import HistoryQueries
from scheduler.store.idempotency import IdempotencyQueries
from scheduler.store.run_outcome import PAUSED_REASON
from scheduler.store.workflows import WorkflowQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.runner_fixtures import LOCKS_TABLE, create_locks_table
from tests.simulation.bulk import GROUP, Bulk
from tests.simulation.calendars import Calendars
from tests.simulation.client import Client
from tests.simulation.clock import VirtualClock, patch_time
from tests.simulation.cloud import EventLoop, SimEventBridge, SimLambda
from tests.simulation.excepted import Excepted
from tests.simulation.faults import Faults, FaultyDatabase, hook_dynamodb
from tests.simulation.model import Model, SimSchedule
from tests.simulation.once import at_in
from tests.simulation.target import STEP_KIND, Target, activate
from tests.simulation.tasks import Tasks

OWNER = UUID("5b0e8a52-3f7c-4d1a-9e6b-2c4f8a1d7e93")
# The production default (settings.runner_retry_s): in-process retries before Lambda's.
RUNNER_RETRY_S = "5"
# What the workflow's step receives: placeholders the product substitutes (target.TargetStep)
ECHO = {
    "input": "{{input}}",
    "x": "{{input.x}}",
    "scheduleId": "{{scheduleId}}",
    "scheduledTime": "{{scheduledTime}}",
    "text": "{{input.nonce}}/{{input.v}} at {{scheduledTime}}",
}
# The start of disabled_reason when the runner paused a schedule after its failures.
PAUSED_PREFIX = PAUSED_REASON.split("%", 1)[0]


@dataclass
class Alert:
    kind: str
    schedule_id: UUID
    slot: datetime
    at: datetime


@dataclass
class World:
    database_url: str
    seed: int
    start: datetime
    monkeypatch: pytest.MonkeyPatch
    concurrency: int = 3
    # ReconcileFunction's rate (ReconcileSchedule): the missed-fire check's cadence
    check_every: timedelta = timedelta(minutes=15)
    # RunHistoryDays: what retention keeps (the check may bound its look-back by it)
    run_history_days: int = 90
    alerts: list[Alert] = field(default_factory=list)
    check_passes: list[datetime] = field(default_factory=list)
    check_failures: list[str] = field(default_factory=list)
    retention_floor: datetime | None = None
    # (schedule, slot) of each claim that had not started when a pass began: when its lease
    # expires (the newest seen). Such a slot is not missed before that: its retry may still run it
    claim_expiries: dict[tuple[UUID, datetime], datetime] = field(default_factory=dict)
    # those of them that were catch-ups (a catch-up claim is run again only within its window)
    catchup_claims: set[tuple[UUID, datetime]] = field(default_factory=set)
    # every run row seen (by id), as last seen: retention deletes rows the invariants still judge
    run_log: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    # (schedule, scheduled time) of every manual run the API answered that it started
    manual_slots: set[tuple[UUID, datetime]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.monkeypatch.setenv("RUNNER_RETRY_S", RUNNER_RETRY_S)
        self.monkeypatch.setenv("ALERT_EVENT_BUS", "default")
        # the deployment's parameters, as the template passes them to the functions
        minutes = int(self.check_every.total_seconds() // 60)
        rate = f"rate({minutes} minute{'s' * (minutes > 1)})"
        self.monkeypatch.setenv("RECONCILE_SCHEDULE", rate)
        self.monkeypatch.setenv("RUN_HISTORY_DAYS", str(self.run_history_days))
        get_settings.cache_clear()
        clients.reset()
        # the product's log lines (thousands per seed) cost more than the rest of a step
        self._log_level = logger.log_level
        logger.setLevel("CRITICAL")
        self.rng = random.Random(self.seed)
        random.seed(self.seed)  # the runner's retry jitter
        self.clock = VirtualClock(self.start)
        self.loop = EventLoop(self.clock)
        self.tasks = Tasks(self.clock, self.loop.at)
        patch_time(self.monkeypatch, self.clock, self.tasks.sleep)
        self.faults = Faults(self.clock, sleep=self.tasks.sleep)
        self.databases = [Database(self.database_url) for _ in range(2)]
        self.runner_db = FaultyDatabase(self.database_url, self.faults)
        # the API's and the check's connections, each as its Lambda's own
        self.api_db, self.check_db = self.databases
        dynamodb = boto3.client("dynamodb")
        create_locks_table(dynamodb)
        hook_dynamodb(dynamodb, self.faults)
        lock = LeaseLock(dynamodb, table=LOCKS_TABLE, clock=self.clock.now)
        self.lam = SimLambda(
            self.loop,
            self.clock,
            self.tasks,
            RunnerQueries.over(self.runner_db),
            lambda: lock,
            self.concurrency,
        )
        scheduler = boto3.client("scheduler")
        scheduler.create_schedule_group(Name=get_settings().schedule_group)
        eventbridge = EventBridgeSchedules(scheduler)
        self.eventbridge = SimEventBridge(
            self.loop, self.clock, eventbridge, self.lam, self.faults, self.rng
        )
        self.eventbridge.watch(scheduler)
        self.bulk = Bulk.of(self)
        self.excepted = Excepted.of(self)
        self.calendars = Calendars(self, OWNER)
        self.service = ScheduleService(
            ScheduleServiceQueries.over(self.api_db),
            eventbridge,
            self.lam.invoke_async,
            clock=self.clock.now,
        )
        self.target = Target(self.clock, self.faults, self.rng, self.tasks.sleep)
        activate(self.target)
        self.model = Model()
        self.client = Client(
            self.clock,
            self.api_db,
            lambda seconds: self.loop.run_until(self.clock.now() + timedelta(seconds=seconds)),
        )
        events = clients.events_client()
        events.meta.events.register("before-parameter-build.events.PutEvents", self._alerted)
        phase = self.rng.randrange(int(self.check_every.total_seconds()))
        first_check = self.start + timedelta(seconds=phase)
        self.loop.at(first_check, "missed-fire check", self._check_pass)

    def close(self) -> None:
        self.tasks.cancel_all()
        logger.setLevel(self._log_level)
        for db in (*self.databases, self.runner_db):
            db.close()

    # --- the product's periodic functions

    def _check_pass(self) -> None:
        """ReconcileFunction's coordinator: settle abandoned runs, then the missed-fire check."""
        now = self.clock.now()
        self.loop.at(now + self.check_every, "missed-fire check", self._check_pass)
        if self.faults.is_down("check"):
            return
        self.bulk.drain()  # the pass drains bulk changes' EventBridge writes first
        self._note_unstarted_claims()
        # as scheduler.sync.reconcile's coordinator: a sweep that fails never stops the check
        with contextlib.suppress(DependencyUnavailable):
            settle_abandoned_runs(
                AbandonedRunQueries.over(self.check_db), now, hand_on=self.lam.invoke_async
            )
        try:
            check_missed_fires(
                MissedFireQueries.over(self.check_db),
                hand_on=self.lam.invoke_async,
                now=self.clock.now,
            )
        except DependencyUnavailable as exc:
            self.check_failures.append(f"{now.isoformat()}: {exc}")
        else:
            self.check_passes.append(now)
        # then the pass keeps the moves' at() schedules, whether the check failed or not
        self.excepted.reconcile()

    def _note_unstarted_claims(self) -> None:
        claims = self.api_db.execute(
            """select schedule_id, scheduled_time, lease_expires_at, trigger from schedule_runs
               where status = 'running' and fence is null and lease_expires_at is not null"""
        ).fetchall()
        for claim in claims:
            key = (claim["schedule_id"], claim["scheduled_time"])
            seen = self.claim_expiries.get(key, claim["lease_expires_at"])
            self.claim_expiries[key] = max(seen, claim["lease_expires_at"])
            if claim["trigger"] == "catchup":
                self.catchup_claims.add(key)

    def retention_pass(self) -> None:
        """RetentionFunction: one pass, keeping RunHistoryDays."""
        now = self.clock.now()
        keep_days = get_settings().run_history_days
        self.rows()  # the rows it deletes stay in the run log
        delete_expired_runs(HistoryQueries(self.api_db), keep_days=keep_days, budget_s=60, now=now)
        delete_expired_keys(IdempotencyQueries(self.api_db), now=now, more=lambda: True)
        self.client.keys_expired(now)
        cutoff = now - timedelta(days=keep_days)
        self.retention_floor = max(cutoff, self.retention_floor or cutoff)

    def _alerted(self, params: dict[str, Any], **_: Any) -> None:
        """Every alert the product sends (before-parameter-build of PutEvents: sent or not)."""
        for entry in params.get("Entries", []):
            detail = json.loads(entry["Detail"])
            slot = datetime.fromisoformat(detail["scheduledTime"])
            kind = entry["DetailType"]
            self.alerts.append(Alert(kind, UUID(detail["scheduleId"]), slot, self.clock.now()))
            if kind == "Schedule Paused":  # published after the record that paused it
                self.learn_runner_pause(UUID(detail["scheduleId"]), self._recorded_at(detail))

    def _recorded_at(self, detail: dict[str, Any]) -> datetime:
        """When the run of an alert was recorded (its finished_at: the runner's clock)."""
        row = self.api_db.execute(
            "select finished_at from schedule_runs where id = %s", (detail["runId"],)
        ).fetchone()
        return row["finished_at"] if row and row["finished_at"] else self.clock.now()

    def learn_runner_pause(self, schedule_id: UUID, at: datetime) -> None:
        """The runner paused the schedule at `at` (pauseAfterFailures): its period ends there."""
        schedule = next((s for s in self.model.live() if s.id == schedule_id), None)
        if schedule is not None and schedule.enabled:
            self.bulk.forget(schedule_id)
            self.model.paused_by_runner(schedule, at)
            self._disabled_now(schedule_id, at)

    def sync_runner_pauses(self) -> None:
        """A pause the model missed (no Schedule Paused alert: the invariants say so) is learnt
        from the row: paused when its newest failed run was recorded."""
        for row in self.api_db.execute(
            """select s.id, (select max(r.finished_at) from schedule_runs r
                             where r.schedule_id = s.id and r.status = 'failed') as at
               from schedules s where not s.enabled and s.disabled_reason like %s""",
            (PAUSED_PREFIX + "%",),
        ).fetchall():
            self.learn_runner_pause(row["id"], row["at"] or self.clock.now())

    # --- the API's use cases, as a client calls them

    def create(self, spec: dict[str, Any]) -> None:
        """Create a schedule (its own workflow); its input defaults to one naming it."""
        label = f"n-s{len(self.model.schedules) + 1}"
        spec = {**spec, "input": spec.get("input") or {"nonce": label, "v": 0, "x": None}}
        step = {"type": STEP_KIND, "durationS": spec["duration_s"], "echo": ECHO}
        step["failPercent"] = spec["fail_percent"]
        workflow = WorkflowQueries(self.api_db).create_workflow(OWNER, "sim", {"steps": [step]})
        fires: dict[str, Any] = {"cron": spec["cron"]}
        if spec.get("at_minutes") is not None:  # a one-time schedule
            now, zone = self.clock.now(), spec["timezone"]
            text, instant = at_in(now, spec["at_minutes"], zone, spec.get("at_wall"))
            fires = {"at": text}
            spec = {**spec, "cron": None, "at_instant": instant}
        request = ScheduleCreate.model_validate(
            {
                "workflowId": str(workflow["id"]),
                **fires,
                "timezone": spec["timezone"],
                "catchupPolicy": spec["catchup"],
                "catchupWindowSeconds": spec["window"],
                "overlapPolicy": spec["overlap"],
                "input": spec.get("input"),
                "pauseAfterFailures": spec.get("pause_after"),
                **({"dstPolicy": spec["dst"]} if spec.get("dst") else {}),
                "labels": {GROUP: spec.get("group") or "a"},
            }
        )

        def adopt(view: Any) -> None:  # a new schedule (a retry within a day creates none)
            if all(s.id != view.id for s in self.model.schedules):
                self.model.created(view.id, workflow["id"], spec, self.clock.now())
                self._fire_times_start_now(view.id)
                self.eventbridge.refresh(view.id)

        self.client.send(
            "createSchedule",
            "/api/schedules",
            request,
            lambda key: self.service.create_schedule(None, request, key),
            adopt,
            spec.get("key"),
            spec.get("lose_answer", False),
        )

    def update(self, schedule: SimSchedule, changes: dict[str, Any]) -> None:
        """PATCH `changes` (an `at_instant` is sent as `at`, its text in `at_text`)."""
        before = self._fires_from(schedule.id)
        self.bulk.forget(schedule.id)
        sent = {k: v for k, v in changes.items() if k not in ("at_instant", "at_text")}
        if "at_text" in changes:
            sent["at"] = changes["at_text"]
        self.service.update_schedule(None, schedule.id, ScheduleUpdate.model_validate(sent))
        if self._fires_from(schedule.id) != before:
            self._fire_times_start_now(schedule.id)
        if schedule.enabled and changes.get("enabled") is False:
            self._disabled_now(schedule.id)
        written = self.api_db.execute(
            "select xmin::text::bigint as xid from schedules where id = %s", (schedule.id,)
        ).fetchone()
        xid = written["xid"] if written else 0
        self.model.updated(schedule, changes, self.clock.now(), xid)
        self.eventbridge.refresh(schedule.id)

    def delete(self, schedule: SimSchedule) -> None:
        self.service.delete_schedule(None, schedule.id)
        self.model.deleted(schedule, self.clock.now())
        self.excepted.deleted(schedule.id)
        self.eventbridge.refresh(schedule.id)

    def run_now(
        self, schedule: SimSchedule, key: str | None = None, lose_answer: bool = False
    ) -> None:
        def adopt(accepted: Any) -> None:
            self.manual_slots.add((accepted.schedule_id, accepted.scheduled_time))

        self.client.send(
            "runScheduleNow",
            f"/api/schedules/{schedule.id}/run",
            None,
            lambda idempotent: self.service.run_now(None, schedule.id, idempotent),
            adopt,
            key,
            lose_answer,
        )

    def backfill(
        self,
        schedule: SimSchedule,
        start: datetime,
        end: datetime,
        key: str | None = None,
        lose_answer: bool = False,
    ) -> None:
        request = BackfillRequest.model_validate({"from": start, "to": end})
        self.client.send(
            "backfillSchedule",
            f"/api/schedules/{schedule.id}/backfill",
            request,
            lambda idempotent: self.service.backfill(None, schedule.id, request, idempotent),
            lambda _: None,
            key,
            lose_answer,
        )

    def _fires_from(self, schedule_id: UUID) -> datetime:
        row = self.api_db.execute(
            "select fires_from from schedules where id = %s", (schedule_id,)
        ).fetchone()
        assert row is not None
        return row["fires_from"]

    def _fire_times_start_now(self, schedule_id: UUID) -> None:
        """Seam: a trigger sets fires_from with Postgres's now(), the real clock; the check
        must count the schedule's fire times from the virtual now instead."""
        now = self.clock.now()
        with self.api_db.transaction() as conn:
            conn.execute("set local session_replication_role = replica")  # no triggers
            conn.execute("update schedules set fires_from = %s where id = %s", (now, schedule_id))
            conn.execute(
                """update schedule_fire_checks
                   set fires_from = %(now)s, checked_through = %(now)s, next_check_at = %(now)s
                   where schedule_id = %(id)s""",
                {"now": now, "id": schedule_id},
            )

    def _disabled_now(self, schedule_id: UUID, at: datetime | None = None) -> None:
        """Seam, as for fires_from: a trigger may stamp when the check saw the schedule
        disabled (schedule_fire_checks.disabled_at, where the migrations have it) with now()."""
        has_column = self.api_db.execute(
            """select 1 from information_schema.columns
               where table_name = 'schedule_fire_checks' and column_name = 'disabled_at'"""
        ).fetchone()
        if has_column:
            self.api_db.execute(
                "update schedule_fire_checks set disabled_at = %s where schedule_id = %s",
                (at or self.clock.now(), schedule_id),
            )

    def rows(self) -> list[dict[str, Any]]:
        """Every run row now (and, in the run log, as last seen)."""
        rows = self.api_db.execute(
            """select r.id, r.schedule_id, r.workflow_id, r.scheduled_time, r.status, r.trigger,
                      r.error, r.fence, r.started_at, r.finished_at, r.claim_token, s.enabled,
                      r.xmin::text::bigint as xid
               from schedule_runs r join schedules s on s.id = r.schedule_id"""
        ).fetchall()
        for row in rows:
            self.run_log[row["id"]] = row
        return rows

    def alerts_lost_by_death(self, row: dict[str, Any]) -> bool:
        """Whether the invocation that recorded `row` died after the record: its alerts are
        lost by design (docs/alerts.md: "A runner that dies between the record and the publish
        loses that alert")."""
        died = self.lam.crashes.get(row.get("claim_token") or "")
        return died is not None and row["finished_at"] is not None and died >= row["finished_at"]

    def counts(self) -> Counter[str]:
        alerts = Counter(alert.kind for alert in self.alerts)
        stats = self.lam.stats + self.eventbridge.stats + self.client.stats + self.bulk.stats
        stats += self.excepted.stats + self.calendars.stats + self.excepted.outcomes()
        return stats + alerts
