"""The invariants of pauseAfterFailures (issue #25; docs/run-policies.md, "Pause after
failures"), judged by replaying each schedule's recorded runs in record order.

A run counts when the runner recorded it `succeeded` or `failed` (a started run failed later as
abandoned or superseded, one not started for its fence, a manual claim that never started, do
not; skipped, missed and buffered are no runs). A failure adds one to the streak, a success
ends it (one `Run Recovered` when it ended one of at least one failure), a re-enable starts it
again from 0. The failure that brings the streak to N while the schedule is enabled pauses it:
one `Schedule Paused`, the row disabled with `paused after N consecutive failed runs`, and
nothing claimed for it until it is enabled again (a run claimed before the pause still
records, and counts). An invocation that dies after its record loses its alerts, by design
(docs/alerts.md): World.alerts_lost_by_death.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler.policies.abandoned_runs import MANUAL_NOT_RUN
from scheduler.run.runner import FENCED_ERROR
from scheduler.store.runs import ABANDONED_RUN_ERROR, SUPERSEDED_RUN_ERROR

from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.world import World

# failed rows that are no run the runner recorded (docs: "Not counted, and not a reset either")
NOT_COUNTED = (ABANDONED_RUN_ERROR, SUPERSEDED_RUN_ERROR, FENCED_ERROR, MANUAL_NOT_RUN)


@dataclass
class Streak:
    """What the records say, replayed: the streak now, and the records that paused the
    schedule or ended a streak (with when the pause ended: its next re-enable)."""

    count: int = 0
    paused: bool = False
    pauses: list[tuple[dict[str, Any], datetime | None]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)


def counted(row: dict[str, Any]) -> bool:
    if row["finished_at"] is None or row["status"] not in ("succeeded", "failed"):
        return False
    return row["status"] == "succeeded" or not (row["error"] or "").startswith(NOT_COUNTED)


def replay(schedule: SimSchedule, records: list[dict[str, Any]]) -> Streak:
    """`records` in record order; the PATCHes (toggles) fall between them in the order of
    their transactions (one may land on the same virtual instant as a record)."""
    streak = Streak()
    enabled = True
    toggles = list(schedule.toggles)
    for row in records:
        while toggles and toggles[0][2] < row["xid"]:
            enabled = _toggled(streak, *toggles.pop(0))
        if row["status"] == "succeeded":
            if streak.count:
                streak.recoveries.append(row)
            streak.count = 0
            continue
        streak.count += 1
        due = schedule.pause_after is not None and streak.count >= schedule.pause_after
        if enabled and not streak.paused and due:
            streak.paused = True
            streak.pauses.append((row, None))
    for toggle in toggles:
        _toggled(streak, *toggle)
    return streak


def _toggled(streak: Streak, at: datetime, on: bool, xid: int) -> bool:
    """A PATCH enabled (`on`) or paused the schedule at `at`: whether it is enabled now."""
    if on:  # re-enabled: the streak starts again, the pause is over
        streak.count, streak.paused = 0, False
        streak.pauses = [(run, resumed or at) for run, resumed in streak.pauses]
    return on


def failure_violations(world: World) -> list[str]:
    by_schedule: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in world.run_log.values():
        by_schedule[row["schedule_id"]].append(row)
    rows = world.api_db.execute(
        """select id, enabled, disabled_reason, consecutive_failures from schedules"""
    ).fetchall()
    stored = {row["id"]: row for row in rows}
    alerts = Counter((a.kind, a.schedule_id, a.slot) for a in world.alerts)
    found: list[str] = []
    for schedule in world.model.live():
        row = stored.get(schedule.id)
        if row is None:
            continue
        runs = by_schedule[schedule.id]
        # record order: the runs of one workflow record one after another (its lease), so the
        # order of their last writes' transaction ids (several may share a virtual instant)
        streak = replay(schedule, sorted(filter(counted, runs), key=lambda r: r["xid"]))
        found += _pause_and_count(world, schedule, streak, row, alerts)
        found += _nothing_claimed_while_paused(schedule, streak, runs)
    return found


def _pause_and_count(
    world: World,
    schedule: SimSchedule,
    streak: Streak,
    row: dict[str, Any],
    alerts: Counter[tuple[str, UUID, datetime]],
) -> list[str]:
    found = []
    who = schedule.describe()
    paused_slots = {run["scheduled_time"] for run, _ in streak.pauses}
    for run, _ in streak.pauses:
        sent = alerts[("Schedule Paused", schedule.id, run["scheduled_time"])]
        if sent != 1 and not world.alerts_lost_by_death(run):
            found.append(
                f"[one Schedule Paused per pause] {who} slot {iso(run['scheduled_time'])}: its "
                f"failure made {schedule.pause_after} in a row, {sent} Schedule Paused alerts"
            )
    recovered_slots = {run["scheduled_time"] for run in streak.recoveries}
    for run in streak.recoveries:
        sent = alerts[("Run Recovered", schedule.id, run["scheduled_time"])]
        if sent != 1 and not world.alerts_lost_by_death(run):
            found.append(
                f"[one Run Recovered per success after failures] {who} slot "
                f"{iso(run['scheduled_time'])}: succeeded after failures, {sent} Run Recovered "
                "alerts"
            )
    for kind, schedule_id, slot in alerts:
        if schedule_id != schedule.id:
            continue
        if kind == "Schedule Paused" and slot not in paused_slots:
            found.append(
                f"[a schedule pauses exactly after N consecutive failed runs] {who} slot "
                f"{iso(slot)}: Schedule Paused, though its record did not make "
                f"{schedule.pause_after} failures in a row"
            )
        if kind == "Run Recovered" and slot not in recovered_slots:
            found.append(
                f"[one Run Recovered per success after failures] {who} slot {iso(slot)}: Run "
                "Recovered, though no failure came before its success"
            )
    reason = row["disabled_reason"] or ""
    paused_now = not row["enabled"] and reason.startswith("paused after")
    if paused_now != streak.paused:
        found.append(
            f"[a schedule pauses exactly after N consecutive failed runs] {who}: the row is "
            f"{'paused' if paused_now else 'not paused'} ({reason or 'no reason'}), the records "
            f"say {'paused' if streak.paused else 'not paused'} (streak {streak.count})"
        )
    if row["consecutive_failures"] != streak.count:
        found.append(
            f"[consecutiveFailures equals the trailing failed streak] {who}: "
            f"consecutiveFailures {row['consecutive_failures']}, the records' streak "
            f"{streak.count}"
        )
    return found


def _nothing_claimed_while_paused(
    schedule: SimSchedule, streak: Streak, runs: list[dict[str, Any]]
) -> list[str]:
    found = []
    for pausing, resumed in streak.pauses:
        paused_at = pausing["finished_at"]
        for run in runs:
            claimed = run["started_at"]
            if run["status"] not in ("running", "succeeded", "failed") or claimed is None:
                continue
            if paused_at < claimed and (resumed is None or claimed < resumed):
                found.append(
                    f"[nothing runs for a paused schedule] {schedule.describe()} slot "
                    f"{iso(run['scheduled_time'])} ({run['trigger']}): claimed at "
                    f"{iso(claimed)}, after its pause at {iso(paused_at)}"
                )
    return found
