"""Exceptions for single fire times of a schedule: skip one, or move it to another instant,
without pausing the schedule (pausing for a day and forgetting to resume is the failure this
prevents).

An add or a remove runs in one transaction under the schedule's writer lock (as every schedule
write does, scheduler.api.schedules), with its audit event; a move's at() schedule
(scheduler.sync.moves) is written to EventBridge before the commit and undone if the
transaction fails; what a failed undo leaves is repaired by reconcile_moves.

What is accepted (a 422 names the field, a 409 the clash and how to resolve it):
- only a recurring schedule has exceptions: a one-time one is changed with PATCH `at`;
- `occurrence` must be one of the cron's fire times, inside the schedule's window, still to
  come (its last instant, for a repeated wall time), at most MAX_AHEAD ahead and not claimed
  by a run yet;
- a schedule has at most MAX_UPCOMING exceptions still to come (409: remove one first): its
  read lists them and previews past them, and a change for good belongs in the cron;
- `moveTo` must be whole minutes, at least MIN_LEAD ahead, within MAX_MOVE of the occurrence, and no
  other fire time of the schedule (unless that one is skipped or moved away too) nor another
  move's new time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.cron.timezones import iso_utc
from scheduler.errors import Conflict, InvalidInput
from scheduler.models.schedule_exceptions import ExceptionCreate, ExceptionList, ScheduleException
from scheduler.observability import logger
from scheduler.policies.idempotency import Idempotency, IdempotentRequest
from scheduler.store.audit import IN_PROCESS, AuditContext, AuditQueries
from scheduler.store.db import Database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.idempotency import IdempotencyQueries
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sql import Row
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.moves import MoveSchedules, fire_settled

# The farthest a move may take an occurrence, either way: a run a week off its slot is a
# different run, and the missed-fire check looks back no further (policies.missed_fires).
MAX_MOVE = timedelta(days=7)

# The least time before a move's new time: its at() must exist in EventBridge before then.
MIN_LEAD = timedelta(minutes=1)
# The farthest ahead an occurrence may be: exceptions are for the coming weeks and months, a
# change for good belongs in the cron or the window.
MAX_AHEAD = timedelta(days=366)

# Exceptions still to come per schedule: GET /api/schedules/{id} lists them all and walks as many
# fire times more for its preview, so an unbounded number would make every read unbounded.
MAX_UPCOMING = 100

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ExceptionServiceQueries:
    db: Database
    schedules: ScheduleQueries
    exceptions: ExceptionQueries
    audit: AuditQueries
    idempotency: IdempotencyQueries

    @classmethod
    def over(cls, db: Database) -> ExceptionServiceQueries:
        return cls(
            db, ScheduleQueries(db), ExceptionQueries(db), AuditQueries(db), IdempotencyQueries(db)
        )


class ExceptionService:
    def __init__(
        self,
        queries: ExceptionServiceQueries,
        eventbridge: EventBridgeSchedules,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.queries = queries
        self.moves = MoveSchedules(eventbridge)
        self.clock = clock

    def list_exceptions(self, owner: UUID | None, schedule_id: UUID) -> ExceptionList:
        self.queries.schedules.get_schedule(schedule_id, owner)  # ScheduleNotFound: 404
        rows = self.queries.exceptions.list_exceptions(schedule_id)
        return ExceptionList(items=[ScheduleException.model_validate(r) for r in rows])

    def add_exception(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        request: ExceptionCreate,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> ScheduleException:
        """Add the exception (see the module); with an Idempotency-Key, its record commits with
        the row, and a retry gets the first answer."""
        row: Row | None = None
        try:
            with self.queries.db.transaction():
                key = Idempotency(self.queries.idempotency, idempotent)
                stored = key.stored_answer(ScheduleException)
                if stored is not None:  # added by the key's first request: nothing to undo
                    return stored
                schedule = self.queries.schedules.lock_schedule(schedule_id, owner)
                occurrence, move_to = self._checked(schedule, request)
                # under the schedule's writer lock: two adds cannot both pass the count
                if (
                    self.queries.exceptions.count_upcoming(schedule_id, self.clock())
                    >= MAX_UPCOMING
                ):
                    raise Conflict(
                        f"the schedule has {MAX_UPCOMING} exceptions still to come, the most it"
                        " may have: remove one first (a change for good belongs in its cron)"
                    )
                row = self.queries.exceptions.add_exception(
                    schedule_id,
                    occurrence=occurrence,
                    action=request.action,
                    move_to=move_to,
                    note=request.note,
                    created_by=audit.actor,
                )
                self.queries.audit.record(
                    audit, "schedule", [schedule_id], "exception_added", detail=_detail(row)
                )
                # EventBridge last: nothing after it can fail but the commit
                added = ScheduleException.model_validate(row)
                key.record(201, added)
                if move_to is not None:
                    self.moves.put({**row, "workflow_id": schedule["workflow_id"]})
        except Exception:
            if row is not None and row["action"] == "move":
                self._restore(row["id"])
            raise
        return added

    def remove_exception(
        self,
        owner: UUID | None,
        schedule_id: UUID,
        exception_id: UUID,
        audit: AuditContext = IN_PROCESS,
    ) -> None:
        row: Row | None = None
        try:
            with self.queries.db.transaction():
                self.queries.schedules.lock_schedule(schedule_id, owner)
                row = self.queries.exceptions.remove_exception(schedule_id, exception_id)
                _ensure_no_move_onto(self.queries.exceptions, row)
                self.queries.audit.record(
                    audit, "schedule", [schedule_id], "exception_removed", detail=_detail(row)
                )
                if row["action"] == "move":
                    self.moves.delete(exception_id)
        except Exception:
            if row is not None and row["action"] == "move":
                self._restore(exception_id)
            raise

    def _checked(self, schedule: Row, request: ExceptionCreate) -> tuple[datetime, datetime | None]:
        """The occurrence's slot and the move's new time, checked (see the module)."""
        if schedule["run_at"] is not None:
            raise InvalidInput(
                "occurrence: a one-time schedule has one fire time; to move it, PATCH its `at`;"
                " to skip it, pause or delete the schedule"
            )
        expr, zone, now = schedule["cron"], schedule["timezone"], self.clock()
        policy = cron.DstPolicy.of(schedule.get("dst_policy"))
        occurrence = _slot(schedule, _instant("occurrence", request.occurrence, zone))
        if occurrence is None:
            shown = request.occurrence
            upcoming = ", ".join(
                iso_utc(t) for t in cron.policy_fire_times(expr, zone, now, 3, policy=policy)
            )
            raise InvalidInput(
                f"occurrence: {shown} is not a fire time of this schedule ({expr} in {zone});"
                f" its next ones are {upcoming}"
            )
        start, end = schedule.get("start_at"), schedule.get("end_at")
        if (start is not None and occurrence < start) or (end is not None and occurrence > end):
            raise InvalidInput(
                f"occurrence: {iso_utc(occurrence)} is outside the schedule's startAt/endAt"
            )
        if cron.policy_last_occurrence(occurrence, zone, policy) <= now:
            raise InvalidInput(f"occurrence: {iso_utc(occurrence)} is in the past")
        if occurrence > now + MAX_AHEAD:
            raise InvalidInput(
                f"occurrence: {iso_utc(occurrence)} is more than {MAX_AHEAD.days} days ahead;"
                " add the exception closer to the time (or change the cron, or its window)"
            )
        if self.queries.exceptions.slot_has_run(schedule["id"], occurrence):
            raise InvalidInput(
                f"occurrence: {iso_utc(occurrence)} is already claimed by a run (it is firing)"
            )
        existing = self.queries.exceptions.exception_for(schedule["id"], occurrence)
        if existing is not None:
            raise Conflict(
                f"occurrence: {iso_utc(occurrence)} already has an exception ({existing['action']},"
                f" id {existing['id']}); DELETE it first to change it"
            )
        if request.move_to is None:
            return occurrence, None
        return occurrence, self._checked_move(schedule, occurrence, request.move_to, now)

    def _checked_move(
        self, schedule: Row, occurrence: datetime, text: str, now: datetime
    ) -> datetime:
        zone = schedule["timezone"]
        move_to = _instant("moveTo", text, zone)
        if move_to <= now:
            raise InvalidInput(f"moveTo: {iso_utc(move_to)} is in the past")
        if move_to < now + MIN_LEAD:
            # an at() made for the very next seconds may be made after its time, and never fire
            raise InvalidInput(
                f"moveTo: {iso_utc(move_to)} is less than a minute from now; pick a later minute"
            )
        if abs(move_to - occurrence) > MAX_MOVE:
            raise InvalidInput(
                f"moveTo: {iso_utc(move_to)} is more than {MAX_MOVE.days} days from the"
                f" occurrence {iso_utc(occurrence)}; skip it instead"
            )
        if move_to == occurrence:
            raise InvalidInput("moveTo: the same instant as the occurrence: nothing to move")
        moved = self.queries.exceptions.move_to_at(schedule["id"], move_to)
        if moved is not None:
            raise Conflict(
                f"moveTo: {iso_utc(move_to)} is where occurrence {iso_utc(moved['occurrence'])}"
                f" is moved already (exception {moved['id']}); pick another time, or remove"
                " that move first"
            )
        other = _slot(schedule, move_to)
        if (
            other is not None
            and other != occurrence
            and self.queries.exceptions.exception_for(schedule["id"], other) is None
        ):
            raise Conflict(
                f"moveTo: {iso_utc(move_to)} is another fire time of this schedule"
                f" ({iso_utc(other)}), which would then run twice at once; skip that"
                " occurrence too (an exception with action skip) or pick another time"
            )
        return move_to

    def _restore(self, exception_id: UUID) -> None:
        """After a failed add or remove of a move: make its at() follow the row as committed
        now (a fresh transaction under no lock; reconcile_moves repairs what this cannot)."""
        try:
            row = self.queries.exceptions.get_exception(exception_id)
            if row is None or fire_settled(row["move_to"], self.clock()):
                self.moves.delete(exception_id)
            else:
                schedule = self.queries.schedules.get_schedule(row["schedule_id"])
                self.moves.put({**row, "workflow_id": schedule["workflow_id"]})
        except Exception:
            logger.exception("could not undo a move's at() schedule", exception_id=exception_id)


def _ensure_no_move_onto(exceptions: ExceptionQueries, row: Row) -> None:
    """Conflict when another occurrence is moved onto the one whose exception goes: without it,
    that instant would run two slots at once."""
    moved = exceptions.move_to_at(row["schedule_id"], row["occurrence"])
    if moved is not None:
        raise Conflict(
            f"exceptionId: occurrence {iso_utc(moved['occurrence'])} is moved onto"
            f" {iso_utc(row['occurrence'])} (exception {moved['id']}); remove that move first"
        )


def _instant(field: str, text: str, zone: str) -> datetime:
    try:
        return cron.parse_at(text, zone)
    except ValueError as exc:  # AtError: its message names `at`, the field here is another
        raise InvalidInput(str(exc).replace("at: ", f"{field}: ", 1)) from exc
    except OverflowError as exc:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
        raise InvalidInput(f"{field}: out of range (years 1 to 9999 in UTC)") from exc


# The fields whose change makes other instants fire times (a move may then land on one).
WHEN_COLUMNS = frozenset({"cron", "timezone", "dst_policy", "start_at", "end_at"})


def ensure_moves_stay_clear(
    exceptions: ExceptionQueries, old: Row, changes: Mapping[str, Any], now: datetime
) -> None:
    """Conflict when a change of when the schedule fires makes the new time of one of its moves
    still to come a fire time of its own (the slot would run twice at once there), as adding
    that move would have been refused; the 409 names the move and the way out."""
    new = {**old, **changes}
    if not WHEN_COLUMNS & changes.keys() or new.get("cron") is None:
        return
    upcoming = exceptions.list_exceptions(old["id"], since=now)
    excepted = {e["occurrence"] for e in upcoming}
    for move in upcoming:
        if move["action"] != "move" or move["move_to"] <= now:
            continue
        other = _slot(new, move["move_to"])
        if other is not None and other != move["occurrence"] and other not in excepted:
            raise Conflict(
                f"the change makes {iso_utc(move['move_to'])}, where occurrence"
                f" {iso_utc(move['occurrence'])} is moved (exception {move['id']}), a fire time"
                " of its own, which would then run twice at once: remove that move, or skip"
                " the new fire time first"
            )


def _slot(schedule: Row, instant: datetime) -> datetime | None:
    """The slot `instant` names of the schedule, under its DST policy (as the runner's): under
    `last` a repeated wall time's slot is its second instant, named by either one."""
    expr, zone = schedule["cron"], schedule["timezone"]
    policy = cron.DstPolicy.of(schedule.get("dst_policy"))
    try:
        slot = cron.policy_fire_slot(expr, zone, instant, policy)
        if slot is None and (second := cron.last_occurrence(instant, zone)) != instant:
            slot = cron.policy_fire_slot(expr, zone, second, policy)
        return slot
    except OverflowError:  # at the ends of the calendar: no fire time there
        return None
    except ValueError as exc:
        raise InvalidInput(f"the stored cron or timezone cannot be evaluated ({exc})") from exc


def _detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """An exception as its audit event shows it (camelCase, as the API does)."""
    return {
        "exceptionId": str(row["id"]),
        "occurrence": iso_utc(row["occurrence"]),
        "action": row["action"],
        "moveTo": iso_utc(row["move_to"]) if row["move_to"] is not None else None,
        "note": row["note"],
    }
