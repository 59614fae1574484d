"""What must have happened: each schedule's enabled periods, and their fire times by the
product's own definition (scheduler.cron.policy_fire_times under the schedule's DST policy, as
previews, backfill and the missed-fire check use; a one-time schedule's `at`:
scheduler.cron.once_fire_times); its input as each PATCH left it; when it was re-enabled, and
when the runner paused it after its failures (learnt from the product: see
World.learn_runner_pause)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from scheduler import cron

# Enough fire times for any period of a simulated run (an every-minute cron over weeks).
MAX_FIRES = 200_000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Period:
    """The schedule fired by `cron` in `timezone` (or once, at `at`: a one-time schedule) from
    `start` (exclusive) until `end`."""

    start: datetime
    end: datetime | None
    cron: str | None
    timezone: str
    dst_policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY
    at: datetime | None = None

    def fire_times(self, until: datetime) -> list[datetime]:
        """The product's one definition of fire times, under the schedule's DST policy."""
        if self.at is not None:
            return cron.once_fire_times(self.at, self.start, 1, until=until)
        assert self.cron is not None
        return cron.policy_fire_times(
            self.cron, self.timezone, self.start, MAX_FIRES, until=until, policy=self.dst_policy
        )

    def is_open_at(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass
class SimSchedule:
    id: UUID
    workflow_id: UUID
    label: str
    cron: str | None
    timezone: str
    catchup: str
    window_s: int
    overlap: str
    enabled: bool = True
    deleted_at: datetime | None = None
    periods: list[Period] = field(default_factory=list)
    pause_after: int | None = None
    # (since when, the input): the input a claim reads is the newest one at its claim
    inputs: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    # when a PATCH enabled (True: its failure streak starts again) or paused it, and its
    # transaction id (the order of its write among the runs' records); when the runner paused it
    toggles: list[tuple[datetime, bool, int]] = field(default_factory=list)
    runner_pauses: list[datetime] = field(default_factory=list)
    dst_policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY
    # a one-time schedule's instant (cron None), as the newest create or PATCH wrote it
    at: datetime | None = None
    # its label `group` (what a bulk change's filter names)
    group: str = "a"

    def describe(self) -> str:
        fires = f"at {iso(self.at)}" if self.at is not None else f"cron {self.cron!r}"
        dst = f" dst {self.dst_policy.spring_forward}/{self.dst_policy.fall_back}"
        return (
            f"{self.label} [{self.id}] {fires} {self.timezone}{dst}, catchup "
            f"{self.catchup}/{self.window_s}s, overlap {self.overlap}, pause after "
            f"{self.pause_after}"
        )

    def inputs_at(self, moment: datetime) -> list[dict[str, Any]]:
        """The input a claim at `moment` reads: the newest written before it (both, when a
        PATCH landed on the same instant: which one the claim saw is a race)."""
        before = [value for since, value in self.inputs if since < moment]
        same = [value for since, value in self.inputs if since == moment]
        return before[-1:] + same

    def slots(self, until: datetime) -> list[tuple[Period, datetime]]:
        """Every fire time of every enabled period up to `until`, oldest first."""
        found: list[tuple[Period, datetime]] = []
        for period in self.periods:
            end = until if period.end is None else min(period.end, until)
            if end <= period.start:
                continue
            times = period.fire_times(end)
            found.extend((period, t) for t in times if period.end is None or t < period.end)
        return found


@dataclass
class Model:
    schedules: list[SimSchedule] = field(default_factory=list)

    def created(
        self, schedule_id: UUID, workflow_id: UUID, spec: dict[str, Any], now: datetime
    ) -> SimSchedule:
        schedule = SimSchedule(
            schedule_id,
            workflow_id,
            f"s{len(self.schedules) + 1}",
            spec.get("cron"),
            spec["timezone"],
            spec["catchup"],
            spec["window"],
            spec["overlap"],
            pause_after=spec.get("pause_after"),
            dst_policy=_policy(spec.get("dst")),
            at=spec.get("at_instant"),
            group=spec.get("group") or "a",
        )
        schedule.inputs.append((now, spec.get("input") or {}))
        schedule.periods.append(
            Period(now, None, schedule.cron, schedule.timezone, schedule.dst_policy, schedule.at)
        )
        self.schedules.append(schedule)
        return schedule

    def updated(
        self, schedule: SimSchedule, changes: dict[str, Any], now: datetime, xid: int = 0
    ) -> None:
        enabled = changes.get("enabled", schedule.enabled)
        # a cron makes a one-time schedule recurring, an `at` a recurring one one-time
        new_cron = None if "at_instant" in changes else changes.get("cron", schedule.cron)
        new_at = None if "cron" in changes else changes.get("at_instant", schedule.at)
        new_zone = changes.get("timezone", schedule.timezone)
        was = (schedule.cron, schedule.timezone, schedule.at)
        restarts = (new_cron, new_zone, new_at) != was
        if schedule.enabled and (not enabled or restarts):
            schedule.periods[-1].end = now
        if enabled and (not schedule.enabled or restarts):
            schedule.periods.append(
                Period(now, None, new_cron, new_zone, schedule.dst_policy, new_at)
            )
        if enabled != schedule.enabled:
            schedule.toggles.append((now, enabled, xid))
        if "input" in changes:
            schedule.inputs.append((now, changes["input"] or {}))
        schedule.enabled, schedule.cron, schedule.timezone = enabled, new_cron, new_zone
        schedule.at = new_at

    def paused_by_runner(self, schedule: SimSchedule, at: datetime) -> None:
        """The runner paused it (its failures reached pauseAfterFailures): its period ends."""
        if schedule.enabled:
            schedule.periods[-1].end = at
        schedule.enabled = False
        schedule.runner_pauses.append(at)

    def deleted(self, schedule: SimSchedule, now: datetime) -> None:
        if schedule.enabled:
            schedule.periods[-1].end = now
        schedule.enabled = False
        schedule.deleted_at = now

    def live(self) -> list[SimSchedule]:
        return [s for s in self.schedules if s.deleted_at is None]


def _policy(dst: dict[str, str] | None) -> cron.DstPolicy:
    """A spec's dstPolicy (the API's camelCase object) as the product reads it."""
    if not dst:
        return cron.DEFAULT_DST_POLICY
    return cron.DstPolicy.of(
        {
            "spring_forward": dst.get("springForward", "skip"),
            "fall_back": dst.get("fallBack", "first"),
        }
    )
