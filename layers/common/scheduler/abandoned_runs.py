"""The sweep of runs whose lease expired unrecorded, once per reconcile pass (its coordinator).

Two kinds, told apart by the fence (the lease a run started under):
- Started (a fence): its runner died during the steps, or the start committed and its answer
  was lost. The workflow may have run, so nothing runs it again: the run is `failed` as
  abandoned, with a `Run Failed` alert.
- Claimed but never started (no fence): every attempt of its invocation failed before the
  workflow ran (DynamoDB or the database down through Lambda's retries). The workflow did not
  run, so the slot is missed like any missed fire time: `missed` with its cause and a
  `Run Missed` alert, and the schedule's catchupPolicy applies (scheduler.catchup_policy):
  within the catch-up window it waits to run again (`buffered`, trigger `catchup`) and is
  handed on.

Each run changes state in one statement that only takes it while it is still expired and
unrecorded, so each is settled, and alerted, once (a sweep that dies after the write loses
the alert, as a runner that dies after its record does). A run a newer lease overtook is failed
by that run's start instead (run_store.start_run), which alerts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from uuid import UUID

from scheduler import alerts, catchup_policy
from scheduler.config import get_settings
from scheduler.fire_check_store import MissedRow
from scheduler.observability import logger
from scheduler.run_queue import QUEUED_PATIENCE, HandOn, hand_on_next
from scheduler.store import Row, Store

# Unstarted claims settled per sweep; any more wait for the next one.
MAX_CLAIMS = 1000
# PutEvents takes at most ten entries.
ALERTS_PER_CALL = 10
UNSTARTED_CAUSE = (
    "missed: its claim expired before the run started (every attempt failed to take the "
    "workflow's lease or to mark the run started)"
)
DISABLED = "its schedule is disabled: not run"


@dataclass
class AbandonedSummary:
    failed: int = 0  # started runs failed as abandoned
    missed: int = 0  # unstarted claims recorded `missed`
    caught_up: int = 0  # unstarted claims queued to run again (catch-up)


def settle_abandoned_runs(
    store: Store,
    now: datetime,
    *,
    hand_on: HandOn | None,
    remaining_s: Callable[[], float] | None = None,
) -> AbandonedSummary:
    """Settle every run whose lease expired before `now` (see the module); the counts.
    Unstarted claims go first, so a workflow whose started run is failed here finds none of
    them still `running`. `hand_on` hands caught-up runs to the runner (None: the missed-fire
    check hands them on once their wait is over)."""
    claims = store.expired_unstarted_claims(now, MAX_CLAIMS)
    schedules = {row["schedule_id"]: row for row in claims}
    interval = timedelta(seconds=get_settings().missed_fire_check_interval_s)
    # this sweep runs beside the missed-fire check: its outages are the check's
    up_since = catchup_policy.up_since(store.last_fire_check_pass(), now, interval)
    settled = store.settle_unstarted_claims(
        list(_policy_runs(claims, up_since, now)), now=now, wait_until=now + QUEUED_PATIENCE
    )
    latest = sorted(
        (r["schedule_id"], r["scheduled_time"])
        for r in settled
        if r["status"] == "buffered" and schedules[r["schedule_id"]]["catchup_policy"] == "latest"
    )
    store.supersede_catchups(latest, now=now, error=f"missed: {catchup_policy.SUPERSEDED}")
    failed = store.fail_abandoned_runs(now)
    summary = AbandonedSummary(
        failed=len(failed),
        missed=sum(1 for r in settled if r["status"] == "missed"),
        caught_up=sum(1 for r in settled if r["status"] == "buffered"),
    )
    if failed or settled:
        logger.warning("abandoned runs settled", extra=vars(summary))
    events = [_alert(alerts.RUN_MISSED, r, schedules[r["schedule_id"]], now) for r in settled]
    events += [_alert(alerts.RUN_FAILED, r, r, now) for r in failed]
    for i in range(0, len(events), ALERTS_PER_CALL):
        time_left = remaining_s() if remaining_s is not None else alerts.MAX_PUBLISH_S * 2
        alerts.publish(events[i : i + ALERTS_PER_CALL], time_left_s=time_left)
    if hand_on is not None:
        for workflow_id in {r["workflow_id"] for r in settled if r["status"] == "buffered"}:
            hand_on_next(store, workflow_id, hand_on)
    return summary


def _policy_runs(
    claims: list[Row], up_since: datetime, now: datetime
) -> Iterable[tuple[UUID, MissedRow]]:
    """(run id, its row under the schedule's catch-up policy) for each claim; a disabled
    schedule's claims are only recorded missed. A claim could be found missed once its lease
    expired: the catch-up window counts from then, as the check counts it from a slot's due."""
    for _, group in groupby(claims, key=lambda row: row["schedule_id"]):
        rows = list(group)  # oldest slot first (the query's order)
        schedule = rows[0]
        if not schedule["enabled"]:
            schedule = {**schedule, "catchup_policy": "skip"}
        cause = UNSTARTED_CAUSE if rows[0]["enabled"] else f"{UNSTARTED_CAUSE}; {DISABLED}"
        windowed = {
            row["scheduled_time"]
            for row in rows
            if catchup_policy.in_window(
                row["lease_expires_at"], up_since, now, schedule["catchup_window_seconds"]
            )
        }
        slots = [row["scheduled_time"] for row in rows]
        decided = catchup_policy.policy_rows(
            schedule, slots, cause, in_window=windowed.__contains__
        )
        yield from zip((row["id"] for row in rows), decided, strict=True)


def _alert(kind: alerts.DetailType, run: Row, about: Row, now: datetime) -> alerts.Alert:
    ref = alerts.RunRef(
        run_id=run["id"],
        schedule_id=run["schedule_id"],
        workflow_id=run["workflow_id"],
        scheduled_time=run["scheduled_time"],
        trigger=run["trigger"],
        attempt=run.get("attempt"),
        owner_id=about["owner_id"],
        workflow_name=about["workflow_name"],
    )
    return alerts.Alert(kind, ref, run["error"], now)
