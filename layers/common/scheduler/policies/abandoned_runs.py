"""The sweep of runs whose lease expired unrecorded, once per reconcile pass (its coordinator).

Two kinds, told apart by the fence (the lease a run started under):
- Started (a fence): its runner died during the steps, or the start committed and its answer
  was lost. The workflow may have run, so nothing runs it again: the run is `failed` as
  abandoned, with a `Run Failed` alert.
- Claimed but never started (no fence): every attempt of its invocation failed before the
  workflow ran (DynamoDB or the database down through Lambda's retries). The workflow did not
  run; what follows depends on why the run was asked for (its trigger):
  - `schedule`: the slot is missed like any missed fire time: `missed` with its cause and a
    `Run Missed` alert, and the schedule's catchupPolicy applies (scheduler.policies.catchup):
    within the catch-up window (from the slot's due, as the missed-fire check counts it) it
    waits to run again (`buffered`, trigger `catchup`) and is handed on;
  - `catchup`: its slot was alerted when it was found missed; it waits to run again, without
    a new alert, while the window (counted from the slot's due) lasts, then is `missed`;
  - `backfill`: a fire time a user asked for: it waits to run again (`buffered`, trigger kept),
    no alert;
  - `manual`: `failed`, with a `Run Failed` alert saying why (the user may ask again).
  A slot with an exception (docs/exceptions.md) is settled as its exception says: a skipped
  one (a scheduled fire or a backfill whose record of the skip never committed) is `skipped`
  with the exception's reason, never missed nor caught up; a moved one is `missed` with a
  `Run Missed` alert and not caught up (the user chose its time).
  A paused schedule's claims are only recorded `missed` (what catchup_policy does for slots of
  a schedule paused since). Under `latest`, a claim queued again is superseded by (and
  supersedes) the schedule's other catch-ups, in the same transaction as the settle.

Each run changes state in one statement that only takes it while it is still expired and
unrecorded, so each is settled, and alerted, once. A `Run Missed` alert stays pending until
EventBridge accepts it (the missed-fire check's passes send it again); a `Run Failed` one is
lost with a sweep that dies after the write, as with a runner that dies after its record. A
run a newer lease overtook is failed by that run's start instead (RunQueries.start_run), which
alerts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.observability import logger
from scheduler.policies import catchup as catchup_policy
from scheduler.policies.fire_times import dst_policy
from scheduler.run import alerts
from scheduler.run.exceptions import skip_reason
from scheduler.run.queue import QUEUED_PATIENCE, HandOn, hand_on_next
from scheduler.store.db import Database
from scheduler.store.fire_checks import FireCheckQueries, MissedRow
from scheduler.store.queue import QueueQueries
from scheduler.store.runs import RunQueries, SettledClaim
from scheduler.store.sql import Row

# Unstarted claims settled per sweep; any more wait for the next one.
MAX_CLAIMS = 1000
UNSTARTED_CAUSE = (
    "missed: its claim expired before the run started (every attempt failed to take the "
    "workflow's lease or to mark the run started)"
)
REQUEUED = "queued again: its claim expired before the run started"
MANUAL_NOT_RUN = (
    "not run: the claim of this manual run expired before it started (every attempt failed to "
    "take the workflow's lease or to mark the run started); run it again"
)


@dataclass(frozen=True)
class AbandonedRunQueries:
    """What the sweep reads and writes: the expired runs and claims, the missed-fire check's
    heartbeat, catch-ups and alerts, and the queue it hands runs on from; `db` settles the claims
    and supersedes older catch-ups in one transaction."""

    db: Database
    runs: RunQueries
    fire_checks: FireCheckQueries
    queue: QueueQueries

    @classmethod
    def over(cls, db: Database) -> AbandonedRunQueries:
        return cls(db, RunQueries(db), FireCheckQueries(db), QueueQueries(db))


@dataclass
class AbandonedSummary:
    failed: int = 0  # started runs failed as abandoned, and manual claims that never started
    missed: int = 0  # unstarted claims recorded `missed`
    caught_up: int = 0  # unstarted claims queued to run again (catch-up or backfill)


def settle_abandoned_runs(
    queries: AbandonedRunQueries,
    now: datetime,
    *,
    hand_on: HandOn | None,
    remaining_s: Callable[[], float] | None = None,
) -> AbandonedSummary:
    """Settle every run whose lease expired before `now` (see the module); the counts.
    Unstarted claims go first, so a workflow whose started run is failed here finds none of
    them still `running`. `hand_on` hands runs queued again to the runner (None: the
    missed-fire check hands them on once their wait is over)."""
    claims = queries.runs.expired_unstarted_claims(now, MAX_CLAIMS)
    schedules = {row["schedule_id"]: row for row in claims}
    settings = get_settings()
    interval = timedelta(seconds=settings.missed_fire_check_interval_s)
    grace = timedelta(seconds=settings.missed_fire_grace_s)
    # this sweep runs beside the missed-fire check: its outages are the check's
    up_since = catchup_policy.up_since(queries.fire_checks.last_fire_check_pass(), now, interval)
    decided = list(_decide_claims(claims, up_since, now, grace))
    with queries.db.transaction():  # a claim queued again never runs beside a newer catch-up
        settled = queries.runs.settle_unstarted_claims(
            decided, now=now, wait_until=now + QUEUED_PATIENCE
        )
        latest = sorted(
            (r["schedule_id"], r["scheduled_time"])
            for r in settled
            if r["status"] == "buffered"
            and r["trigger"] == "catchup"
            and schedules[r["schedule_id"]]["catchup_policy"] == "latest"
        )
        queries.fire_checks.supersede_catchups(
            latest, now=now, error=f"missed: {catchup_policy.SUPERSEDED}"
        )
    failed = queries.runs.fail_abandoned_runs(now)
    summary = AbandonedSummary(
        failed=len(failed) + sum(1 for r in settled if r["status"] == "failed"),
        missed=sum(1 for r in settled if r["status"] == "missed"),
        caught_up=sum(1 for r in settled if r["status"] == "buffered"),
    )
    if failed or settled:
        logger.warning("abandoned runs settled", extra=vars(summary))
    about = [{**r, **_owner(schedules[r["schedule_id"]])} for r in settled]
    queries.fire_checks.missed_alerts_sent(
        alerts.publish_run_missed(
            [r for r in about if r["missed_alert_pending"]], now, remaining_s=remaining_s
        )
    )
    failures = [alerts.for_run(alerts.RUN_FAILED, r, r, now) for r in failed]
    failures += [
        alerts.for_run(alerts.RUN_FAILED, r, r, now) for r in about if r["status"] == "failed"
    ]
    alerts.publish_in_chunks(failures, remaining_s=remaining_s)
    if hand_on is not None:
        for workflow_id in {r["workflow_id"] for r in settled if r["status"] == "buffered"}:
            hand_on_next(queries.queue, workflow_id, hand_on)
    return summary


def _owner(schedule: Row) -> dict[str, Any]:
    return {"owner_id": schedule["owner_id"], "workflow_name": schedule["workflow_name"]}


def _decide_claims(
    claims: list[Row], up_since: datetime, now: datetime, grace: timedelta
) -> Iterable[SettledClaim]:
    """What becomes of each claim (see the module), one schedule at a time."""
    for _, group in groupby(claims, key=lambda row: row["schedule_id"]):
        yield from _decide_schedule(list(group), up_since, now, grace)


def _decide_schedule(
    rows: list[Row], up_since: datetime, now: datetime, grace: timedelta
) -> Iterable[SettledClaim]:
    """The claims of one schedule, oldest slot first (the query's order)."""
    excepted = {row["id"]: claim for row in rows if (claim := _by_exception(row)) is not None}
    yield from excepted.values()
    rows = [row for row in rows if row["id"] not in excepted]
    if not rows:
        return
    schedule = rows[0]
    paused = not schedule["enabled"]
    wait = grace + timedelta(minutes=schedule["flexible_window_minutes"])

    def due(slot: datetime) -> datetime:
        return catchup_policy.slot_due(slot, schedule["timezone"], wait, dst_policy(schedule))

    def in_window(slot: datetime) -> bool:
        # a claim can be found missed once its slot is due: counted as the check counts it
        return catchup_policy.in_window(
            due(slot), up_since, now, schedule["catchup_window_seconds"]
        )

    # Under latest, a catch-up queued here while a newer fire is still claimed waits at the
    # runner (runner_overlap.newer_fire_unsettled) until that one runs or is settled too.
    scheduled = [row for row in rows if row["trigger"] == "schedule"]
    decided = catchup_policy.policy_rows(
        schedule,
        [row["scheduled_time"] for row in scheduled],
        UNSTARTED_CAUSE,
        in_window=in_window,
        paused=paused,
    )
    for row, missed in zip(scheduled, decided, strict=True):
        trigger = "catchup" if missed.status == "buffered" else "schedule"
        yield SettledClaim(row["id"], missed, trigger, alert=True)
    window = timedelta(seconds=schedule["catchup_window_seconds"])
    for row in rows:
        if row["trigger"] == "catchup":  # alerted when found missed: never again
            again = _catchup_again(row, due(row["scheduled_time"]), now, window, paused)
            yield SettledClaim(row["id"], again, "catchup", alert=False)
        elif row["trigger"] == "backfill":
            if paused:  # a fire time asked for and now dropped: said, like a missed one
                missed = _row(row, "missed", f"{UNSTARTED_CAUSE}; {catchup_policy.PAUSED}")
                yield SettledClaim(row["id"], missed, "backfill", alert=True)
            else:
                requeued = _row(row, "buffered", REQUEUED)
                yield SettledClaim(row["id"], requeued, "backfill", alert=False)
        elif row["trigger"] == "manual":
            failed = _row(row, "failed", MANUAL_NOT_RUN)
            yield SettledClaim(row["id"], failed, "manual", alert=False)


def _by_exception(row: Row) -> SettledClaim | None:
    """A claim its slot's exception settles (see the module); None for any other claim."""
    action, trigger = row.get("exception_action"), row["trigger"]
    if action == "skip" and trigger in ("schedule", "backfill"):
        skipped = _row(row, "skipped", skip_reason(row["exception_note"]))
        return SettledClaim(row["id"], skipped, trigger, alert=False)
    if action == "move" and trigger == "schedule":
        moved_to = iso_utc(row["exception_move_to"])
        missed = _row(row, "missed", f"{UNSTARTED_CAUSE}; moved to {moved_to}: not caught up")
        return SettledClaim(row["id"], missed, "schedule", alert=True)
    return None


def _catchup_again(
    row: Row, due: datetime, now: datetime, window: timedelta, paused: bool
) -> MissedRow:
    """A catch-up whose claim never started runs again only inside its window from the slot's
    due (a claim that keeps failing is not queued again without end)."""
    if paused:
        return _row(row, "missed", f"{UNSTARTED_CAUSE}; {catchup_policy.PAUSED}")
    if now - due <= window:
        return _row(
            row,
            "buffered",
            f"{UNSTARTED_CAUSE}; caught up again (catchupPolicy {row['catchup_policy']})",
        )
    return _row(row, "missed", f"{UNSTARTED_CAUSE}; older than the catch-up window: not run")


def _row(row: Row, status: str, error: str) -> MissedRow:
    return MissedRow(row["schedule_id"], row["workflow_id"], row["scheduled_time"], status, error)
