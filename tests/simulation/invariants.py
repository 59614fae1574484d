"""The invariants, judged from the target's visits, the alerts sent and the run rows.

Each violation is one line: `[invariant] schedule ... slot ...: what happened`. The cheap ones
hold at every step; the final ones after a recovery period in which every fault has ended.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from scheduler.config import get_settings
from scheduler.policies.catchup import slot_due
from scheduler.store.runs import ABANDONED_RUN_ERROR

from tests.simulation.model import Period, SimSchedule, iso
from tests.simulation.target import Visit

if TYPE_CHECKING:
    from tests.simulation.world import World

Slot = tuple[UUID, datetime]
# A period must have stayed open this long after a missed fire time was found for its catch-up
# to be owed: a pause meanwhile skips a waiting catch-up, as documented.
CATCHUP_SETTLE = timedelta(minutes=30)
# A workflow with runs waiting and none of its runs in this long is stuck (longer than a lease,
# the check's period and a waiting run's patience together).
STUCK_AFTER = timedelta(minutes=45)


def _wait() -> timedelta:
    return timedelta(seconds=get_settings().missed_fire_grace_s)


def _who(world: World, schedule_id: UUID) -> str:
    for schedule in world.model.schedules:
        if schedule.id == schedule_id:
            return schedule.describe()
    return f"[{schedule_id}]"


def step_violations(world: World) -> list[str]:
    """What must hold after every step of the sequence."""
    found: list[str] = []
    visits = world.target.visits
    ran = Counter((v.schedule_id, v.slot) for v in visits)
    for (schedule_id, slot), times in ran.items():
        if times > 1:
            found.append(
                f"[no slot runs twice] {_who(world, schedule_id)} slot {iso(slot)}: the target "
                f"ran it {times} times (triggers {_triggers(visits, schedule_id, slot)})"
            )
    found += _overlaps(world, visits)
    first_visit = {}
    for v in visits:
        first_visit.setdefault((v.schedule_id, v.slot), v.started)
    for row in world.rows():
        slot = (row["schedule_id"], row["scheduled_time"])
        if row["status"] == "buffered" and not row["enabled"]:
            found.append(
                f"[no waiting run of a disabled schedule] {_who(world, slot[0])} slot "
                f"{iso(slot[1])}: row buffered (trigger {row['trigger']}) while the schedule "
                "is disabled"
            )
        if row["status"] == "missed" and slot in first_visit:
            found.append(
                f"[a slot that ran is never missed] {_who(world, slot[0])} slot "
                f"{iso(slot[1])}: recorded missed ({row['error']}) though the target ran it "
                f"at {iso(first_visit[slot])}"
            )
    alerts = Counter((a.kind, a.schedule_id, a.slot) for a in world.alerts)
    for (kind, schedule_id, slot), times in alerts.items():
        if times > 1:
            found.append(
                f"[each alert once] {_who(world, schedule_id)} slot {iso(slot)}: "
                f"{times} '{kind}' alerts"
            )
    for alert in world.alerts:
        started = first_visit.get((alert.schedule_id, alert.slot))
        if alert.kind == "Run Missed" and started is not None and started < alert.at:
            found.append(
                f"[no false Run Missed alert] {_who(world, alert.schedule_id)} slot "
                f"{iso(alert.slot)}: alerted missed at {iso(alert.at)} though the target ran "
                f"it at {iso(started)}"
            )
    found += [f"[the runner raises only to be retried] {u}" for u in world.lam.unexpected]
    return found


def _triggers(visits: list[Visit], schedule_id: UUID, slot: datetime) -> str:
    return ", ".join(
        f"{v.trigger}@{iso(v.started)}"
        for v in visits
        if (v.schedule_id, v.slot) == (schedule_id, slot)
    )


def _overlaps(world: World, visits: list[Visit]) -> list[str]:
    found = []
    by_workflow: dict[UUID, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_workflow[visit.workflow_id].append(visit)
    for workflow_visits in by_workflow.values():
        ordered = sorted(workflow_visits, key=lambda v: v.started)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.ended is None or later.started < earlier.ended:
                found.append(
                    f"[no two runs of a workflow overlap] {_who(world, later.schedule_id)}: "
                    f"slot {iso(later.slot)} ({later.trigger}) started at "
                    f"{iso(later.started)} while slot {iso(earlier.slot)} ({earlier.trigger}) "
                    f"ran from {iso(earlier.started)}"
                )
    return found


def final_violations(world: World, horizon: datetime) -> list[str]:
    """After recovery: every fire time up to `horizon` ended right, and catch-up held."""
    rows = {(r["schedule_id"], r["scheduled_time"]): r for r in world.rows()}
    visits: dict[Slot, list[Visit]] = defaultdict(list)
    for visit in world.target.visits:
        visits[(visit.schedule_id, visit.slot)].append(visit)
    alerts = Counter((a.kind, a.schedule_id, a.slot) for a in world.alerts)
    found: list[str] = []
    # a queue that is being worked through is not stuck: its workflow ran lately
    working = {
        v.workflow_id
        for v in world.target.visits
        if v.ended is None or v.ended >= world.clock.now() - STUCK_AFTER
    }
    for row in rows.values():
        if row["status"] in ("running", "buffered") and row["workflow_id"] not in working:
            found.append(
                f"[nothing waits forever] {_who(world, row['schedule_id'])} slot "
                f"{iso(row['scheduled_time'])}: still {row['status']} (trigger "
                f"{row['trigger']}) after the recovery"
            )
    for schedule in world.model.live():
        slots = [
            (period, slot)
            for period, slot in schedule.slots(horizon)
            if world.retention_floor is None or slot >= world.retention_floor
        ]
        for period, slot in slots:
            found += _terminal(world, schedule, period, slot, rows, visits, alerts)
        if schedule.catchup != "skip":
            found += _catchup(world, schedule, slots, rows, visits)
    return found


def _look_back(world: World) -> timedelta:
    """How far back a pass of the check looks: at most a week (the longest catch-up window),
    and never further than RunHistoryDays less a day (docs/run-policies.md, "Missed fires":
    past that, retention may have deleted the row of a fire time that ran)."""
    return min(timedelta(days=7), timedelta(days=world.run_history_days - 1))


def _beyond_look_back(world: World, slot: datetime, checked: datetime | None) -> bool:
    """A slot already older than the check's look-back when the first pass that could find it
    ran (the check was down longer than that): by design neither recorded nor run
    (docs/run-policies.md, "Missed fires"; MissedFireCheckStoppedAlarm says so)."""
    return checked is not None and slot <= checked - _look_back(world)


def _first_check(world: World, slot: datetime) -> datetime | None:
    """The first pass of the missed-fire check that could find `slot` missed."""
    due = slot + _wait()
    return next((p for p in world.check_passes if p >= due), None)


def _terminal(
    world: World,
    schedule: SimSchedule,
    period: Period,
    slot: datetime,
    rows: dict[Slot, dict[str, Any]],
    visits: dict[Slot, list[Visit]],
    alerts: Counter[tuple[str, UUID, datetime]],
) -> list[str]:
    key = (schedule.id, slot)
    row, ran = rows.get(key), visits.get(key, [])
    where = f"{schedule.describe()} slot {iso(slot)}"
    if row is None:
        checked = _first_check(world, slot)
        if ran:
            return [f"[every fire time ends in one state] {where}: ran, but has no run row"]
        # A backlog of more than one pass takes the check several passes: the schedule must
        # stay enabled meanwhile (one paused first is never checked again: see the report).
        if (
            checked is not None
            and period.is_open_at(checked + CATCHUP_SETTLE)
            and not _beyond_look_back(world, slot, checked)
        ):
            return [
                f"[every fire time ends in one state] {where}: no run row, though the check "
                f"ran at {iso(checked)} and the schedule stayed enabled"
            ]
        return []
    status, error = row["status"], row["error"] or ""
    if status == "failed" and error.startswith(ABANDONED_RUN_ERROR) and row["fence"] is None:
        return [
            f"[a fire that never started is missed] {where}: failed '{error}' though its "
            "claim never started (the target never ran it); expected missed with its cause, "
            "a Run Missed alert and the catch-up policy"
        ]
    if status == "succeeded" and not ran:
        return [f"[every fire time ends in one state] {where}: succeeded, the target never ran it"]
    if status == "missed" and alerts[("Run Missed", schedule.id, slot)] != 1:
        return [
            f"[each miss alerted once] {where}: missed, "
            f"{alerts[('Run Missed', schedule.id, slot)]} Run Missed alerts"
        ]
    failures_alerted = alerts[("Run Failed", schedule.id, slot)]
    if status == "failed" and not error.startswith(ABANDONED_RUN_ERROR) and failures_alerted != 1:
        return [
            f"[each failure alerted once] {where}: failed ({error}), "
            f"{failures_alerted} Run Failed alerts"
        ]
    return []


def _catchup(
    world: World,
    schedule: SimSchedule,
    slots: list[tuple[Period, datetime]],
    rows: dict[Slot, dict[str, Any]],
    visits: dict[Slot, list[Visit]],
) -> list[str]:
    """catch-up did what the policy says, for the slots that did not run when they fired
    (neither ran live nor were skipped by the overlap policy)."""
    window = timedelta(seconds=schedule.window_s)
    missed: list[tuple[datetime, datetime | None, bool]] = []  # (slot, first check, owed)
    for period, slot in slots:
        key = (schedule.id, slot)
        row = rows.get(key)
        live = any(v.trigger == "schedule" for v in visits.get(key, []))
        if live or (row is not None and row["status"] == "skipped"):
            continue
        checked = _first_check(world, slot)
        found = _found_missed(world, schedule.id, slot)
        if found is not None and _check_down_between(world, slot + _wait(), found):
            # a claim that never started, settled after an outage of the check: its window
            # counts up to that sweep, as after any outage of the check (docs/run-policies.md)
            checked = found
        owed = (
            checked is not None
            and _inside_window(slot, checked, window)
            and period.is_open_at(checked + CATCHUP_SETTLE)
            and not _beyond_look_back(world, slot, checked)
        )
        missed.append((slot, checked, owed))
    # a catch-up still waiting at the end is not decided yet: its workflow is busy (the
    # "nothing waits forever" invariant judges a queue that does not move)
    queued = {
        slot
        for (schedule_id, slot), row in rows.items()
        if schedule_id == schedule.id and row["status"] == "buffered"
    }
    # catch-ups of later slots too (past the horizon): a newer one supersedes a waiting one
    queued |= {
        slot
        for (schedule_id, slot), slot_visits in visits.items()
        if schedule_id == schedule.id and any(v.trigger == "catchup" for v in slot_visits)
    }
    found = {slot: _found_missed(world, schedule.id, slot) for slot, _, _ in missed}
    # a catch-up queued, claimed, never started and settled past its window: queued as the
    # policy says, then only recorded missed by design (docs/how-a-fire-runs.md, step 3)
    queued |= {
        slot for slot, _, _ in missed if _catchup_claim_outlived_window(world, schedule, slot)
    }
    return _caught_up(schedule, missed, visits, queued, found)


def _found_missed(world: World, schedule_id: UUID, slot: datetime) -> datetime | None:
    """When the product could first know `slot` missed: the first pass of the check after it
    was due; for a claim that never started, the first sweep after its lease expired
    (docs/run-policies.md, "Missed fires": until then a retry of its invocation may still run
    it)."""
    expiry = world.claim_expiries.get((schedule_id, slot))
    if expiry is None:
        return _first_check(world, slot)
    return next((p for p in world.check_passes if p > expiry and p >= slot + _wait()), None)


def _catchup_claim_outlived_window(world: World, schedule: SimSchedule, slot: datetime) -> bool:
    """The slot's catch-up was claimed but never started, and the first sweep after its claim's
    lease expired came when the window, counted from the slot's due, was over: by design it is
    then only recorded missed, not run again (docs/how-a-fire-runs.md, step 3)."""
    if (schedule.id, slot) not in world.catchup_claims:
        return False
    settled = _found_missed(world, schedule.id, slot)
    due = slot_due(slot, schedule.timezone, _wait())
    return settled is not None and settled - due > timedelta(seconds=schedule.window_s)


def _check_down_between(world: World, start: datetime, end: datetime) -> bool:
    """Whether the check had an outage (passes more than two intervals apart, as the product
    tells one) ending after `start` and by `end`."""
    passes = world.check_passes
    longest = 2 * world.check_every
    return any(
        start < later <= end and later - earlier > longest
        for earlier, later in itertools.pairwise(passes)
    )


def _inside_window(slot: datetime, checked: datetime, window: timedelta) -> bool:
    """Whether a missed slot, first findable by the check's pass at `checked`, is owed its
    catch-up: it is within the window of that pass; or, for a window shorter than the grace
    (which no slot could ever be within when found), within the window of the moment it was
    due. The tolerant minimum of both readings of "missed within the window"."""
    if slot >= checked - window:
        return True
    return window < _wait() and checked - slot <= window + _wait()


def _caught_up(
    schedule: SimSchedule,
    missed: list[tuple[datetime, datetime | None, bool]],
    visits: dict[Slot, list[Visit]],
    queued: set[datetime],
    found_at: dict[datetime, datetime | None],
) -> list[str]:
    found = []

    def caught(slot: datetime) -> list[Visit]:
        return [
            v for v in visits.get((schedule.id, slot), []) if v.trigger in ("catchup", "backfill")
        ]

    def caught_or_queued(slot: datetime) -> bool:
        return slot in queued or bool(caught(slot))

    if schedule.catchup == "all":
        for slot, checked, owed in missed:
            if owed and not caught_or_queued(slot):
                found.append(
                    f"[catch-up all runs every missed slot in its window] {schedule.describe()} "
                    f"slot {iso(slot)}: missed, found at {iso(checked or slot)} within the "
                    f"{schedule.window_s}s window, never run"
                )
        return found
    # latest: of the slots one pass could find, the newest owed one runs (or a newer one
    # found later does instead), and no slot runs once a newer missed one was found
    by_pass: dict[datetime | None, list[tuple[datetime, bool]]] = defaultdict(list)
    for slot, checked, owed in missed:
        by_pass[checked].append((slot, owed))
    for checked, members in by_pass.items():
        owed = [slot for slot, is_owed in members if is_owed]
        if owed and not any(slot >= owed[-1] for slot in queued) and not caught(owed[-1]):
            found.append(
                f"[catch-up latest runs the newest missed slot] {schedule.describe()} slot "
                f"{iso(owed[-1])}: missed, found at {iso(checked or owed[-1])} within the "
                f"{schedule.window_s}s window, no catch-up ran"
            )
    for slot, _, _ in missed:
        for visit in caught(slot):
            stale = [
                newer
                for newer, _, _ in missed
                if newer > slot
                and (known := found_at[newer]) is not None
                and known <= visit.started
            ]
            if stale and visit.trigger == "catchup":
                found.append(
                    f"[catch-up latest runs one slot, the newest] {schedule.describe()} slot "
                    f"{iso(slot)}: caught up at {iso(visit.started)} though the newer missed "
                    f"slot {iso(stale[-1])} was found by then"
                )
    return found
