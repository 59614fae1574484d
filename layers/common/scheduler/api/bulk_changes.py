"""Bulk pause and resume for incident response: every schedule matching a filter, with a note,
bounded, safe to retry.

The database change is one transaction: every matching row changes, or none does (a failure, a
lost connection, a dead Lambda before the commit leaves them all as they were). From its commit
the database is the truth: the runner claims no fire of a disabled row (store.runs.claim), so a
pause is in force before EventBridge hears of it. Each changed row is marked pending
(store.sync_pending) in that transaction; after the commit the request writes EventBridge for as
many as fit its time budget, at a bounded rate (scheduler.sync.pending), and starts a drain
invocation for the rest. Nothing depends on the request finishing: a retry (with the same
Idempotency-Key, or without: the rows are already so, a no-op) drains again, and the reconcile
pass drains before its shards. EventBridge's quotas and the arithmetic: docs/reliability.md.

Resume is the direction where EventBridge lagging costs fires: a row enabled while its
EventBridge schedule is still DISABLED fires nothing until drained. Those fire times have no
run; the missed-fire check (which runs after the pass's drain) finds them missed and applies the
schedule's catchupPolicy, so a `latest` or `all` schedule catches up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from scheduler.api.schedule_checks import ensure_schedulable
from scheduler.errors import DomainError, InvalidInput
from scheduler.models.bulk_changes import (
    BULK_MAX_LIMIT,
    BulkAction,
    BulkChangeResult,
    BulkPause,
    BulkResume,
)
from scheduler.observability import logger
from scheduler.policies.idempotency import Idempotency, IdempotentRequest
from scheduler.store.audit import IN_PROCESS, AuditContext, AuditQueries
from scheduler.store.bulk_changes import BulkChangeQueries
from scheduler.store.db import Database
from scheduler.store.idempotency import IdempotencyQueries
from scheduler.store.schedule_filters import ScheduleFilter
from scheduler.store.sql import Row
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.pending import DrainQueries, drain_pending

# Seconds of the request (API Gateway waits 30) spent writing EventBridge after the commit: at
# the drain rate, about this times the rate of schedules; the rest is drained elsewhere. Leaves
# room for the transaction before and for one throttled call's retries.
EVENTBRIDGE_BUDGET_S = 8.0


@dataclass(frozen=True)
class BulkChangeServiceQueries:
    """The matching rows, the markers, the Idempotency-Key records, all over one Database (one
    transaction for the change), and the drain's."""

    db: Database
    bulk: BulkChangeQueries
    idempotency: IdempotencyQueries
    drain: DrainQueries
    audit: AuditQueries

    @classmethod
    def over(cls, db: Database) -> BulkChangeServiceQueries:
        return cls(
            db,
            BulkChangeQueries(db),
            IdempotencyQueries(db),
            DrainQueries.over(db),
            AuditQueries(db),
        )


class BulkChanges:
    def __init__(
        self,
        queries: BulkChangeServiceQueries,
        eventbridge: EventBridgeSchedules,
        *,
        start_drain: Callable[[], None] | None = None,
        budget_s: float = EVENTBRIDGE_BUDGET_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queries = queries
        self.eventbridge = eventbridge
        self.start_drain = start_drain
        self.budget_s = budget_s
        self.clock = clock

    def pause(
        self,
        owner: UUID | None,
        request: BulkPause,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> BulkChangeResult:
        return self._change(owner, "pause", request, idempotent, audit)

    def resume(
        self,
        owner: UUID | None,
        request: BulkResume,
        idempotent: IdempotentRequest | None = None,
        audit: AuditContext = IN_PROCESS,
    ) -> BulkChangeResult:
        return self._change(owner, "resume", request, idempotent, audit)

    def _change(
        self,
        owner: UUID | None,
        action: BulkAction,
        request: BulkPause | BulkResume,
        idempotent: IdempotentRequest | None,
        audit: AuditContext,
    ) -> BulkChangeResult:
        selected = request.filter.selected()  # InvalidInput naming a malformed part
        if request.dry_run:  # never recorded under an Idempotency-Key: it changes nothing
            with self.queries.db.transaction():
                planned = self._plan(owner, action, request, selected, lock=False)[0]
                pending = self.queries.drain.pending.count_pending(owner)
            return planned.model_copy(update={"eventbridge_pending": pending})
        with self.queries.db.transaction():
            key = Idempotency(self.queries.idempotency, idempotent)
            result = key.stored_answer(BulkChangeResult)
            if result is None:  # the key's first request (or none): do it
                result, changed = self._plan(owner, action, request, selected, lock=True)
                changed = self._write(action, request, changed, audit)
                result = result.model_copy(update={"changed": len(changed), "ids": changed})
                key.record(200, result)
        # committed: the rows are the truth; EventBridge follows, here and in any later drain
        return result.model_copy(update={"eventbridge_pending": self._follow(owner)})

    def _plan(
        self,
        owner: UUID | None,
        action: BulkAction,
        request: BulkPause | BulkResume,
        selected: ScheduleFilter,
        *,
        lock: bool,
    ) -> tuple[BulkChangeResult, list[UUID]]:
        """What the request would change: the result (eventbridgePending not yet known) and
        the ids to change; InvalidInput when more schedules match than the request's limit."""
        bulk = self.queries.bulk
        matched = bulk.count_matching(owner, selected)
        _ensure_within(matched, request.limit)
        # one more than the limit: rows inserted since the count are seen, and refused alike
        rows = bulk.matching(owner, selected, limit=request.limit + 1, lock=lock)
        _ensure_within(len(rows), request.limit)
        to_change, skipped = _to_change(rows, action, self.clock())
        result = BulkChangeResult(
            action=action,
            dry_run=request.dry_run,
            matched=len(rows),
            changed=len(to_change),
            ids=to_change,
            skipped=skipped,
            eventbridge_pending=0,
        )
        return result, to_change

    def _write(
        self,
        action: BulkAction,
        request: BulkPause | BulkResume,
        ids: list[UUID],
        audit: AuditContext,
    ) -> list[UUID]:
        """Change the rows (locked by _plan), mark them pending, and record one audit event
        per changed schedule (one statement), all in the change's transaction."""
        bulk = self.queries.bulk
        if isinstance(request, BulkPause):
            assert request.note is not None  # BulkPause requires one unless dryRun
            changed = bulk.pause(ids, request.note)
        else:
            changed = bulk.resume(ids, request.note, set_note="note" in request.model_fields_set)
        self.queries.drain.pending.mark_pending(changed)
        paused = action == "pause"
        self.queries.audit.record_many(
            audit,
            changed,
            "bulk_paused" if paused else "bulk_resumed",
            changes={"enabled": {"before": paused, "after": not paused}},
            # the filter says why these schedules and not others, the note why at all
            detail={
                "note": request.note,
                "filter": request.filter.model_dump(
                    mode="json", by_alias=True, exclude_defaults=True
                ),
            },
        )
        return changed

    def _follow(self, owner: UUID | None) -> int:
        """Write the caller's pending EventBridge updates for the time budget, and start a drain
        for what is left; the caller's pending updates still to make. An EventBridge failure
        only stops the writing (the drains do the rest); a database failure here is a 503 whose
        retry is safe (the change is committed: a replay, or a no-op)."""
        deadline = time.monotonic() + self.budget_s
        drain_pending(
            self.queries.drain,
            self.eventbridge,
            owner=owner,
            time_left_s=lambda: deadline - time.monotonic(),
        )
        left = self.queries.drain.pending.count_pending(owner)
        if left and self.start_drain is not None:
            try:
                self.start_drain()
            except DomainError:  # the next reconcile pass drains them
                logger.exception("bulk change: could not start a drain of pending updates")
        return left


def _ensure_within(matched: int, limit: int) -> None:
    if matched > limit:
        raise InvalidInput(
            f"limit: {matched:,} schedules match, more than the limit of {limit:,}; nothing was"
            f" changed. Narrow the filter, or raise limit (at most {BULK_MAX_LIMIT:,})"
        )


def _to_change(rows: list[Row], action: BulkAction, now: datetime) -> tuple[list[UUID], list[UUID]]:
    """The ids to change (not already so), and, for a resume, the ones skipped: rows PATCH would
    refuse to enable (a stored cron or timezone that can no longer be scheduled)."""
    if action == "pause":
        return [row["id"] for row in rows if row["enabled"]], []
    to_change, skipped = [], []
    for row in rows:
        if row["enabled"]:
            continue
        try:
            ensure_schedulable(row, {}, now)
        except InvalidInput:
            skipped.append(row["id"])
        else:
            to_change.append(row["id"])
    return to_change, skipped
