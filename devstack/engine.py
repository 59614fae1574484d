"""A local EventBridge Scheduler: reads schedules from the Scheduler API and fires their targets.

Two threads. The poller lists the group's schedules every `poll_interval_s` of real time and
fetches the full description only of schedules that are new or whose LastModificationDate
changed, so an idle stack with many schedules stays cheap. The firer sleeps on the clock until
the next whole minute or earliest fire time (or until the clock is moved), polls once more, so
that creations, State changes and deletions up to that moment count, then invokes each due
schedule's target with the context attributes filled in.

Like EventBridge, a schedule fires only at fire times after the engine started (no catch-up)
and after the schedule was created or last changed, and only inside its StartDate / EndDate
(both inclusive: EventBridge may fire "on, or after" the one and "on, or before" the other); a
fire time older than the target's MaximumEventAgeInSeconds is dropped, not delivered late. A
FlexibleTimeWindow is not simulated: every fire is invoked at its nominal time, the earliest
EventBridge may choose (and what <aws.scheduler.scheduled-time> carries either way). A one-time
`at(...)` fires once; with ActionAfterCompletion DELETE it is then deleted, as EventBridge does
(moto keeps the setting from CreateSchedule only: its UpdateSchedule drops it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler import cron

from devstack.clock import Clock

log = logging.getLogger("devstack.engine")

# Invoke(target ARN, payload bytes): an asynchronous Lambda invocation (InvocationType Event).
Invoke = Callable[[str, bytes], None]

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_DEFAULT_MAX_EVENT_AGE_S = 86_400


@dataclass
class _Schedule:
    name: str
    arn: str
    last_modified: Any  # as the Scheduler API reported it: compared, never interpreted
    expression: str
    timezone: str
    target_arn: str
    target_input: str
    max_event_age_s: int
    enabled: bool
    start_date: datetime | None = None
    end_date: datetime | None = None
    delete_after_completion: bool = False  # ActionAfterCompletion DELETE (a one-time at())
    next_fire: datetime | None = None
    last_fired: datetime | None = None


def _as_datetime(value: Any) -> datetime | None:
    """A Scheduler API timestamp, parsed or raw (epoch seconds: the engine's client keeps them)."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError):
        return None


def _fire_time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def substitute_context(template: str, *, scheduled_time: datetime, schedule_arn: str) -> str:
    """The target Input with EventBridge Scheduler's context attributes filled in."""
    return (
        template.replace("<aws.scheduler.scheduled-time>", _fire_time_text(scheduled_time))
        .replace("<aws.scheduler.attempt-number>", "1")
        .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
    )


class SchedulerEngine:
    def __init__(
        self,
        scheduler_client: Any,
        group: str,
        invoke: Invoke,
        clock: Clock,
        *,
        poll_interval_s: float = 5.0,
    ) -> None:
        self._client = scheduler_client
        self._group = group
        self._invoke = invoke
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._schedules: dict[str, _Schedule] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # the poller and the firer both poll, one at a time
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._poll_now = threading.Event()
        self._fire_wake = threading.Event()
        self._polls_started = 0
        self._polls_done = 0
        self._processed_until: datetime | None = None
        self._started_at: datetime | None = None
        self._last_poll_at: datetime | None = None
        self._threads: list[threading.Thread] = []
        self.fired = 0

    # --- lifecycle

    def start(self) -> None:
        self._started_at = self._last_poll_at = self._clock.now()
        self._poll()  # schedules that exist at start are known before the first fire time
        self._threads = [
            threading.Thread(target=self._poll_loop, name="engine-poller", daemon=True),
            threading.Thread(target=self._fire_loop, name="engine-firer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._poll_now.set()
        self._fire_wake.set()
        for thread in self._threads:
            thread.join(timeout_s)

    # --- what tests (and curious people) wait on

    def refresh(self, timeout_s: float = 10.0) -> None:
        """Wait until a poll that started after this call has finished."""
        with self._lock:
            target = self._polls_started + 1
            self._poll_now.set()
            if not self._changed.wait_for(lambda: self._polls_done >= target, timeout_s):
                raise TimeoutError("the engine did not poll the Scheduler API in time")

    def wait_until_processed(self, moment: datetime, timeout_s: float = 10.0) -> None:
        """Wait until every fire time up to `moment` (clock time) has been handed to the target."""
        with self._lock:
            self._fire_wake.set()
            done = self._changed.wait_for(
                lambda: self._processed_until is not None and self._processed_until >= moment,
                timeout_s,
            )
        if not done:
            raise TimeoutError(f"the engine did not reach {moment.isoformat()} in time")

    def next_fire(self, name: str) -> datetime | None:
        with self._lock:
            schedule = self._schedules.get(name)
            return schedule.next_fire if schedule else None

    # --- polling the Scheduler API

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._poll_now.wait(self._poll_interval_s)
            self._poll_now.clear()
            if self._stop.is_set():
                return
            try:
                self._poll()
            except Exception:  # a failed poll keeps the last known schedules; the next one retries
                log.exception("could not list the schedules")

    def _poll(self) -> None:
        with self._poll_lock:
            self._poll_once()

    def _poll_once(self) -> None:
        with self._lock:
            self._polls_started += 1
            poll_number = self._polls_started
        now = self._clock.now()
        summaries: dict[str, dict[str, Any]] = {}
        for page in self._client.get_paginator("list_schedules").paginate(
            GroupName=self._group, PaginationConfig={"PageSize": 100}
        ):
            for summary in page.get("Schedules", []):
                summaries[summary["Name"]] = summary
        with self._lock:
            known = {name: s.last_modified for name, s in self._schedules.items()}
            baseline = self._last_poll_at or now
        changed = [
            name
            for name, summary in summaries.items()
            if known.get(name, object()) != summary.get("LastModificationDate")
        ]
        fetched = {name: self._describe(name, baseline, now) for name in changed}
        with self._lock:
            for name in set(self._schedules) - set(summaries):
                del self._schedules[name]  # deleted: never fires again
            for name, schedule in fetched.items():
                if schedule is None:
                    self._schedules.pop(name, None)
                    continue
                previous = self._schedules.get(name)
                if previous is not None:
                    schedule.last_fired = previous.last_fired
                schedule.next_fire = self._first_fire(schedule, baseline, now)
                self._schedules[name] = schedule
            self._last_poll_at = now
            self._polls_done = poll_number
            self._changed.notify_all()
        if changed or len(summaries) != len(known):
            self._fire_wake.set()

    def _describe(self, name: str, baseline: datetime, now: datetime) -> _Schedule | None:
        try:
            description = self._client.get_schedule(Name=name, GroupName=self._group)
        except self._client.exceptions.ResourceNotFoundException:
            return None  # deleted between the listing and now
        target = description.get("Target", {})
        retry = target.get("RetryPolicy", {})
        return _Schedule(
            name=name,
            arn=description.get("Arn", ""),
            last_modified=description.get("LastModificationDate"),
            expression=description.get("ScheduleExpression", ""),
            timezone=description.get("ScheduleExpressionTimezone") or "UTC",
            target_arn=target.get("Arn", ""),
            target_input=target.get("Input", ""),
            max_event_age_s=int(retry.get("MaximumEventAgeInSeconds", _DEFAULT_MAX_EVENT_AGE_S)),
            enabled=description.get("State", "ENABLED") == "ENABLED",
            start_date=_as_datetime(description.get("StartDate")),
            end_date=_as_datetime(description.get("EndDate")),
            delete_after_completion=description.get("ActionAfterCompletion") == "DELETE",
        )

    def _first_fire(
        self, schedule: _Schedule, baseline: datetime, now: datetime
    ) -> datetime | None:
        """The first fire time after the schedule (or the engine) came to be, not yet fired.

        The change happened after the previous poll (`baseline`) and no later than its
        LastModificationDate; that date is the service's wall time, so a manual clock that
        runs behind it is capped at `now`.
        """
        if not schedule.enabled:
            return None
        assert self._started_at is not None
        after = max(baseline, self._started_at)
        last_modified = _as_datetime(schedule.last_modified)
        if last_modified is not None:
            after = max(after, min(last_modified, now))
        if schedule.last_fired is not None:
            after = max(after, schedule.last_fired)
        return self._next_after(schedule, after)

    @staticmethod
    def _next_after(schedule: _Schedule, after: datetime) -> datetime | None:
        """The first fire time after `after` inside the schedule's StartDate / EndDate."""
        if schedule.start_date is not None:
            after = max(after, schedule.start_date - timedelta(microseconds=1))
        try:
            fire = cron.eventbridge_next_fire(schedule.expression, schedule.timezone, after)
        except OverflowError:  # a StartDate so late that its next fire is past year 9999
            return None
        except ValueError as exc:  # rate()/at() or a bad expression: the real service would refuse
            log.warning(
                "schedule %s: cannot evaluate %r: %s", schedule.name, schedule.expression, exc
            )
            return None
        if fire is not None and schedule.end_date is not None and fire > schedule.end_date:
            return None  # ended: EventBridge fires nothing after EndDate
        return fire

    # --- firing

    def _fire_loop(self) -> None:
        while not self._stop.is_set():
            self._fire_wake.clear()
            if self._clock.now() > (self._last_poll_at or _FAR_FUTURE):
                # Fire by the state of the schedules now, not as of the last periodic poll:
                # a schedule changed since then (or while a manual clock jumped) fires right.
                try:
                    self._poll()
                except Exception:
                    log.exception("could not list the schedules")
            now = self._clock.now()
            try:
                self._fire_due(now)
            except Exception:  # one bad target must not stop every other schedule
                log.exception("firing schedules failed")
            with self._lock:
                self._processed_until = now
                self._changed.notify_all()
                upcoming = [s.next_fire for s in self._schedules.values() if s.next_fire]
            # Cron fires only on whole minutes: waking at each one to poll means a schedule
            # created, changed or deleted any time before a fire time is fired (or not) right.
            next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            self._clock.sleep_until(min([*upcoming, next_minute]), self._fire_wake)

    def _fire_due(self, now: datetime) -> None:
        while True:
            with self._lock:
                due = [s for s in self._schedules.values() if s.next_fire and s.next_fire <= now]
                if not due:
                    return
                schedule = min(due, key=lambda s: s.next_fire or _FAR_FUTURE)
                fire_time = schedule.next_fire
                assert fire_time is not None
                schedule.last_fired = fire_time
                schedule.next_fire = self._next_after(schedule, fire_time)
            if now - fire_time > timedelta(seconds=schedule.max_event_age_s):
                log.warning("schedule %s: dropped fire time %s (too old)", schedule.name, fire_time)
                continue
            payload = substitute_context(
                schedule.target_input, scheduled_time=fire_time, schedule_arn=schedule.arn
            )
            log.debug("fired %s for %s", schedule.name, _fire_time_text(fire_time))
            self.fired += 1
            self._invoke(schedule.target_arn, payload.encode("utf-8"))
            if schedule.delete_after_completion and schedule.next_fire is None:
                self._delete_completed(schedule.name)

    def _delete_completed(self, name: str) -> None:
        """Delete a schedule that has fired its last time, as EventBridge does for
        ActionAfterCompletion DELETE (its one-time at() schedules)."""
        with contextlib.suppress(self._client.exceptions.ResourceNotFoundException):
            self._client.delete_schedule(Name=name, GroupName=self._group)  # or gone meanwhile
        with self._lock:
            self._schedules.pop(name, None)
