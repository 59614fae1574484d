"""The simulated cloud: an event loop on the virtual clock, EventBridge Scheduler's deliveries
and Lambda's asynchronous invocation of the runner.

EventBridge reads each schedule from the Scheduler API (moto) as the product wrote it
(expression, timezone, State) and delivers at each fire time: on time, late, twice, or not at
all (and nothing while it is down). Lambda queues each asynchronous invocation, runs at most
`concurrency` at once (the rest wait: throttled), retries a failed one twice with the same
request id, after 1 and 2 minutes, and drops an event older than its maximum age.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.errors import DependencyUnavailable
from scheduler.observability import metrics
from scheduler.run.event import RunnerEvent, parse_event
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import LeaseLock
from scheduler.run.runner import run_fire
from scheduler.sync.dst_schedules import dst_prefix
from scheduler.sync.eventbridge import EventBridgeSchedules, schedule_names

from devstack.engine import substitute_context
from tests.simulation.clock import VirtualClock
from tests.simulation.faults import Faults, SimulatedCrash
from tests.simulation.tasks import Tasks

# RunnerFunction's Timeout and its async settings (template.yaml).
LAMBDA_TIMEOUT_S = 300
LAMBDA_RETRY_DELAYS_S = (60, 120)
MAX_EVENT_AGE = timedelta(hours=6)
# How often a throttled invocation is tried again while every slot is busy.
THROTTLE_POLL_S = 5
# How EventBridge delivers a fire time: weights of on time, late, twice, not at all.
DELIVERY_WEIGHTS = {"on_time": 90, "late": 4, "duplicate": 4, "dropped": 2}
LATE_S = (5, 900)


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    label: str = field(compare=False)
    action: Callable[[], None] = field(compare=False)


class EventLoop:
    """What happens when, in virtual time (driven from the main thread only)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[_Event] = []
        self._seq = itertools.count()

    def at(self, moment: datetime, label: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, _Event(moment, next(self._seq), label, action))

    def run_until(self, moment: datetime) -> None:
        while self._heap and self._heap[0].at <= moment:
            event = heapq.heappop(self._heap)
            self.clock.advance_to(event.at)
            event.action()
        self.clock.advance_to(moment)


@dataclass
class Invocation:
    request_id: str
    event: dict[str, Any]
    enqueued_at: datetime
    attempt: int = 0


@dataclass
class SimLambda:
    """RunnerFunction behind Lambda's asynchronous invocation; each invocation is a task."""

    loop: EventLoop
    clock: VirtualClock
    tasks: Tasks
    queries: RunnerQueries
    lock_for: Callable[[], LeaseLock]
    concurrency: int
    active: int = 0
    stats: Counter[str] = field(default_factory=Counter)
    # exceptions the runner must never raise (anything but DependencyUnavailable)
    unexpected: list[str] = field(default_factory=list)
    # request id -> when an attempt of it last died (a SimulatedCrash): its claims' token
    crashes: dict[str, datetime] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def invoke_async(self, event: dict[str, Any]) -> None:
        invocation = Invocation(f"req-{next(self._ids)}", event, self.clock.now())
        self.stats["invoked"] += 1
        self.loop.at(self.clock.now(), "lambda", partial(self._attempt, invocation))

    def _attempt(self, invocation: Invocation) -> None:
        now = self.clock.now()
        if now - invocation.enqueued_at > MAX_EVENT_AGE:
            self.stats["expired"] += 1
            return
        if self.active >= self.concurrency:
            self.stats["throttled"] += 1
            later = now + timedelta(seconds=THROTTLE_POLL_S)
            self.loop.at(later, "lambda (throttled)", partial(self._attempt, invocation))
            return
        fire = parse_event(invocation.event)
        if fire is None:
            self.stats["malformed"] += 1
            return
        self.active += 1
        name = f"{invocation.request_id}#{invocation.attempt}"
        self.tasks.start(name, partial(self._invoke, invocation, fire))

    def _invoke(self, invocation: Invocation, fire: RunnerEvent) -> None:
        try:
            run_fire(
                fire,
                remaining_time_s=LAMBDA_TIMEOUT_S,
                invocation_id=invocation.request_id,
                queries=self.queries,
                lock=self.lock_for(),
                now=self.clock.now,
                hand_on=self.invoke_async,
            )
            self.stats["completed"] += 1
        except (Exception, SimulatedCrash) as exc:
            if not isinstance(exc, DependencyUnavailable | SimulatedCrash):
                self.unexpected.append(f"{type(exc).__name__}: {exc} for {invocation.event}")
            if isinstance(exc, SimulatedCrash):
                self.crashes[invocation.request_id] = self.clock.now()
            self._retry(invocation)
        finally:
            self.active -= 1
            metrics.clear_metrics()  # a handler would flush them; nobody reads them here

    def _retry(self, invocation: Invocation) -> None:
        if invocation.attempt >= len(LAMBDA_RETRY_DELAYS_S):
            self.stats["gave_up"] += 1
            return
        self.stats["retried"] += 1
        delay = timedelta(seconds=LAMBDA_RETRY_DELAYS_S[invocation.attempt])
        again = Invocation(
            invocation.request_id,
            invocation.event,
            invocation.enqueued_at,
            invocation.attempt + 1,
        )
        self.loop.at(self.clock.now() + delay, "lambda retry", partial(self._attempt, again))


@dataclass
class _Plan:
    name: str
    expression: str
    timezone: str
    template: str
    arn: str
    # ActionAfterCompletion DELETE (a one-time at()): EventBridge deletes it once it fired
    delete_after: bool = False


@dataclass
class SimEventBridge:
    """EventBridge Scheduler delivering the schedules moto holds."""

    loop: EventLoop
    clock: VirtualClock
    api: EventBridgeSchedules
    lam: SimLambda
    faults: Faults
    rng: random.Random
    plans: dict[str, _Plan] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    # name -> the expression of the at() it fired and then deleted (ActionAfterCompletion)
    completed: dict[str, str] = field(default_factory=dict)
    # name -> ActionAfterCompletion as the product last wrote it (moto's UpdateSchedule drops
    # it, where AWS's replaces the whole schedule with the request: see `watch`)
    after_completion: dict[str, str | None] = field(default_factory=dict)
    # name -> when (virtual) the product last wrote it
    written_at: dict[str, datetime] = field(default_factory=dict)

    def watch(self, client: Any) -> None:
        """Learn each schedule's ActionAfterCompletion from the product's own requests; and
        (a seam, as for fires_from) stamp the listing's dates with the virtual time of each
        write, where moto stamps the real clock (reconcile_moves reads them)."""

        def written(params: dict[str, Any], **_: Any) -> None:
            self.after_completion[params["Name"]] = params.get("ActionAfterCompletion")
            self.written_at[params["Name"]] = self.clock.now()

        def listed(parsed: dict[str, Any], **_: Any) -> None:
            for summary in parsed.get("Schedules", []):
                at = self.written_at.get(summary.get("Name", ""))
                if at is not None:
                    summary["CreationDate"] = summary["LastModificationDate"] = at

        for operation in ("CreateSchedule", "UpdateSchedule"):
            client.meta.events.register(f"before-parameter-build.scheduler.{operation}", written)
        client.meta.events.register("after-call.scheduler.ListSchedules", listed)

    def refresh(self, schedule_id: UUID) -> None:
        """Read the row's EventBridge schedules again (after the API wrote them): its cron's, and
        the one-time at() schedules its DST policy adds (scheduler.sync.dst_schedules)."""
        prefix = dst_prefix(schedule_id)
        for name in [n for n in self.plans if n.startswith(prefix)]:
            del self.plans[name]
        extra = [s["Name"] for s in self.api.iter_schedules(prefix)]
        self.refresh_names([*schedule_names(schedule_id), *extra])

    def refresh_prefix(self, prefix: str) -> None:
        """Read again every schedule whose name starts with `prefix` (a move's `move-`)."""
        for name in [n for n in self.plans if n.startswith(prefix)]:
            del self.plans[name]
        self.refresh_names([s["Name"] for s in self.api.iter_schedules(prefix)])

    def refresh_names(self, names: list[str]) -> None:
        for name in names:
            self.plans.pop(name, None)
            described = self.api.get(name)
            if described is None or described.get("State", "ENABLED") != "ENABLED":
                continue
            target = described["Target"]
            plan = _Plan(
                name,
                described["ScheduleExpression"],
                described.get("ScheduleExpressionTimezone") or "UTC",
                target["Input"],
                described.get("Arn", ""),
                self.after_completion.get(name) == "DELETE",
            )
            self.plans[name] = plan
            self._plan_next(plan, self.clock.now())

    def _plan_next(self, plan: _Plan, after: datetime) -> None:
        fire = cron.eventbridge_next_fire(plan.expression, plan.timezone, after)
        if fire is not None:
            self.loop.at(fire, f"eventbridge {plan.name}", partial(self._fire, plan, fire))

    def _fire(self, plan: _Plan, fire: datetime) -> None:
        if self.plans.get(plan.name) is not plan:  # changed or deleted since
            return
        self._plan_next(plan, fire)
        self.stats["fire_times"] += 1
        if plan.delete_after and plan.expression.startswith("at("):
            self._complete(plan)
        if self.faults.is_down("eventbridge"):
            self.stats["dropped"] += 1
            return
        how = self.rng.choices(list(DELIVERY_WEIGHTS), weights=list(DELIVERY_WEIGHTS.values()))[0]
        self.stats[how] += 1
        if how == "dropped":
            return
        event = json.loads(
            substitute_context(plan.template, scheduled_time=fire, schedule_arn=plan.arn)
        )
        if how == "late":
            later = self.clock.now() + timedelta(seconds=self.rng.randint(*LATE_S))
            self.loop.at(later, "eventbridge late", partial(self.lam.invoke_async, event))
            return
        self.lam.invoke_async(event)
        if how == "duplicate":
            self.lam.invoke_async(dict(event))

    def _complete(self, plan: _Plan) -> None:
        """A one-time at() has had its fire (delivered, late, or lost: EventBridge's retries
        are its own): EventBridge deletes it (ActionAfterCompletion DELETE)."""
        self.plans.pop(plan.name, None)
        self.api.client.delete_schedule(Name=plan.name, GroupName=self.api.group)
        self.completed[plan.name] = plan.expression
        self.stats["at_deleted"] += 1
