"""The run of one fire time: claim the slot, take the lease, runWorkflow, record, release.

Retry contract with Lambda's async invoke: until the slot claim commits, and when a dependency
fails before the workflow starts (the claim is then given back), `run_fire` raises
`DependencyUnavailable` so the invocation is retried. Once `run_workflow` has started it never
raises: a failure to record is logged, and the run is failed as abandoned once its lease expires.

Cost of a successful run beyond its steps: 3 SQL statements (claim, start, outcome) and
2 DynamoDB requests (acquire, release).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler import clients, cron
from scheduler.config import get_settings
from scheduler.errors import (
    DependencyUnavailable,
    ScheduleNotFound,
    SlotAlreadyClaimed,
    WorkflowBusy,
)
from scheduler.lock import Lease, LeaseLock, utc_now
from scheduler.observability import logger, metrics
from scheduler.store import Store
from scheduler.workflows import RunContext, WorkflowResult, iso_utc, run_workflow

Clock = Callable[[], datetime]
Outcome = Literal["succeeded", "failed", "skipped", "duplicate", "ignored", "unrecorded"]

# Seconds of the invocation kept back from the steps to record the outcome and release the
# lease (at most a quarter of what is left).
RECORDING_RESERVE_S = 10
OVERLAP_REASON = "skipped: another run of the workflow was still running"
FENCED_ERROR = "not started: a newer lease already ran this workflow (clock skew?)"


class RunnerEvent(BaseModel):
    """EventBridge Scheduler's target Input, or the API's run-now payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schedule_id: UUID = Field(alias="scheduleId")
    workflow_id: UUID = Field(alias="workflowId")
    scheduled_time: datetime = Field(alias="scheduledTime")
    # EventBridge substitutes <aws.scheduler.attempt-number> as a string
    attempt: int = Field(default=1, ge=1, le=1000)
    trigger: Literal["schedule", "manual"] = "schedule"

    @field_validator("scheduled_time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("scheduledTime needs a UTC offset, e.g. 2026-11-27T07:00:00Z")
        return value.astimezone(UTC)


def parse_event(event: Any) -> RunnerEvent | None:
    """The validated event, or None (logged) when it is malformed: no retry can fix it."""
    try:
        return RunnerEvent.model_validate(event)
    except ValidationError as exc:
        logger.error(
            "malformed runner event dropped",
            errors=exc.errors(include_url=False, include_input=False),
        )
        metrics.add_metric(name="RunEventMalformed", unit=MetricUnit.Count, value=1)
        return None


@dataclass(frozen=True)
class RunReport:
    outcome: Outcome
    run_id: UUID | None = None
    reason: str | None = None


def run_fire(
    event: RunnerEvent,
    *,
    remaining_time_s: float,
    store: Store | None = None,
    lock: LeaseLock | None = None,
    now: Clock = utc_now,
) -> RunReport:
    """Run the workflow of one fire time at most once, never overlapping another run of it."""
    store = store if store is not None else clients.store()
    logger.append_keys(
        schedule_id=str(event.schedule_id),
        workflow_id=str(event.workflow_id),
        scheduled_time=iso_utc(event.scheduled_time),
        trigger=event.trigger,
        attempt=event.attempt,
    )
    started_at = now()
    # Longer than this invocation can live, so the lease never expires under a live run.
    lease_s = remaining_time_s + get_settings().lease_margin_s
    try:
        claim = store.claim_run_slot(
            event.schedule_id,
            event.workflow_id,
            event.scheduled_time,
            trigger=event.trigger,
            attempt=event.attempt,
            started_at=started_at,
            lease_expires_at=started_at + timedelta(seconds=lease_s),
        )
    except ScheduleNotFound:
        logger.info("schedule deleted or not this workflow's: nothing to run")
        return RunReport("ignored", reason="schedule not found")
    except SlotAlreadyClaimed:
        logger.info("duplicate delivery of a claimed fire time: nothing to run")
        metrics.add_metric(name="RunDuplicate", unit=MetricUnit.Count, value=1)
        return RunReport("duplicate")
    if claim["run_id"] is None:
        logger.info("schedule disabled: nothing to run")
        return RunReport("ignored", reason="schedule disabled")
    run_id: UUID = claim["run_id"]
    logger.append_keys(run_id=str(run_id))
    if event.trigger == "schedule" and not _is_current_fire_time(claim, event.scheduled_time):
        logger.warning("stale fire time: not a fire time of the current cron", cron=claim["cron"])
        _give_back(store, run_id)
        return RunReport("ignored", reason="stale fire time")

    lock = lock if lock is not None else LeaseLock(clock=now)
    try:
        lease = lock.acquire(event.workflow_id, lease_s)
    except WorkflowBusy:
        return _skip_overlap(store, run_id, now)
    except DependencyUnavailable:
        logger.exception("cannot take the workflow lease: the fire will be retried")
        _give_back(store, run_id)
        raise
    try:
        start = store.start_run(
            run_id,
            event.workflow_id,
            fence=lease.fence,
            lease_expires_at=lease.expires_at,
            now=now(),
            fenced_error=FENCED_ERROR,
        )
    except DependencyUnavailable:
        logger.exception("cannot mark the run started: the fire will be retried")
        lock.release(lease)
        _give_back(store, run_id)
        raise
    if start["abandoned_runs"]:
        logger.warning("failed abandoned runs of this workflow", count=start["abandoned_runs"])
    if not start["started"]:
        logger.error("lease fence rejected by the database: run not started")
        lock.release(lease)
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        return RunReport("failed", run_id, FENCED_ERROR)
    if event.trigger == "schedule":
        lateness = max((started_at - event.scheduled_time).total_seconds(), 0.0)
        metrics.add_metric(name="RunStartLateness", unit=MetricUnit.Seconds, value=lateness)
    reserve = min(RECORDING_RESERVE_S, remaining_time_s / 4)
    deadline = time.monotonic() + remaining_time_s - reserve
    return _run_and_record(store, lock, lease, claim, event, run_id, started_at, now, deadline)


def _run_and_record(
    store: Store,
    lock: LeaseLock,
    lease: Lease,
    claim: dict[str, Any],
    event: RunnerEvent,
    run_id: UUID,
    started_at: datetime,
    now: Clock,
    deadline: float,
) -> RunReport:
    """From here on nothing raises: a retry would be a duplicate, never a second run."""
    context = RunContext(
        run_id=run_id,
        schedule_id=event.schedule_id,
        workflow_id=event.workflow_id,
        scheduled_time=event.scheduled_time,
        trigger=event.trigger,
        attempt=event.attempt,
        deadline=deadline,
    )
    try:
        result = run_workflow({"id": event.workflow_id, "definition": claim["definition"]}, context)
    except Exception as exc:  # run_workflow catches everything; this is the last line
        logger.exception("runWorkflow crashed")
        result = WorkflowResult(status="failed", error=f"internal error: {type(exc).__name__}")
    if result.status == "failed":
        logger.warning("workflow run failed", error=result.error, critical=result.critical)
    disabled_reason = f"disabled by the runner: {result.error}" if result.critical else None
    outcome: Outcome = result.status
    try:
        recorded = store.record_run_outcome(
            run_id,
            schedule_id=event.schedule_id,
            workflow_id=event.workflow_id,
            fence=lease.fence,
            status=result.status,
            error=result.error,
            output=result.output(),
            started_at=started_at,
            finished_at=now(),
            disabled_reason=disabled_reason,
        )
        if not recorded:
            logger.error("result rejected: the lease was lost and a newer run took over")
            outcome = "unrecorded"
    except Exception:  # the run is failed as abandoned once its lease expires
        logger.exception("cannot record the run's result")
        outcome = "unrecorded"
    try:
        lock.release(lease)
    except Exception:  # release already logs its own failures; this guards the contract
        logger.exception("lease release crashed; it expires on its own")
    metric = "RunSucceeded" if outcome == "succeeded" else "RunFailed"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info("run finished", outcome=outcome)
    return RunReport(outcome, run_id, result.error)


def _is_current_fire_time(claim: dict[str, Any], scheduled_time: datetime) -> bool:
    try:
        return cron.is_fire_time(claim["cron"], claim["timezone"], scheduled_time)
    except ValueError:
        logger.exception("stored cron or timezone is invalid", cron=claim["cron"])
        return False


def _skip_overlap(store: Store, run_id: UUID, now: Clock) -> RunReport:
    logger.info("workflow busy: run skipped (overlap)")
    metrics.add_metric(name="RunSkippedOverlap", unit=MetricUnit.Count, value=1)
    try:
        store.record_skipped_run(run_id, now=now(), reason=OVERLAP_REASON)
    except DependencyUnavailable:
        # A retry would be a duplicate; the claimed row is failed once its lease expires.
        logger.exception("cannot record the skipped run")
    return RunReport("skipped", run_id, OVERLAP_REASON)


def _give_back(store: Store, run_id: UUID) -> None:
    """Delete a claim that never started, so a retry of the fire can claim it again."""
    try:
        store.unclaim_run_slot(run_id)
    except DependencyUnavailable:
        logger.exception("cannot give back the claimed slot; it is failed once its lease expires")
