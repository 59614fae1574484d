"""The input invariants (issue #25): what a run's step received through placeholders.

The target's step echoes `{{input}}`, `{{input.x}}`, `{{scheduleId}}`, `{{scheduledTime}}` and a
text mixing them (world.ECHO), substituted by the product's own placeholders. Each run must
have received the input of its own schedule as it was at the run's claim (docs:
input-and-placeholders.md, "A run reads the input from the schedule's row with its claim": a
PATCH applies from the next claim on, and a claim keeps what it read), and its own schedule id
and fire time. The claim's moment is the run row's `started_at`: the claim statement writes it
(virtual time) and a later claim of the same slot (a buffered run taken up, an expired claim
taken over) writes it again with the input it reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.steps.placeholders import as_text

from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.world import World


def input_violations(world: World) -> list[str]:
    schedules = {s.id: s for s in world.model.schedules}
    claims = {(r["schedule_id"], r["scheduled_time"]): r for r in world.run_log.values()}
    found: list[str] = []
    for visit in world.target.visits:
        received, schedule = visit.received, schedules.get(visit.schedule_id)
        if received is None or schedule is None:
            continue
        where = f"{schedule.describe()} slot {iso(visit.slot)} ({visit.trigger})"
        sent_time = datetime.fromisoformat(str(received.get("scheduledTime")))
        if received.get("scheduleId") != str(schedule.id) or sent_time != visit.slot:
            found.append(
                f"[a run receives its own scheduleId and scheduledTime] {where}: received "
                f"scheduleId {received.get('scheduleId')}, scheduledTime "
                f"{received.get('scheduledTime')}"
            )
        got = received.get("input")
        if not isinstance(got, dict):
            found.append(f"[a run receives its schedule's input] {where}: received {got!r}")
            continue
        owner = _whose(world.model.schedules, got)
        if owner is not None and owner is not schedule and got not in _all_inputs(schedule):
            found.append(
                f"[a run never receives another schedule's input] {where}: received {got}, "
                f"the input of {owner.label}"
            )
            continue
        row = claims.get((visit.schedule_id, visit.slot))
        expected = [] if row is None else schedule.inputs_at(row["started_at"])
        if row is not None and got not in expected:
            found.append(
                f"[a run receives its schedule's input as read with its claim] {where}: "
                f"claimed at {iso(row['started_at'])}, received {got}, the input then was "
                f"{expected}"
            )
        text = f"{as_text(got.get('nonce'))}/{as_text(got.get('v'))} at {received['scheduledTime']}"
        if received.get("x") != got.get("x") or received.get("text") != text:
            found.append(
                f"[placeholders substitute the input a run read] {where}: received x "
                f"{received.get('x')!r}, text {received.get('text')!r} for the input {got}"
            )
    return found


def _all_inputs(schedule: SimSchedule) -> list[dict[str, Any]]:
    return [value for _, value in schedule.inputs]


def _whose(schedules: list[SimSchedule], value: Any) -> SimSchedule | None:
    """The schedule whose input (at some time) `value` was: the one its nonce names."""
    nonce = value.get("nonce") if isinstance(value, dict) else None
    return next((s for s in schedules if any(v.get("nonce") == nonce for _, v in s.inputs)), None)
