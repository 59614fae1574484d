"""One-time schedules (`at`, scheduler.cron.once) in the simulation: the `at` a client writes,
and what EventBridge must hold for them.

A one-time schedule's fire time is its `at` (the model's Period.at); the step and final
invariants judge it as any fire time (it runs at most once, ends in one state, is caught up per
its policy). Beyond those: it never runs before its instant, nor at any instant but an `at` it
had; and EventBridge Scheduler holds its at() while it is to come (ENABLED while the schedule is,
the instant it names), and none once it fired (ActionAfterCompletion DELETE: SimEventBridge
deletes it as EventBridge does, after its one delivery).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from scheduler.sync.eventbridge import schedule_names

from tests.simulation.model import iso

if TYPE_CHECKING:
    from tests.simulation.world import World


def at_in(now: datetime, minutes: int, timezone: str, wall: bool | None) -> tuple[str, datetime]:
    """An `at` `minutes` whole minutes after `now`, as a client writes it (an instant, or a
    wall time in `timezone`), and the instant it names (read here with zoneinfo: a repeated
    wall time is its first occurrence, as docs/api.md says)."""
    instant = now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    if not wall:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ"), instant
    text = instant.astimezone(ZoneInfo(timezone)).replace(tzinfo=None).isoformat()
    named = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone), fold=0)
    return text, named.astimezone(UTC)


def at_expression(at: datetime, timezone: str) -> str:
    """EventBridge's at() of an instant in a zone (its wall time there), derived here."""
    wall = at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return f"at({wall.isoformat(timespec='seconds')})"


def once_step_violations(world: World) -> list[str]:
    """No run of a one-time schedule before its instant, nor of an instant it never had."""
    found: list[str] = []
    schedules = {s.id: s for s in world.model.schedules}
    for visit in world.target.visits:
        schedule = schedules.get(visit.schedule_id)
        if schedule is None or visit.trigger not in ("schedule", "catchup"):
            continue
        where = f"{schedule.describe()} slot {iso(visit.slot)} ({visit.trigger})"
        # a moved occurrence's time is its new one (excepted.py judges it)
        if visit.started < min(visit.slot, world.excepted.due_at(visit.schedule_id, visit.slot)):
            found.append(
                f"[no fire runs before its time] {where}: the target ran it at {iso(visit.started)}"
            )
        ats = {p.at for p in schedule.periods if p.at is not None}
        always_once = all(p.at is not None for p in schedule.periods)
        if always_once and visit.slot not in ats:
            found.append(
                f"[a one-time schedule runs only at its at] {where}: not an `at` it had "
                f"({', '.join(iso(a) for a in sorted(ats))})"
            )
    return found


def once_eventbridge_violations(world: World, pending: set[object]) -> list[str]:
    """What EventBridge holds for each live one-time schedule (those without a pending drain:
    a bulk change's EventBridge writes follow later, see bulk.py): its at() while `at` is to
    come, ENABLED as the schedule is; nothing once it fired."""
    found: list[str] = []
    now = world.clock.now()
    for schedule in world.model.live():
        if schedule.at is None or schedule.id in pending:
            continue
        held = [world.eventbridge.api.get(name) for name in schedule_names(schedule.id)]
        present = [h for h in held if h is not None]
        where = f"{schedule.describe()}"
        if schedule.at > now:
            if schedule.enabled and len(present) != 1:
                found.append(
                    f"[EventBridge holds a one-time schedule's at() until it fires] {where}: "
                    f"{len(present)} EventBridge schedules at {iso(now)}"
                )
            # the runner's pause (pauseAfterFailures) writes no EventBridge: reconcile's to do
            paused_by_runner = bool(schedule.runner_pauses) and (
                not schedule.toggles or schedule.toggles[-1][0] <= schedule.runner_pauses[-1]
            )
            for h in present:
                expected = at_expression(schedule.at, schedule.timezone)
                state = "ENABLED" if schedule.enabled else "DISABLED"
                held_state = state if paused_by_runner else h.get("State")
                if (h["ScheduleExpression"], held_state) != (expected, state):
                    found.append(
                        f"[EventBridge follows a one-time schedule] {where}: EventBridge holds "
                        f"{h['ScheduleExpression']} {h.get('State')}, expected {expected} {state}"
                    )
        elif present and world.eventbridge.completed.get(str(schedule.id)) == at_expression(
            schedule.at, schedule.timezone
        ):
            found.append(
                f"[a one-time schedule's at() is gone once it fired] {where}: EventBridge "
                f"still holds {present[0]['ScheduleExpression']} at {iso(now)}"
            )
    return found
