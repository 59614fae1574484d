"""The missed-fire check's part for slots with an exception (scheduler.api.schedule_exceptions).

The check's walk over a schedule's fire times passes a slot with an exception as if it ran
(store.fire_checks.slots_with_runs); this settles them, once per pass, in two statements:
- a skipped slot no delivery recorded (EventBridge did not deliver it, the runner was down) is
  recorded `skipped` with its reason once it is due: never missed, never caught up;
- a moved slot is due at its new time: with no run `grace` after it, it is recorded `missed`
  (with a `Run Missed` alert), not caught up (the user chose when it runs; run it now if need be);
- neither on a date a calendar of the schedule excludes (the query leaves them out: the runner
  would have skipped it by the calendar, and the check never reports an excluded fire).
An exception whose occurrence is no longer a fire time of the schedule (its cron or timezone
changed since) is left alone: that slot does not exist any more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from scheduler import cron
from scheduler.cron.timezones import iso_utc
from scheduler.observability import logger
from scheduler.run import alerts
from scheduler.run.exceptions import skip_reason
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.fire_checks import FireCheckQueries, MissedRow
from scheduler.store.sql import Row

# Exceptions settled per pass; the rest wait for the next (each is settled once).
MAX_EXCEPTIONS = 1000
# Pages of due exceptions read per pass at most. One that settles nothing (its occurrence no
# longer a slot after a change of the cron, or not due yet) stays in the query's answer until it
# leaves the lookback: a page full of them must not hide the ones after it.
MAX_PAGES = 10


def settle_excepted_fires(
    fire_checks: FireCheckQueries,
    *,
    at: datetime,
    grace: timedelta,
    lookback: timedelta,
    remaining_s: Callable[[], float] | None,
) -> tuple[int, int]:
    """(skipped slots recorded, moved slots recorded missed) by this pass."""
    exceptions = ExceptionQueries(fire_checks.db)
    due: list[Row] = []
    past = None
    for _ in range(MAX_PAGES):
        page = exceptions.due_exceptions(at - lookback, at - grace, MAX_EXCEPTIONS, past=past)
        due += [r for r in page if _still_a_slot(r) and _is_due(r, at, grace)]
        if len(page) < MAX_EXCEPTIONS or len(due) >= MAX_EXCEPTIONS:
            break
        past = (page[-1]["due"], page[-1]["id"])
    due = due[:MAX_EXCEPTIONS]  # the rest are settled by the next pass
    skips = [
        (r["schedule_id"], r["workflow_id"], r["occurrence"], skip_reason(r["note"]))
        for r in due
        if r["action"] == "skip"
    ]
    skipped = exceptions.record_skipped_slots(skips, now=at)
    moves = {(r["schedule_id"], r["occurrence"]): r for r in due if r["action"] == "move"}
    written = fire_checks.record_missed(
        [
            MissedRow(
                r["schedule_id"],
                r["workflow_id"],
                r["occurrence"],
                "missed",
                f"missed: moved to {iso_utc(r['move_to'])}, no run had started"
                f" {int(grace.total_seconds() // 60)} min after it",
            )
            for r in moves.values()
        ],
        now=at,
        wait_until=at,
        paused_error="missed: its schedule was paused",
    )
    runs = [
        {**w, "owner_id": m["owner_id"], "workflow_name": m["workflow_name"]}
        for w in written
        for m in [moves[(w["schedule_id"], w["scheduled_time"])]]
    ]
    if runs:
        sent = alerts.publish_run_missed(runs, at, remaining_s=remaining_s)
        fire_checks.missed_alerts_sent(sent)
        logger.warning("moved fire times missed", count=len(runs))
    return skipped, len(written)


def _still_a_slot(row: Row) -> bool:
    try:
        policy = cron.DstPolicy.of(row["dst_policy"])
        slot = cron.policy_fire_slot(row["cron"], row["timezone"], row["occurrence"], policy)
        return slot == row["occurrence"]
    except ValueError:  # a cron or zone that can no longer be evaluated does not fire
        return False


def _is_due(row: Row, at: datetime, grace: timedelta) -> bool:
    if row["action"] == "move":
        return bool(row["move_to"] + grace <= at)
    wait = grace + timedelta(minutes=row["flexible_window_minutes"])
    policy = cron.DstPolicy.of(row["dst_policy"])
    return cron.policy_last_occurrence(row["occurrence"], row["timezone"], policy) + wait <= at
