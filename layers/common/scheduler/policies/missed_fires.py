"""The missed-fire check: keep the run history equal to the schedules' fire times.

Reconcile keeps EventBridge equal to the rows; this keeps the run rows equal to the fire times.
A fire time of an enabled schedule (inside its startAt/endAt, after `fires_from`: when it was
created, last enabled or changed, or after that write's EventBridge schedule existed, if later)
with no run row `missed_fire_grace_s` after it was due is
missed, whatever the cause: EventBridge did not deliver it, the runner was throttled past the
event's age, every retry failed before the claim, the schedule was missing from EventBridge, or
the whole system was down. "Due" is the fire time's last occurrence (a repeated autumn wall time
may be delivered at either instant, and is one slot) plus the schedule's flexible window.

Each missed slot gets a run row, then the schedule's catchupPolicy decides:
- skip: the row is `missed` (a late delivery of the slot finds it: a duplicate);
- latest: the most recent missed slot within catchupWindowSeconds waits to run, trigger
  `catchup` (scheduler.run.queue), the others are `missed`;
- all: every missed slot within the window waits to run, oldest first, one at a time.
A slot is within the window when the check found it missed at most catchupWindowSeconds after
it was due. One that became due while the check was up (its passes no more than OUTAGE_INTERVALS
of its interval apart since) was found as soon as the check could: within any window. One due
during an outage of the check was found at the first pass after it (up_since in
missed_fire_check_passes, the check's heartbeat), or earlier at the first pass that had it due
when its schedule had more due slots than a batch takes (schedule_fire_checks.backlog_found_at).
A slot outside the window is only recorded. A slot of a schedule disabled since is only
recorded, whatever the policy (slots after the pause are not missed). Every missed slot
publishes a `Run Missed` alert, once: an alert EventBridge did not accept stays pending and the
next passes send it.

A pass is bounded (batches of schedules, at most MAX_SLOTS fire times of a schedule per batch,
a time budget) and idempotent: a row is written only where the slot has none (the same unique
slot as every run), and each schedule's progress is kept in schedule_fire_checks, so a pass that
stops anywhere is continued by the next. A schedule with more due fire times than a batch takes
stays due, so the pass's next batch continues it. Under `latest`, nothing is queued until its
newest due slot is reached: an older slot never runs as the "latest". The newest missed slot
within the window an earlier batch found is left without a row meanwhile, carried in
schedule_fire_checks.backlog_latest_slot: the batch that reaches the newest due slot queues it
if it found no newer one (the slots after it may have run). The pass then hands on waiting runs
whose hand-on is overdue.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.config import get_settings
from scheduler.cron.exclusions import Exclusion, excluded_by
from scheduler.observability import logger, metrics
from scheduler.policies import catchup as catchup_policy
from scheduler.policies.excepted_fires import settle_excepted_fires
from scheduler.policies.expected import window_fires_after
from scheduler.policies.fire_times import dst_policy, last_occurrence, schedule_fire_times
from scheduler.run import alerts
from scheduler.run.queue import QUEUED_PATIENCE, HandOn, hand_on_next, hand_on_run
from scheduler.store.db import Database
from scheduler.store.fire_checks import CheckedThrough, CheckPass, FireCheckQueries, MissedRow
from scheduler.store.queue import QueueQueries
from scheduler.store.sql import Row

Clock = Callable[[], datetime]
# Schedules read and decided at once (a few statements per batch).
BATCH = 200
# Fire times of one schedule looked at per batch; the rest wait for the next batch.
MAX_SLOTS = 500
# Fire times older than this are never looked at: the longest catch-up window (or, shorter, the
# run history surely kept: Settings.surely_kept_history).
LOOKBACK = timedelta(seconds=604_800)
# The longest an API write lasts (ApiFunction's timeout): the span between fires_from (its
# transaction's start) and the end of its EventBridge write.
MAX_WRITE_SPAN = timedelta(seconds=30)
# Batches per pass when no time budget is given (the local stack).
MAX_BATCHES = 25
# Time left at which a pass stops after its batch (AWS: the reconcile invocation's).
RESERVE_S = 60.0
# Fire times written by one batch at most (its statements stay short after a long outage).
SLOTS_PER_BATCH = 5000
_SUPERSEDED = catchup_policy.SUPERSEDED
# A slot carried under `latest` (backlog_latest_slot) whose schedule's check restarted since.
_RESTARTED = "not run: its schedule was changed or enabled again since"
# Stalled waiting runs handed on per pass (one per workflow).
MAX_STALLED = 200
# Left-over `Run Missed` alerts (not accepted before) sent again per pass.
MAX_PENDING_ALERTS = 500
_TICK = timedelta(microseconds=1)


@dataclass
class MissedSummary:
    fire_checks: int = 0  # schedule checks (a backlog longer than a batch: one per batch)
    missed_fires: int = 0  # rows written `missed`
    catchup_queued: int = 0  # rows written to be caught up
    handed_on: int = 0  # waiting runs handed to the runner (new and stalled)
    skipped_by_exception: int = 0  # undelivered skipped slots recorded (policies.excepted_fires)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Decision:
    check: CheckedThrough
    slots: list[datetime]  # due fire times, oldest first
    schedule: Row
    at: datetime  # this pass
    wait: timedelta  # grace + flexible window: a slot is due this long after it last occurs
    up_since: datetime  # the first pass after the check's latest outage (this one, or earlier)
    # the earlier pass that found the slots due by then (None: this one found them all)
    found_before: datetime | None = None
    complete: bool = True  # no due fire time is left after the slots
    paused: bool = False  # disabled since: the slots are recorded, never run
    # the newest missed slot within the window an earlier batch left without a row (`latest`)
    carried: datetime | None = None

    def in_catchup_window(self, slot: datetime) -> bool:
        """Whether the check found `slot` missed at most catchupWindowSeconds after it was due."""
        due = catchup_policy.slot_due(
            slot, self.schedule["timezone"], self.wait, dst_policy(self.schedule)
        )
        found = self.up_since  # due during the check's outage: found at the first pass after it
        if self.found_before is not None and due <= self.found_before:
            found = min(found, self.found_before)
        return catchup_policy.in_window(
            due, self.up_since, found, self.schedule["catchup_window_seconds"]
        )


@dataclass(frozen=True)
class MissedFireQueries:
    """The check's own statements, and the queue's: it hands on the runs it queues, and the
    waiting runs whose hand-on was lost."""

    fire_checks: FireCheckQueries
    queue: QueueQueries

    @classmethod
    def over(cls, db: Database) -> MissedFireQueries:
        return cls(FireCheckQueries(db), QueueQueries(db))


def check_missed_fires(
    queries: MissedFireQueries,
    *,
    hand_on: HandOn,
    now: Clock = lambda: datetime.now(UTC),
    remaining_s: Callable[[], float] | None = None,
    undeliverable_before: datetime | None = None,
    interval: timedelta | None = None,
) -> MissedSummary:
    """One pass of the check (see the module). With `remaining_s` (the seconds the caller
    gives it), it stops after the batch that leaves less than RESERVE_S; without, after
    MAX_BATCHES batches. `undeliverable_before`: fire times before it can no longer come (the
    local stack's engine fires only what follows its start), so they need no grace.
    `interval`: how often passes come (default: ReconcileSchedule's, from the settings)."""
    summary = MissedSummary()
    settings = get_settings()
    grace = timedelta(seconds=settings.missed_fire_grace_s)
    if interval is None:
        interval = timedelta(seconds=settings.missed_fire_check_interval_s)
    at = now()
    up_since = catchup_policy.up_since(queries.fire_checks.last_fire_check_pass(), at, interval)
    for batch_number in itertools.count():
        if remaining_s is None and batch_number >= MAX_BATCHES:
            break
        if remaining_s is not None and batch_number and remaining_s() < RESERVE_S:
            break
        due = queries.fire_checks.due_fire_checks(at, BATCH)
        decisions = _check_batch(
            queries, due, at, up_since, grace, hand_on, summary, remaining_s, undeliverable_before
        )
        # a schedule with fire times left stays due: the next batch continues it
        if len(decisions) == len(due) < BATCH and all(d.complete for d in decisions):
            break
    skipped, moved_missed = settle_excepted_fires(
        queries.fire_checks, at=at, grace=grace, lookback=_lookback(), remaining_s=remaining_s
    )
    summary.missed_fires += moved_missed
    summary.skipped_by_exception += skipped
    # the heartbeat: only a pass that got through its batches (one that raised is no pass)
    queries.fire_checks.record_fire_check_pass(CheckPass(at, up_since))
    _send_pending_alerts(queries.fire_checks, at, remaining_s)
    for row in queries.queue.stalled_buffered_runs(at, MAX_STALLED):
        if hand_on_run(row, hand_on):
            summary.handed_on += 1
    found = summary.missed_fires + summary.catchup_queued
    if found:
        logger.warning("missed fire times recorded", extra=summary.as_dict())
    metrics.add_metric(name="RunMissed", unit=MetricUnit.Count, value=found)
    return summary


def _check_batch(
    queries: MissedFireQueries,
    due: list[Row],
    at: datetime,
    up_since: datetime,
    grace: timedelta,
    hand_on: HandOn,
    summary: MissedSummary,
    remaining_s: Callable[[], float] | None,
    undeliverable_before: datetime | None,
) -> list[_Decision]:
    """Check the due schedules (as many as fit the batch's budget); the decisions made."""
    decisions = _within_budget(
        [_decide(row, at, up_since, grace, undeliverable_before) for row in due]
    )
    ran = queries.fire_checks.slots_with_runs(
        [
            (d.check.schedule_id, t)
            for d in decisions
            for t in itertools.chain(d.slots, [d.carried] if d.carried else [])
        ]
    )
    rows: list[MissedRow] = []
    checks: list[CheckedThrough] = []
    for d in decisions:
        decided, carried = _decision_rows(d, ran, grace)
        rows.extend(decided)
        checks.append(replace(d.check, backlog_latest_slot=carried))
    written = queries.fire_checks.record_missed(
        rows,
        now=at,
        wait_until=at + QUEUED_PATIENCE,
        paused_error=f"{_cause(grace)}; {catchup_policy.PAUSED}",
    )
    schedules_by_id = {d.check.schedule_id: d.schedule for d in decisions}
    # progress only after the rows: a pass that dies between the two writes them again, no-ops
    queries.fire_checks.advance_fire_checks(checks)
    summary.fire_checks += len(decisions)
    summary.missed_fires += sum(1 for r in written if r["status"] == "missed")
    summary.catchup_queued += sum(1 for r in written if r["status"] == "buffered")
    latest = {
        (r["schedule_id"], r["scheduled_time"])
        for r in written
        if r["status"] == "buffered"
        and r["trigger"] == "catchup"
        and schedules_by_id[r["schedule_id"]]["catchup_policy"] == "latest"
    }
    # one outage seen by several passes: only the newest of its slots still runs
    queries.fire_checks.supersede_catchups(
        sorted(latest), now=at, error=f"{_cause(grace)}; {_SUPERSEDED}"
    )
    _alert(
        queries.fire_checks,
        [
            {**r, "owner_id": s["owner_id"], "workflow_name": s["workflow_name"]}
            for r in written
            for s in [schedules_by_id[r["schedule_id"]]]
        ],
        at,
        remaining_s,
    )
    for workflow_id in {r["workflow_id"] for r in written if r["status"] == "buffered"}:
        if hand_on_next(queries.queue, workflow_id, hand_on):
            summary.handed_on += 1
    return decisions


def _decide(
    row: Row,
    at: datetime,
    up_since: datetime,
    grace: timedelta,
    undeliverable_before: datetime | None,
) -> _Decision:
    """The schedule's due fire times since its check, and how far the check gets."""
    schedule_id, fires_from = row["schedule_id"], row["fires_from"]
    wait = grace + timedelta(minutes=row["flexible_window_minutes"])
    # a pass's own instant is after the fire times it checked; an older one (before the
    # schedule's check restarted) is not this backlog's
    found_before = row["backlog_found_at"]
    if found_before is not None and found_before <= row["checked_through"]:
        found_before = None

    exclusions = [Exclusion.of(c) for c in row.get("exclusions") or ()]

    def done(
        through: datetime, next_at: datetime | None, slots: list[datetime], complete: bool = True
    ) -> _Decision:
        # a fire on a date its calendars exclude is never missed (the runner would skip it)
        slots = [slot for slot in slots if excluded_by(slot, exclusions) is None]
        check = CheckedThrough(
            schedule_id, fires_from, through, next_at, None if complete else found_before or at
        )
        return _Decision(
            check,
            slots,
            row,
            at,
            wait,
            up_since,
            found_before,
            complete,
            not row["enabled"],
            row["backlog_latest_slot"],
        )

    # a fire time is due once it is past its wait, or can no longer be delivered at all
    horizon = at - wait
    if undeliverable_before is not None:
        horizon = max(horizon, min(undeliverable_before - _TICK, at))
    until = _earliest(horizon, row["end_at"])
    if not row["enabled"]:  # what came before the pause is still checked; re-enabling restarts
        if row["disabled_at"] is None:
            return done(row["checked_through"], None, [])
        until = min(until, row["disabled_at"])

    def is_due(slot: datetime) -> bool:
        last = last_occurrence(slot, row["timezone"], dst_policy(row))
        return last + wait <= at or (
            undeliverable_before is not None and last < undeliverable_before <= at
        )

    after = max(row["checked_through"], at - _lookback())
    written = row["eventbridge_written_at"]
    if written is not None and fires_from <= written <= fires_from + MAX_WRITE_SPAN:
        # the write that set fires_from (at its transaction's start) made the EventBridge
        # schedule only then: a fire time in between could not be delivered, it is not missed
        after = max(after, written)
    if row["start_at"] is not None:
        after = max(after, row["start_at"] - _TICK)  # startAt itself may be a fire time
    end = row["end_at"] if row["enabled"] else _earliest(row["disabled_at"], row["end_at"])
    try:
        # one walk: the due fire times, then the first one after them (the next to check)
        fires = window_fires_after(row, after, end, most=MAX_SLOTS + 1)
        slots: list[datetime] = []
        upcoming: list[datetime] = []
        for fire in fires:
            # not due (a repeated wall time before its second occurrence may still come), or
            # past the batch's share: the next fire time to check
            if len(slots) == MAX_SLOTS or fire > until or not is_due(fire):
                upcoming = [fire]
                break
            slots.append(fire)
        through = slots[-1] if slots else after
        if not upcoming and slots:
            # the walk ended at its horizon, counted from `after`: look on from `through`
            upcoming = list(schedule_fire_times(row, through, 1, end))
    except ValueError:  # a cron or timezone that can no longer be scheduled: it does not fire
        logger.warning("schedule cannot be evaluated: not checked", schedule_id=str(schedule_id))
        return done(row["checked_through"], None, [])
    if upcoming and upcoming[0] <= until and is_due(upcoming[0]):
        return done(through, at, slots, complete=False)  # more than a batch takes: still due
    next_at = None
    if upcoming:
        last = last_occurrence(upcoming[0], row["timezone"], dst_policy(row))
        next_at = max(last + wait, at + _TICK)
    return done(through, next_at, slots)


def _lookback() -> timedelta:
    return min(LOOKBACK, get_settings().surely_kept_history)


def _within_budget(decisions: list[_Decision]) -> list[_Decision]:
    """The first decisions whose fire times fit SLOTS_PER_BATCH (at least one): the others
    stay due, for the next batch, so no statement of a batch grows past a few thousand rows."""
    taken: list[_Decision] = []
    slots = 0
    for decision in decisions:
        slots += len(decision.slots)
        if taken and slots > SLOTS_PER_BATCH:
            break
        taken.append(decision)
    return taken


def _cause(grace: timedelta) -> str:
    return (
        f"missed: no run had started {int(grace.total_seconds() // 60)} min after this fire time "
        "was due (EventBridge did not deliver it, the runner could not take it, or the service "
        "was down)"
    )


def _earliest(moment: datetime, end_at: datetime | None) -> datetime:
    return moment if end_at is None else min(moment, end_at)


def _decision_rows(
    decision: _Decision, ran: set[tuple[UUID, datetime]], grace: timedelta
) -> tuple[list[MissedRow], datetime | None]:
    """The rows of the decision's missed slots (with the one an earlier batch carried), and the
    slot it carries on: under `latest`, before the newest due slot is reached, the newest
    missed one within the window is left without a row (an older slot never runs as the
    latest, and the outage's latest is not lost when the slots after it ran)."""
    schedule_id = decision.check.schedule_id
    missing = [t for t in decision.slots if (schedule_id, t) not in ran]
    rows: list[MissedRow] = []
    carried = decision.carried
    if carried is not None and (schedule_id, carried) in ran:
        carried = None  # delivered late after all: it ran
    if carried is not None and carried <= decision.check.fires_from:
        # the check restarted from a change: the slot is of the schedule as it was
        error = f"{_cause(grace)}; {_RESTARTED}"
        workflow_id = decision.schedule["workflow_id"]
        rows.append(MissedRow(schedule_id, workflow_id, carried, "missed", error))
        carried = None
    if carried is not None:
        missing.insert(0, carried)  # older than this batch's slots
    rows.extend(_policy_rows(decision, missing, grace))
    if decision.complete or decision.paused or decision.schedule["catchup_policy"] != "latest":
        return rows, None
    newest = next((t for t in reversed(missing) if decision.in_catchup_window(t)), None)
    return [r for r in rows if r.scheduled_time != newest], newest


def _policy_rows(
    decision: _Decision, missing: list[datetime], grace: timedelta
) -> Iterable[MissedRow]:
    """The run rows of the schedule's missed slots under its catch-up policy."""
    return catchup_policy.policy_rows(
        decision.schedule,
        missing,
        _cause(grace),
        in_window=decision.in_catchup_window,
        complete=decision.complete,
        paused=decision.paused,
    )


def _alert(
    fire_checks: FireCheckQueries,
    runs: list[Row],
    at: datetime,
    remaining_s: Callable[[], float] | None,
) -> None:
    """One `Run Missed` alert per run; the runs whose alert EventBridge accepted are marked
    sent, the others stay pending (each pass sends them again)."""
    fire_checks.missed_alerts_sent(alerts.publish_run_missed(runs, at, remaining_s=remaining_s))


def _send_pending_alerts(
    fire_checks: FireCheckQueries, at: datetime, remaining_s: Callable[[], float] | None
) -> None:
    """Send again the alerts earlier batches or passes could not (out of time, refused)."""
    if remaining_s is not None and remaining_s() < alerts.MAX_PUBLISH_S:
        return
    _alert(fire_checks, fire_checks.pending_missed_alerts(MAX_PENDING_ALERTS), at, remaining_s)
