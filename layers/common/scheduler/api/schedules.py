"""The Schedules API's use cases: CRUD that keeps the database and EventBridge in step.

The database is the source of truth. A write of a schedule runs in one transaction under the
schedule's writer lock (ScheduleQueries.lock_schedule_writers: advisory, not a row lock, so the
runner never waits on it), changes EventBridge first and the row last, and commits: the row lock the
UPDATE or DELETE takes is held only until the commit, never across an EventBridge call.
A failure after EventBridge was touched is undone by re-applying the row as it is committed
NOW (or removing the schedules if it is gone), in a fresh transaction under the same lock: never
a remembered state, which a newer write may have replaced meanwhile. So a client never leaves
a row without its EventBridge schedule(s) or the reverse; what a failed undo leaves behind is
repaired by the reconcile function.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from scheduler.api.audit_changes import record_change, schedule_changes
from scheduler.api.calendars import ensure_usable_calendars
from scheduler.api.run_now import hand_manual_run_to_runner
from scheduler.api.schedule_checks import (
    ensure_new_timezone_may_be_written,
    ensure_schedulable,
    ensure_window,
    one_time_changes,
)
from scheduler.api.schedule_exceptions import ensure_moves_stay_clear
from scheduler.api.schedule_reads import detail_fields, listed_fields
from scheduler.errors import InvalidInput, ScheduleNotFound, WorkflowNotFound
from scheduler.models.runs import BackfillAccepted, BackfillRequest, Run, RunAccepted, RunPage
from scheduler.models.schedule_views import ScheduleDetail, SchedulePage, ScheduleView
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.models.workflows import Workflow, WorkflowPage
from scheduler.observability import logger
from scheduler.policies.backfill import BackfillQueries
from scheduler.policies.backfill import backfill as queue_backfill
from scheduler.policies.idempotency import Idempotency, IdempotentRequest
from scheduler.policies.owner_limits import OwnerLimits
from scheduler.steps.definitions import with_loaded_definition
from scheduler.store import pagination
from scheduler.store.audit import IN_PROCESS, AuditContext, AuditQueries
from scheduler.store.calendars import CalendarQueries
from scheduler.store.db import Database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.idempotency import IdempotencyQueries
from scheduler.store.limits import LimitQueries
from scheduler.store.queue import QueueQueries
from scheduler.store.schedule_filters import ScheduleFilter
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sql import Row
from scheduler.store.sync_state import SyncStateQueries
from scheduler.store.workflows import WorkflowQueries
from scheduler.sync.eventbridge import EventBridgeSchedules, desired_schedules

Clock = Callable[[], datetime]
# A change of only these, with `enabled: false`, is a pause: it works whatever the row holds.
_PAUSE_FIELDS = frozenset({"enabled", "note"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ScheduleServiceQueries:
    """What the Schedules API reads and writes; `db` holds each write, its locks and its
    EventBridge record in one transaction. The queue is the backfills'."""

    db: Database
    workflows: WorkflowQueries
    schedules: ScheduleQueries
    sync_state: SyncStateQueries
    limits: LimitQueries
    queue: QueueQueries
    idempotency: IdempotencyQueries
    audit: AuditQueries
    calendars: CalendarQueries
    exceptions: ExceptionQueries

    @classmethod
    def over(cls, db: Database) -> ScheduleServiceQueries:
        return cls(
            db,
            WorkflowQueries(db),
            ScheduleQueries(db),
            SyncStateQueries(db),
            LimitQueries(db),
            QueueQueries(db),
            IdempotencyQueries(db),
            AuditQueries(db),
            CalendarQueries(db),
            ExceptionQueries(db),
        )

    def backfill(self) -> BackfillQueries:
        return BackfillQueries(
            self.db, self.schedules, self.workflows, self.limits, self.queue, self.audit
        )


class ScheduleService:
    """Use cases of one caller-independent service; `owner` None means every row (service role)."""

    def __init__(
        self,
        queries: ScheduleServiceQueries,
        eventbridge: EventBridgeSchedules,
        invoke_runner: Callable[[dict[str, Any]], None],
        clock: Clock = _utc_now,
        owner_limits: OwnerLimits | None = None,
    ) -> None:
        self.queries = queries
        self.eventbridge = eventbridge
        self.invoke_runner = invoke_runner
        self.clock = clock
        self.owner_limits = owner_limits or OwnerLimits.from_settings()

    # --- reads

    def list_schedules(
        self,
        owner: UUID | None,
        selected: ScheduleFilter,
        *,
        limit: int,
        cursor: str | None,
    ) -> SchedulePage:
        rows = self.queries.schedules.list_schedules(
            owner, selected, limit=limit + 1, after=pagination.decode_cursor(cursor)
        )
        items, next_cursor = pagination.page(rows, limit, "created_at")
        items = listed_fields(self.queries.calendars, self.queries.exceptions, items, self.clock())
        # One validation of the whole page: a call per item costs more than the items' work.
        return SchedulePage.model_validate({"items": items, "next_cursor": next_cursor})

    def get_schedule(self, owner: UUID | None, schedule_id: UUID) -> ScheduleDetail:
        row, last_run = self.queries.schedules.get_schedule_with_last_run(schedule_id, owner)
        fields = detail_fields(self.queries.calendars, self.queries.exceptions, row, self.clock())
        return ScheduleDetail.model_validate({**fields, "last_run": last_run})

    def list_runs(
        self, owner: UUID | None, schedule_id: UUID, *, limit: int, cursor: str | None
    ) -> RunPage:
        rows = self.queries.schedules.list_runs(
            schedule_id, owner, limit=limit + 1, after=pagination.decode_cursor(cursor)
        )
        items, next_cursor = pagination.page(rows, limit, "scheduled_time")
        return RunPage(items=[Run.model_validate(row) for row in items], next_cursor=next_cursor)

    def list_workflows(self, owner: UUID | None, *, limit: int, cursor: str | None) -> WorkflowPage:
        rows = self.queries.workflows.list_workflows(
            owner, limit=limit + 1, after=pagination.decode_cursor(cursor)
        )
        items, next_cursor = pagination.page(rows, limit, "created_at")
        return WorkflowPage(
            items=[Workflow.model_validate(with_loaded_definition(row)) for row in items],
            next_cursor=next_cursor,
        )

    def get_workflow(self, owner: UUID | None, workflow_id: UUID) -> Workflow:
        workflow = self.queries.workflows.get_workflow(workflow_id, owner)
        return Workflow.model_validate(with_loaded_definition(workflow))

    # --- writes

    def create_schedule(
        self,
        owner: UUID | None,
        request: ScheduleCreate,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> ScheduleView:
        """Insert the row and its EventBridge schedule(s), within the owner's schedule limit;
        with an Idempotency-Key, its record commits with the row (policies.idempotency)."""
        return self.create_schedule_from(
            owner, request.workflow_id, request.columns(), idempotent, audit
        )

    def create_schedule_from(
        self,
        owner: UUID | None,
        workflow_id: UUID,
        columns: Mapping[str, Any],
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> ScheduleView:
        """create_schedule of the row's columns (a request's `columns()`); ExternalIdTaken when
        another schedule of the owner has its external_id (nothing is written then). Its audit
        event commits with the row."""
        row: Row | None = None
        try:
            with self.queries.db.transaction():
                key = Idempotency(self.queries.idempotency, idempotent)
                stored = key.stored_answer(ScheduleView)
                if stored is not None:  # created by the key's first request: nothing to undo
                    return stored
                try:
                    # The limit is the workflow owner's, whoever asks (see
                    # scheduler.policies.owner_limits).
                    target = owner
                    if target is None:
                        target = self.queries.workflows.workflow_owner(workflow_id)
                    self.owner_limits.ensure_room_for_a_schedule(self.queries.limits, target)
                    ensure_usable_calendars(
                        self.queries.calendars, target, columns.get("exclude_calendars")
                    )
                    row = self.queries.schedules.create_schedule(
                        owner, workflow_id=workflow_id, **columns
                    )
                except WorkflowNotFound as exc:
                    raise InvalidInput(
                        f"workflowId: no workflow {workflow_id} (unknown or not yours)"
                    ) from exc
                # No one else can see the new row yet, so no one waits on it; the writer lock
                # makes a reconcile pass that finds its schedule wait for the commit.
                self.queries.schedules.lock_schedule_writers(row["id"])
                written = self.eventbridge.apply(row, existing=())
                # committed with the row: the next reconcile pass knows it is in step
                self.queries.sync_state.record_eventbridge_state(row["id"], written)
                self.queries.audit.record(
                    audit, "schedule", [row["id"]], "created", changes=schedule_changes(None, row)
                )
                view = self.view(row)
                key.record(201, view)
        except Exception:
            if row is not None:  # rolled back (or, a lost commit reply, not): follow the row
                self.restore_eventbridge(row["id"])
            raise
        return view

    def update_schedule(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        request: ScheduleUpdate,
        audit: AuditContext = IN_PROCESS,
    ) -> ScheduleView:
        """Apply the change; a pause (`enabled: false`, with or without a note) works whatever
        the row holds.

        Anything else must leave a row that can be scheduled: a stored cron or timezone that no
        longer can be (see `unschedulable`) is InvalidInput asking for a new one, and nothing
        changes; so is a window whose end would not be after its start. A pause that EventBridge
        cannot take as the row is (our mapping or its own validation refuses the stored values)
        removes the row's EventBridge schedules instead: a disabled row needs none, and
        reconcile, which cannot map the row either, leaves it so.
        """
        return self.change_schedule(
            owner,
            schedule_id,
            lambda old: one_time_changes(old, request.changes(), self.clock()),
            audit,
        )

    def change_schedule(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        changes_of: Callable[[Row], dict[str, Any]],
        audit: AuditContext = IN_PROCESS,
    ) -> ScheduleView:
        """update_schedule of the changes `changes_of` finds in the row as committed, read under
        the writer lock; none changes nothing (no write, no EventBridge call, no audit event).
        The audit event (`updated`, `paused`, `resumed`: the fields that changed, before and
        after) commits with the row; a write that changes no field as the API shows it (the
        same value sent again) records none."""
        touched = False
        try:
            with self.queries.db.transaction():
                old = self.queries.schedules.lock_schedule(schedule_id, owner)
                changes = changes_of(old)
                if not changes:
                    return self.view(old)
                if "exclude_calendars" in changes:
                    ensure_usable_calendars(
                        self.queries.calendars, old["owner_id"], changes["exclude_calendars"]
                    )
                pause = changes.get("enabled") is False and changes.keys() <= _PAUSE_FIELDS
                ensure_window({**old, **changes}, changes)
                ensure_new_timezone_may_be_written(old, changes)
                if not pause:
                    ensure_schedulable({**old, **changes}, changes, self.clock())
                ensure_moves_stay_clear(self.queries.exceptions, old, changes, self.clock())
                if changes.get("enabled") is True:
                    changes["disabled_reason"] = None
                    if not old["enabled"]:  # re-enabled: its failure streak starts again
                        changes["consecutive_failures"] = 0
                touched = True
                # EventBridge first, the row last: the row lock lasts only until the commit.
                written = None
                try:
                    written = self.eventbridge.apply(
                        {**old, **changes}, existing=_names_in_eventbridge(old)
                    )
                except InvalidInput:
                    if not pause:
                        raise
                    self.eventbridge.remove(schedule_id)
                row = self.queries.schedules.update_schedule(schedule_id, owner, changes)
                if written is None:
                    self.queries.sync_state.forget_eventbridge_state(schedule_id)
                else:
                    self.queries.sync_state.record_eventbridge_state(schedule_id, written)
                record_change(self.queries.audit, audit, old, row)
        except Exception:
            if touched:  # EventBridge may hold a half-applied new state
                self.restore_eventbridge(schedule_id)
            raise
        return self.view(row)

    def view(self, row: Row) -> ScheduleView:
        """A written row's view: its next fire time as the list shows it."""
        [fields] = listed_fields(
            self.queries.calendars, self.queries.exceptions, [row], self.clock()
        )
        return ScheduleView.model_validate(fields)

    def delete_schedule(
        self, owner: UUID | None, schedule_id: UUID, audit: AuditContext = IN_PROCESS
    ) -> None:
        touched = False
        try:
            with self.queries.db.transaction():
                old = self.queries.schedules.lock_schedule(schedule_id, owner)
                touched = True
                # EventBridge first, the row last: the row lock lasts only until the commit.
                # Its DST at() schedules are the old row's (None, unmappable: listed).
                self.eventbridge.remove(schedule_id, dst_known=_names_in_eventbridge(old))
                # before the row goes: the event's owner is read from it
                self.queries.audit.record(
                    audit, "schedule", [schedule_id], "deleted", changes=schedule_changes(old, None)
                )
                self.queries.schedules.delete_schedule(schedule_id, owner)
        except Exception:
            if touched:  # EventBridge may have lost some of the row's schedules
                self.restore_eventbridge(schedule_id)
            raise

    def run_now(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> RunAccepted:
        """Hand one manual run to the runner (same lock, same recording as a scheduled fire).

        The request is one transaction, the runner's invocation inside it: the audit event (and
        with an Idempotency-Key, the key's record) commits only once the runner has accepted the
        invocation, and an invocation that fails rolls back the event, the record and the rate
        token alike. (The rate bucket's row stays locked for that invocation's few
        milliseconds.)
        """
        with self.queries.db.transaction():
            key = Idempotency(self.queries.idempotency, idempotent)
            stored = key.stored_answer(RunAccepted)
            if stored is not None:
                return stored
            accepted = hand_manual_run_to_runner(self, owner, schedule_id, audit)
            key.record(202, accepted)
        return accepted

    def backfill(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        request: BackfillRequest,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> BackfillAccepted:
        """Queue the interval's fire times to run one at a time (scheduler.policies.backfill);
        with an Idempotency-Key, its record commits with the queued runs."""
        return queue_backfill(
            self.queries.backfill(),
            owner,
            schedule_id,
            request,
            now=self.clock().astimezone(UTC),
            hand_on=self.invoke_runner,
            owner_limits=self.owner_limits,
            key=Idempotency(self.queries.idempotency, idempotent),
            audit=audit,
        )

    def restore_eventbridge(self, schedule_id: UUID) -> None:
        """After a failed write: make EventBridge hold what the database holds now.

        The write's transaction is over (its writer lock released), so another write may have
        committed since: the row is read again, under the writer lock, in a transaction of its
        own, and that is what EventBridge gets (nothing if the row is gone).
        """
        try:
            with self.queries.db.transaction():
                try:
                    row = self.queries.schedules.lock_schedule(schedule_id)
                except ScheduleNotFound:
                    self.eventbridge.remove(schedule_id)
                else:
                    self.queries.sync_state.record_eventbridge_state(
                        schedule_id, self.eventbridge.apply(row)
                    )
        except Exception:  # the original failure is what the client sees; reconcile repairs drift
            logger.exception(
                "could not undo EventBridge change", extra={"schedule_id": str(schedule_id)}
            )


def _names_in_eventbridge(row: Row) -> Collection[str] | None:
    """The schedule names a row has in EventBridge; None if its stored cron no longer converts."""
    try:
        return desired_schedules(row).keys()
    except ValueError:  # CronError or InvalidTimezone
        return None
