"""Backfill: replay a schedule's fire times of an interval through the runner.

Each fire time in [from, to] (inside the schedule's startAt/endAt, at most BACKFILL_MAX_FIRES)
is queued as a waiting run with trigger `backfill` and handed to the runner one at a time,
oldest first (scheduler.run.queue): the same claim, lease and record as a scheduled fire, so a
backfill never overlaps a run of the workflow and never runs a fire time that ran already; a fire
time recorded `missed` never ran, and is run; one moved to a time still to come is left to its
move's at(). "Ran already" is a run row, so an interval with
fire times older than the history retention surely keeps (RunHistoryDays less a day) is refused:
their rows may be gone. Each backfilling workflow holds a runner slot run after run, so one
owner backfills at most MAX_ACTIVE_BACKFILLS_PER_OWNER workflows at once (429 beyond): the other
RunnerConcurrency slots stay for live fires. Progress is the run history.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.errors import Conflict, InvalidInput, LimitExceeded
from scheduler.models.runs import BACKFILL_MAX_FIRES, BackfillAccepted, BackfillRequest
from scheduler.policies.expected import window_fires_after
from scheduler.policies.idempotency import Idempotency
from scheduler.policies.owner_limits import OwnerLimits, take_request
from scheduler.run.queue import QUEUED_PATIENCE, HandOn, hand_on_next
from scheduler.store.audit import IN_PROCESS, AuditContext, AuditQueries
from scheduler.store.db import Database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.limits import LimitQueries
from scheduler.store.queue import QueueQueries
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.workflows import WorkflowQueries

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class BackfillQueries:
    """What a backfill reads and writes: the schedule, its workflow's owner, the owner's rate
    bucket, the queue its runs wait in and the audit log; `db` groups the cap's count, the
    queueing and its audit event in one transaction."""

    db: Database
    schedules: ScheduleQueries
    workflows: WorkflowQueries
    limits: LimitQueries
    queue: QueueQueries
    audit: AuditQueries

    @classmethod
    def over(cls, db: Database) -> BackfillQueries:
        return cls(
            db,
            ScheduleQueries(db),
            WorkflowQueries(db),
            LimitQueries(db),
            QueueQueries(db),
            AuditQueries(db),
        )


def backfill(
    queries: BackfillQueries,
    owner: UUID | None,
    schedule_id: UUID,
    request: BackfillRequest,
    *,
    now: datetime,
    hand_on: HandOn,
    owner_limits: OwnerLimits,
    key: Idempotency | None = None,
    audit: AuditContext = IN_PROCESS,
) -> BackfillAccepted:
    """Queue the fire times and hand the first on. One transaction from the Idempotency-Key's
    claim (the request's reads included) to its record, which so commits with the queued runs;
    the hand-on comes after the commit, so the runner finds them."""
    with queries.db.transaction():
        if key is not None:
            stored = key.stored_answer(BackfillAccepted)
            if stored is not None:  # the key's first request queued the runs and handed on
                return stored
        row = queries.schedules.get_schedule(schedule_id, owner)  # ScheduleNotFound: 404
        if not row["enabled"]:
            raise Conflict("schedule is disabled: enable it before backfilling it")
        if request.to > now:
            raise InvalidInput("to: must not be in the future (future fire times run on schedule)")
        fires = _fire_times(row, request.from_, request.to)
        _refuse_unknown_history(fires, now)
        ahead = _moved_ahead(ExceptionQueries(queries.db), schedule_id, now)
        target = owner
        if target is None:
            target = queries.workflows.workflow_owner(row["workflow_id"])
        # the cap's count and the queued runs in one transaction (a concurrent request of the
        # owner waits for its lock, then counts them); a refused request takes no rate token
        _limit_active_backfills(queries.queue, target, row["workflow_id"])
        take_request(queries.limits, target, "backfill", owner_limits.backfill_per_minute, now)
        queued = queries.queue.queue_runs(
            schedule_id,
            row["workflow_id"],
            [fire for fire in fires if fire not in ahead],
            trigger="backfill",
            now=now,
            wait_until=now + QUEUED_PATIENCE,
        )
        queries.audit.record(
            audit,
            "schedule",
            [schedule_id],
            "backfill",
            detail={
                "from": request.from_.isoformat(),
                "to": request.to.isoformat(),
                "fires": len(fires),
                "queued": queued,
            },
        )
        accepted = BackfillAccepted(
            schedule_id=schedule_id,
            fires=len(fires),
            queued=queued,
            runs_url=f"/api/schedules/{schedule_id}/runs",
        )
        if key is not None:
            key.record(202, accepted)
    if queued:
        hand_on_next(queries.queue, row["workflow_id"], hand_on)
    return accepted


def _moved_ahead(exceptions: ExceptionQueries, schedule_id: UUID, now: datetime) -> set[datetime]:
    """The occurrences moved to a time still to come: their at() runs them then, as the user
    chose; a backfill that ran one now would make that delivery a duplicate. (One moved to a
    time past, that never ran, is backfilled like any other.) No move can be added once the
    backfill has queued its slot: an occurrence with a run row takes no exception."""
    return {
        e["occurrence"]
        for e in exceptions.list_exceptions(schedule_id, since=now)
        if e["action"] == "move" and e["move_to"] > now
    }


def _limit_active_backfills(queue: QueueQueries, owner: UUID | None, workflow_id: UUID) -> None:
    """LimitExceeded (429) when other workflows of the owner are backfilling at the cap; one
    more backfill of a workflow that is backfilling joins its chain, which takes no more."""
    cap = get_settings().max_active_backfills_per_owner
    if queue.lock_and_count_owner_backfills(owner, workflow_id) >= cap:
        raise LimitExceeded(
            f"{cap} workflows of this owner are backfilling (MAX_ACTIVE_BACKFILLS_PER_OWNER):"
            " each holds a runner slot run after run; wait for one to finish"
        )


def _refuse_unknown_history(fires: list[datetime], now: datetime) -> None:
    """InvalidInput for fire times older than the run history surely kept: retention may have
    deleted their runs, and a fire time without a row looks as if it never ran (run again)."""
    settings = get_settings()
    kept_from = now - settings.surely_kept_history
    if fires and fires[0] < kept_from:
        raise InvalidInput(
            f"from: fire times before {iso_utc(kept_from)} are older than the run history kept"
            f" (RunHistoryDays {settings.run_history_days}, less a day), so whether they ran is"
            " no longer known: backfill from that time on, or keep more history"
        )


def _fire_times(row: dict, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's fire times in [start, end] inside its window (the expected ones:
    scheduler.policies.expected); InvalidInput past the cap."""
    try:
        fires = window_fires_after(row, start - _TICK, end, most=BACKFILL_MAX_FIRES + 1)
        listed = list(itertools.islice(fires, BACKFILL_MAX_FIRES + 1))
    except OverflowError as exc:  # an interval at the ends of the calendar (year 1 or 9999)
        raise InvalidInput("from: out of range for this schedule's timezone") from exc
    except ValueError as exc:  # the stored cron or timezone cannot be scheduled any more
        raise InvalidInput(f"the schedule cannot be evaluated: {exc}") from exc
    if len(listed) > BACKFILL_MAX_FIRES:
        raise InvalidInput(
            f"the interval holds more than {BACKFILL_MAX_FIRES} fire times of this schedule:"
            " backfill it in parts"
        )
    return listed
