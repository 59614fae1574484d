"""The workflows' target: a step kind that records each call in virtual time.

Whether a slot ran twice, or two runs of one workflow overlapped, is judged from these visits,
never from the product's own rows. A step takes `durationS` of virtual time, during which the
rest of the world goes on (deliveries, hand-ons, other runs): the run holds its lease meanwhile,
as a real run would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field
from scheduler.errors import StepFailed
from scheduler.steps.engine import RunContext, StepModel, register_step
from scheduler.steps.placeholders import substitute_json

from tests.simulation.clock import VirtualClock
from tests.simulation.faults import Faults, SimulatedCrash

STEP_KIND = "sim_target"


class TargetStep(StepModel):
    type: Literal["sim_target"]
    duration_s: int = Field(alias="durationS", ge=0)
    fail_percent: int = Field(default=0, alias="failPercent", ge=0, le=100)
    # placeholders ({{input.x}}, {{scheduleId}}, ...) the product substitutes as for an http
    # step's body: what the workflow received is judged against the schedule's input
    echo: dict[str, Any] | None = None


@dataclass
class Visit:
    schedule_id: UUID
    workflow_id: UUID
    slot: datetime
    trigger: str
    started: datetime
    ended: datetime | None = None
    failed: bool = False
    received: Any = None


@dataclass
class Target:
    clock: VirtualClock
    faults: Faults
    rng: random.Random
    # waits in virtual time while the rest of the world goes on (Tasks.sleep)
    wait: Callable[[float], None]
    visits: list[Visit] = field(default_factory=list)

    def visit(self, step: TargetStep, run: RunContext) -> dict[str, Any]:
        visit = Visit(
            run.schedule_id, run.workflow_id, run.scheduled_time, run.trigger, self.clock.now()
        )
        self.visits.append(visit)
        if step.echo is not None:
            visit.received = substitute_json(step.echo, run)
        armed = self.faults.armed.get("target")
        if armed:  # the runner's process dies in the middle of the run
            armed.pop(0)
            visit.ended = self.clock.now()
            raise SimulatedCrash("runner died while its workflow ran")
        self.wait(step.duration_s)
        visit.ended = self.clock.now()
        if self.rng.randrange(100) < step.fail_percent:
            visit.failed = True
            raise StepFailed("the target answered 500")
        return {"status": 200}


_ACTIVE: list[Target] = []


def activate(target: Target) -> None:
    """The target the registered step calls (one simulation at a time per process)."""
    _ACTIVE[:] = [target]


@register_step(STEP_KIND, TargetStep)
def _call_target(step: Any, run: RunContext) -> dict[str, Any]:
    if not _ACTIVE:
        raise StepFailed("no simulation is running")
    return _ACTIVE[0].visit(step, run)
