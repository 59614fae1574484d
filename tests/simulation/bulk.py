"""Bulk pause and resume in the simulation (scheduler.api.bulk_changes; docs/api.md, "Bulk pause
and resume"): a request over a label filter, its EventBridge writes after the commit, the drain
it starts, and the drain of each reconcile pass (scheduler.sync.pending), with faults: the
answer lost (retried with the same Idempotency-Key, or without one), no time left in the request
for EventBridge, the drain invocation lost, and EventBridge failing in the middle of a drain.

Invariants: every matched schedule ends paused (resumed) in the database, at the commit;
EventBridge follows once no write is pending, and none is left after the recovery (a pass
drains first); no fire is claimed while its schedule is paused (the claim of one in flight
may run: invariants.claims_while_paused judges that for every pause).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler.api.bulk_changes import BulkChanges, BulkChangeServiceQueries
from scheduler.errors import DomainError, SchedulerUnavailable
from scheduler.models.bulk_changes import BulkChangeResult, BulkPause, BulkResume
from scheduler.sync.eventbridge import EventBridgeSchedules, Written, schedule_names
from scheduler.sync.pending import DrainQueries, drain_pending

from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.world import World

# The label every simulated schedule carries (its group): a bulk change's filter names one.
GROUP = "group"
# A drain invocation starts this long after the request that started it (an async invoke).
DRAIN_STARTS_S = 2
# A drain invocation's own time (ReconcileFunction's timeout, less its reserve).
DRAIN_TIME_S = 60.0


class FlakyEventBridge(EventBridgeSchedules):
    """The Scheduler API as a drain writes it: `interrupt_after` writes, then one failure."""

    interrupt_after: int | None = None

    def apply(self, row: Mapping[str, Any], existing: Collection[str] | None = None) -> Written:
        if self.interrupt_after is not None:
            if self.interrupt_after <= 0:
                self.interrupt_after = None
                raise SchedulerUnavailable("simulated: EventBridge Scheduler failed mid-drain")
            self.interrupt_after -= 1
        return super().apply(row, existing)


@dataclass
class Bulk:
    world: World
    eventbridge: FlakyEventBridge
    # schedule -> the state its newest bulk change left it in (EventBridge must follow)
    touched: dict[UUID, bool] = field(default_factory=dict)
    # the drain invocations this request (and its retries) start are lost
    lose_drains: bool = False
    stats: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, world: World) -> Bulk:
        api = world.eventbridge.api
        return cls(world, FlakyEventBridge(api.client, api.group))

    def service(self, budget_s: float) -> BulkChanges:
        return BulkChanges(
            BulkChangeServiceQueries.over(self.world.api_db),
            self.eventbridge,
            start_drain=self._start_drain,
            budget_s=budget_s,
            clock=self.world.clock.now,
        )

    def change(self, op: dict[str, Any]) -> None:
        """One bulk pause or resume over `op["group"]` (None: every schedule)."""
        world, pause = self.world, op["action"] == "pause"
        labels = [] if op.get("group") is None else [f"{GROUP}={op['group']}"]
        body: BulkPause | BulkResume
        if pause:
            body = BulkPause.model_validate({"filter": {"label": labels}, "note": "sim: INC-1"})
        else:
            body = BulkResume.model_validate({"filter": {"label": labels}})
        self.eventbridge.interrupt_after = op.get("interrupt_after")
        self.lose_drains = op.get("drain") == "lost"
        service = self.service(op.get("budget_s", 8.0))
        operation = "bulkPauseSchedules" if pause else "bulkResumeSchedules"
        path = f"/api/schedules/bulk-{op['action']}"

        def call(idempotent: Any) -> BulkChangeResult:
            if pause:
                assert isinstance(body, BulkPause)
                return service.pause(None, body, idempotent)
            assert isinstance(body, BulkResume)
            return service.resume(None, body, idempotent)

        def adopt(answer: Any) -> None:
            self.stats[f"bulk {op['action']}d"] += answer.changed
            self._adopt(answer, not pause)

        key, lost = op.get("key"), op.get("lose_answer", False)
        world.client.send(operation, path, body, call, adopt, key, lost)
        if lost and key is None:  # the client sends it again, without a key: a no-op
            world.client.wait(7)
            adopt(call(None))
        self.eventbridge.interrupt_after, self.lose_drains = None, False
        self._all_so(op.get("group"), not pause, f"bulk {op['action']}")

    def _adopt(self, answer: BulkChangeResult, enabled: bool) -> None:
        """What the world learns from a bulk change's answer: the schedules it changed."""
        world = self.world
        for schedule_id in answer.ids:
            schedule = next((s for s in world.model.live() if s.id == schedule_id), None)
            if schedule is None or schedule.enabled == enabled:
                continue
            if enabled:
                world._fire_times_start_now(schedule.id)
            else:
                world._disabled_now(schedule.id)
            written = world.api_db.execute(
                "select xmin::text::bigint as xid from schedules where id = %s", (schedule.id,)
            ).fetchone()
            world.model.updated(
                schedule, {"enabled": enabled}, world.clock.now(), written["xid"] if written else 0
            )
            self.touched[schedule.id] = enabled
        self.refresh()

    def _all_so(self, group: str | None, enabled: bool, what: str) -> None:
        """[a bulk change leaves every matched schedule so], in the database and the model."""
        rows = {
            r["id"]: r["enabled"]
            for r in self.world.api_db.execute("select id, enabled from schedules").fetchall()
        }
        for schedule in self.world.model.live():
            if group is not None and schedule.group != group:
                continue
            if rows.get(schedule.id) != enabled or schedule.enabled != enabled:
                self.world.client.findings.append(
                    f"[a bulk change leaves every matched schedule so] {schedule.describe()}: "
                    f"after a {what} at {iso(self.world.clock.now())} the database says "
                    f"enabled {rows.get(schedule.id)}, the model {schedule.enabled}"
                )

    def forget(self, schedule_id: UUID) -> None:
        """A PATCH (written to EventBridge at once) or the runner changed it since."""
        self.touched.pop(schedule_id, None)

    def _start_drain(self) -> None:
        """The request starts a drain invocation (an async invoke of ReconcileFunction)."""
        self.stats["drains started"] += 1
        if self.lose_drains:
            self.stats["drains lost"] += 1
            raise SchedulerUnavailable("simulated: the drain invocation was lost")
        at = self.world.clock.now() + timedelta(seconds=DRAIN_STARTS_S)
        self.world.loop.at(at, "drain invocation", self.drain)

    def drain(self) -> None:
        """A drain (the invocation's, or a reconcile pass's first step): a failure stops it,
        the rest stays marked for the next."""
        world = self.world
        deadline = world.clock.now() + timedelta(seconds=DRAIN_TIME_S)
        self.stats["drains"] += 1
        with contextlib.suppress(DomainError):
            summary = drain_pending(
                DrainQueries.over(world.check_db),
                self.eventbridge,
                owner=None,
                time_left_s=lambda: (deadline - world.clock.now()).total_seconds(),
            )
            if summary.written or summary.invalid:
                self.refresh()

    def refresh(self) -> None:
        """SimEventBridge reads what the drains wrote."""
        for schedule in self.world.model.live():
            self.world.eventbridge.refresh(schedule.id)

    def pending(self) -> set[UUID]:
        rows = self.world.api_db.execute(
            "select distinct schedule_id from schedule_eventbridge_pending"
        ).fetchall()
        return {r["schedule_id"] for r in rows}


def bulk_violations(world: World, pending: set[UUID], final: bool = False) -> list[str]:
    """EventBridge follows each bulk change once nothing of it is pending; after the recovery
    nothing is (each reconcile pass drains before anything else)."""
    found: list[str] = []
    bulk: Bulk = world.bulk
    live = {s.id: s for s in world.model.live()}
    if final:
        for schedule_id in pending & set(live):
            found.append(
                f"[EventBridge follows a bulk change within the drains] "
                f"{live[schedule_id].describe()}: still pending after the recovery"
            )
    for schedule_id, enabled in bulk.touched.items():
        schedule = live.get(schedule_id)
        if schedule is None or schedule_id in pending or schedule.at is not None:
            continue  # one-time schedules: once.once_eventbridge_violations
        row = world.api_db.execute(
            "select enabled from schedules where id = %s", (schedule_id,)
        ).fetchone()
        if row is None or row["enabled"] != enabled:
            continue  # the runner paused it since (EventBridge learns that from reconcile)
        state = "ENABLED" if enabled else "DISABLED"
        for name in schedule_names(schedule_id):
            held = world.eventbridge.api.get(name)
            if held is not None and held.get("State") != state:
                found.append(
                    f"[EventBridge follows a bulk change within the drains] "
                    f"{schedule.describe()}: {name} is {held.get('State')}, the row {state}, "
                    "and nothing is pending"
                )
    return found


def claims_while_paused(world: World) -> list[str]:
    """[no fire is claimed while its schedule is paused]: each run the target saw (but manual
    ones, refused while paused) was claimed inside an enabled period of its schedule."""
    found: list[str] = []
    schedules = {s.id: s for s in world.model.schedules}
    claims = {(r["schedule_id"], r["scheduled_time"]): r for r in world.run_log.values()}
    for visit in world.target.visits:
        schedule = schedules.get(visit.schedule_id)
        row = claims.get((visit.schedule_id, visit.slot))
        if schedule is None or row is None or visit.trigger == "manual":
            continue
        claimed = row["started_at"]
        if claimed is None or _enabled_at(schedule, claimed):
            continue
        found.append(
            f"[no fire is claimed while its schedule is paused] {schedule.describe()} slot "
            f"{iso(visit.slot)} ({visit.trigger}): claimed at {iso(claimed)}, ran at "
            f"{iso(visit.started)}, while paused"
        )
    return found


def _enabled_at(schedule: SimSchedule, moment: Any) -> bool:
    return any(p.start <= moment and (p.end is None or moment <= p.end) for p in schedule.periods)
