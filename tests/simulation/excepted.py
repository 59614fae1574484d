"""Exceptions of one occurrence in the simulation (scheduler.api.schedule_exceptions;
docs/exceptions.md): `skip` an upcoming fire time of a schedule, `move` it within the allowed
bounds (its at() `move-<exception id>` written by scheduler.sync.moves, delivered by
SimEventBridge, kept by the periodic pass's reconcile_moves), `unexcept` (remove one), with
faults: the answer lost and retried with the same Idempotency-Key, EventBridge failing during a
move's at() write (before it, or after it with the answer lost).

The model: each exception the API answered it added, and when it was removed (an `unexcept`
removes one only while its occurrence and new time are still more than a minute ahead: the slot
is then an ordinary one again, judged by the other invariants). Invariants:
- a skipped occurrence never runs (but a run now), is never reported missed nor caught up; its
  row, if any, is `skipped` with the exception's reason (or a calendar's, when one excludes it);
- a moved one runs under its ORIGINAL slot, never before its new time (a backfill of a moved slot
  that never ran runs it at the backfill's turn, as documented), is never caught up; and if its
  schedule stayed enabled past its new time and a pass of the check came after it plus the
  grace, it has a row (ran, or recorded missed);
- the database holds the exceptions the model does, and EventBridge an at() for every move still
  to fire, and none of a move that is gone (a deleted schedule's may fire into nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler import cron
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.errors import DomainError, SchedulerUnavailable
from scheduler.models.schedule_exceptions import ExceptionCreate, ScheduleException
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.runs import CALENDAR_SKIP_REASON
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.moves import PREFIX, reconcile_moves

from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.world import World

# An exception is removed only while its occurrence and new time are this far ahead at least.
REMOVE_LEAD = timedelta(minutes=1)


class FlakyMoveWrites(EventBridgeSchedules):
    """The Scheduler API as a move's add writes it: armed, its next write fails before it is
    made ("before") or after it was made, the answer lost ("after"); "orphan" as "after", and
    the API's undo (its delete) fails too: the at() is left without its row, for the periodic
    pass to delete (after ORPHAN_GRACE), or to fire into a runner that finds no move."""

    fail: str | None = None
    # the CreateSchedule requests of the at()s left behind, by name
    orphans: dict[str, Mapping[str, Any]]

    def put_one(self, kwargs: Mapping[str, Any]) -> None:
        fail, self.fail = self.fail, None
        if fail == "before":
            raise SchedulerUnavailable("simulated: EventBridge Scheduler failed the move's at()")
        super().put_one(kwargs)
        if fail in ("after", "orphan"):
            if fail == "orphan":
                self.fail = "undo"
                self.orphans[kwargs["Name"]] = kwargs
            raise SchedulerUnavailable("simulated: the answer of the move's at() was lost")

    def delete_one(self, name: str) -> None:
        if self.fail == "undo":
            self.fail = None
            raise SchedulerUnavailable("simulated: EventBridge Scheduler failed the undo")
        super().delete_one(name)


@dataclass
class SimException:
    id: UUID
    schedule_id: UUID
    occurrence: datetime
    action: str
    move_to: datetime | None
    note: str | None
    added_at: datetime
    removed_at: datetime | None = None


@dataclass
class Excepted:
    world: World
    eventbridge: FlakyMoveWrites
    exceptions: dict[UUID, SimException] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, world: World) -> Excepted:
        api = world.eventbridge.api
        eventbridge = FlakyMoveWrites(api.client, api.group)
        eventbridge.orphans = {}
        return cls(world, eventbridge)

    def service(self) -> ExceptionService:
        return ExceptionService(
            ExceptionServiceQueries.over(self.world.api_db), self.eventbridge, self.world.clock.now
        )

    # --- the operations

    def add(self, schedule: SimSchedule, op: dict[str, Any]) -> None:
        """Skip or move the op's `nth` upcoming fire time of `schedule` (a move by `by_minutes`)."""
        world, now = self.world, self.world.clock.now()
        if schedule.cron is None:
            return  # a one-time schedule has no exceptions (422): PATCH its `at` instead
        upcoming = cron.policy_fire_times(
            schedule.cron,
            schedule.timezone,
            now + timedelta(minutes=1),
            op["nth"] + 1,
            policy=schedule.dst_policy,
        )
        if len(upcoming) <= op["nth"]:
            return
        occurrence = upcoming[op["nth"]]
        body: dict[str, Any] = {"occurrence": iso(occurrence), "action": op["op"]}
        if op["op"] == "move":
            move_to = occurrence + timedelta(minutes=op["by_minutes"])
            if move_to < now + timedelta(minutes=2):  # MIN_LEAD, whole minutes
                move_to = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
            body["moveTo"] = iso(move_to)
        if op.get("note"):
            body["note"] = op["note"]
        request = ExceptionCreate.model_validate(body)
        self.eventbridge.fail = op.get("eventbridge")
        service = self.service()

        def adopt(answer: Any) -> None:
            assert isinstance(answer, ScheduleException)
            if answer.id not in self.exceptions:
                self.exceptions[answer.id] = SimException(
                    answer.id,
                    answer.schedule_id,
                    answer.occurrence,
                    answer.action,
                    answer.move_to,
                    answer.note,
                    world.clock.now(),
                )
                self.stats[f"exceptions {answer.action}"] += 1

        try:
            world.client.send(
                "addScheduleException",
                f"/api/schedules/{schedule.id}/exceptions",
                request,
                lambda idempotent: service.add_exception(None, schedule.id, request, idempotent),
                adopt,
                op.get("key"),
                op.get("lose_answer", False),
            )
        except SchedulerUnavailable:
            self.stats["exception adds failed"] += 1
            raise
        finally:
            self.eventbridge.fail = None
            world.eventbridge.refresh_prefix(PREFIX)

    def remove(self, op: dict[str, Any]) -> None:
        """Remove one of the model's exceptions still ahead (the op's `which`), its answer
        lost and sent again when `lose_answer` (a 404 then: it is gone)."""
        now = self.world.clock.now()
        live = {s.id for s in self.world.model.live()}
        removable = [
            e
            for e in self.exceptions.values()
            if e.removed_at is None
            and e.schedule_id in live
            and min(e.occurrence, e.move_to or e.occurrence) > now + REMOVE_LEAD
        ]
        if not removable:
            return
        exception = removable[op["which"] % len(removable)]
        service = self.service()
        try:
            service.remove_exception(None, exception.schedule_id, exception.id)
        finally:
            self.world.eventbridge.refresh_prefix(PREFIX)
        exception.removed_at = now
        self.stats["exceptions removed"] += 1
        if op.get("lose_answer"):
            self.world.client.wait(7)
            try:
                service.remove_exception(None, exception.schedule_id, exception.id)
            except DomainError:
                return  # gone: the first one removed it
            self.world.client.findings.append(
                f"[an exception is removed once] {exception.id}: removed again"
            )

    def reconcile(self) -> None:
        """The periodic pass keeps the moves' at() schedules (after the check, as it does)."""
        try:
            summary = reconcile_moves(
                ExceptionQueries(self.world.check_db),
                self.world.eventbridge.api,
                now=self.world.clock.now,
            )
        except DomainError:
            return
        self.stats["moves repaired"] += summary.created + summary.deleted
        if summary.created or summary.deleted:
            self.world.eventbridge.refresh_prefix(PREFIX)

    def deleted(self, schedule_id: UUID) -> None:
        """Deleting a schedule deletes its exceptions (its at()s fire into nothing)."""
        for exception in self.exceptions.values():
            if exception.schedule_id == schedule_id and exception.removed_at is None:
                exception.removed_at = self.world.clock.now()

    def outcomes(self) -> Counter[str]:
        """How the excepted slots and the excluded fires ended (the run rows now)."""
        found: Counter[str] = Counter()
        for row in self.world.api_db.execute(
            """select e.action, r.status, r.trigger from schedule_exceptions e
               join schedule_runs r
                 on r.schedule_id = e.schedule_id and r.scheduled_time = e.occurrence"""
        ):
            word = "skipped" if row["action"] == "skip" else "moved"
            found[f"{word} slots {row['status']} ({row['trigger']})"] += 1
        row = self.world.api_db.execute(
            "select count(*) as n from schedule_runs where error like %s",
            (CALENDAR_SKIP_REASON + "%",),
        ).fetchone()
        found["skipped by calendar"] = row["n"] if row else 0
        return found

    # --- what the invariants ask

    def active(self, schedule_id: UUID, slot: datetime) -> SimException | None:
        """The exception of the slot that was never removed (a removed one left it ordinary)."""
        for exception in self.exceptions.values():
            removed = exception.removed_at
            if (exception.schedule_id, exception.occurrence) == (schedule_id, slot) and (
                removed is None or removed > slot
            ):
                return exception
        return None

    def due_at(self, schedule_id: UUID, slot: datetime) -> datetime:
        """When the slot's scheduled run may start: its move's new time, else the slot."""
        exception = self.active(schedule_id, slot)
        if exception is not None and exception.move_to is not None:
            return exception.move_to
        return slot
