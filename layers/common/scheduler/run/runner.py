"""The run of one fire time: claim the slot, take the lease, runWorkflow, record, release.

Retry contract with Lambda's async invoke. Every step before the workflow starts is safe to
repeat, and is keyed by the invocation's token (its Lambda request id, the same for each retry
Lambda makes of it): a retry resumes a claim its earlier attempt made but never started, even
when that attempt never saw the claim's answer, and takes back the lease that attempt took.
Until the workflow starts, a dependency failure that in-process retries cannot get past
raises `DependencyUnavailable`, so Lambda retries the invocation. Once `run_workflow` has
started, `run_fire` never raises, and nothing runs it again: the record and the release are
retried until the invocation's deadline, and a run whose runner died is failed as abandoned
once its lease expires.

The invocation's deadline is taken at entry, so the steps' share of it accounts for the time
the claim, the lease and the start took.

Cost of a successful run beyond its steps: 3 SQL statements (claim, start, outcome) and
2 DynamoDB requests (acquire, release). A run recorded failed, or a success that ends a
streak of failures (`Run Recovered`), adds one EventBridge PutEvents (scheduler.run.alerts),
after the release: the alert never delays the record or holds the lease. The schedule's count
of consecutive failures, and the pause it may reach, are written by the outcome's statement.

The invocation's state and retries are in scheduler.run.fire; a fire that finds its workflow
busy, and the hand-on of waiting runs, in scheduler.run.overlap.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler import cron
from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.errors import DependencyUnavailable, ScheduleNotFound, WorkflowBusy
from scheduler.models.schedule_input import InvalidScheduleInput, load_input
from scheduler.observability import logger, metrics
from scheduler.run import alerts, run_alerts
from scheduler.run import exceptions as run_exceptions
from scheduler.run import queue as run_queue
from scheduler.run.calendar_skip import skipped_by_calendar
from scheduler.run.event import RunnerEvent
from scheduler.run.fire import (
    Clock,
    Deadlines,
    Fire,
    Outcome,
    RunnerQueries,
    RunReport,
    release,
    retrying,
)
from scheduler.run.lock import Lease, LeaseLock, utc_now
from scheduler.run.overlap import busy, hand_on_next, its_turn, newer_fire_unsettled
from scheduler.steps.engine import RunContext, WorkflowResult, run_workflow
from scheduler.store.db import database
from scheduler.store.run_outcome import RecordedOutcome

FENCED_ERROR = "not started: its lease's fence was not newer than the workflow's last one"


def run_fire(
    event: RunnerEvent,
    *,
    remaining_time_s: float,
    invocation_id: str | None = None,
    queries: RunnerQueries | None = None,
    lock: LeaseLock | None = None,
    now: Clock = utc_now,
    hand_on: run_queue.HandOn | None = None,
) -> RunReport:
    """Run the workflow of one fire time at most once, never overlapping another run of it.

    `invocation_id` identifies the invocation across Lambda's retries of it (the request id);
    a retry with the same id resumes what an earlier attempt left unfinished. `hand_on`
    invokes the runner for the workflow's next waiting run once this one ends (run_queue).
    """
    deadlines = Deadlines.from_remaining(remaining_time_s)  # before anything spends the time
    logger.append_keys(
        schedule_id=str(event.schedule_id),
        workflow_id=str(event.workflow_id),
        scheduled_time=iso_utc(event.scheduled_time),
        trigger=event.trigger,
        attempt=event.attempt,
    )
    settings = get_settings()
    fire = Fire(
        event=event,
        token=invocation_id or secrets.token_hex(16),
        queries=queries if queries is not None else RunnerQueries.over(database()),
        lock=lock if lock is not None else LeaseLock(clock=now),
        now=now,
        deadlines=deadlines,
        started_at=now(),
        # longer than this invocation can live, so the lease never expires under a live run
        lease_s=remaining_time_s + settings.lease_margin_s,
        # before the start, retries stop early enough to leave the steps their time
        prestart_until=min(deadlines.steps, time.monotonic() + settings.runner_retry_s),
        hand_on=hand_on,
    )
    if event.trigger in ("catchup", "backfill") and not its_turn(fire):
        return RunReport("ignored", reason="an older queued run of the workflow goes first")
    if event.trigger == "catchup" and newer_fire_unsettled(fire):
        return RunReport("ignored", reason="a newer fire of the outage is not settled yet")
    try:
        claim = _claim(fire)
    except ScheduleNotFound:
        logger.info("schedule deleted or not this workflow's: nothing to run")
        return RunReport("ignored", reason="schedule not found")
    if claim is None:
        return RunReport("ignored", reason="stale fire time")
    if claim.get("note"):
        logger.append_keys(schedule_note=claim["note"])
    # claimed as skipped: a date its calendars exclude (whatever the slot's exception says)
    if claim["run_id"] is not None and claim["run_status"] == "skipped":
        return skipped_by_calendar(fire, claim)
    by_exception = run_exceptions.by_exception(fire, claim)
    if by_exception is not None:
        return by_exception
    if claim["run_id"] is None:
        return _not_claimed(fire, claim)
    return _lease_and_start(fire, claim)


def _claim(fire: Fire) -> dict[str, Any] | None:
    """Claim the fire's slot (see RunQueries.claim_run_slot, plus `slot`); None if it is stale.

    A scheduled fire is claimed under its slot under the schedule's DST policy
    (cron.policy_fire_slot): the instant EventBridge sent, or for the second occurrence of a
    repeated autumn wall time under fallBack first, the first one, so that wall time runs once
    whichever instant it was delivered at. Under fallBack last, a delivery at the first
    occurrence stands for no slot: the second occurrence's one-time schedule runs it.
    """
    delivered = fire.event.scheduled_time
    claim = _claim_at(fire, delivered)
    if claim["run_id"] is None or fire.event.trigger != "schedule":
        return claim
    if claim["existing"] is not None and claim["existing"]["status"] == "buffered":
        return claim  # a waiting fire, handed on: its slot is the one it was claimed under
    slot = _fire_slot(claim, delivered)
    if slot == delivered:
        return claim
    _give_back(fire, claim["run_id"])
    if slot is None:
        if claim.get("run_at") is None and _is_wall_time(claim, delivered):
            logger.info("first occurrence of a repeated wall time: its second one runs it")
        else:
            logger.warning(
                "stale fire time: not a fire time of the current cron", cron=claim["cron"]
            )
        return None
    logger.info("second occurrence of a repeated wall time: claimed as its first", slot=slot)
    return _claim_at(fire, slot)


def _claim_at(fire: Fire, slot: datetime) -> dict[str, Any]:
    event = fire.event
    claim = retrying(
        "claim",
        fire.prestart_until,
        lambda: fire.queries.runs.claim_run_slot(
            event.schedule_id,
            event.workflow_id,
            slot,
            trigger=event.trigger,
            attempt=event.attempt,
            claim_token=fire.token,
            started_at=fire.started_at,
            lease_expires_at=fire.started_at + timedelta(seconds=fire.lease_s),
            moved_to=event.moved_to,
        ),
    )
    return {**claim, "slot": slot}


def _lease_and_start(fire: Fire, claim: dict[str, Any]) -> RunReport:
    """Take the workflow's lease and mark the claimed run started; then run it."""
    event, runs, lock, token = fire.event, fire.queries.runs, fire.lock, fire.token
    run_id: UUID = claim["run_id"]
    logger.append_keys(run_id=str(run_id))
    if claim["existing"] is not None:
        logger.info("resuming the claim an earlier attempt of this fire left unstarted")
    # A failure from here to the start leaves the claim for Lambda's retry to resume.
    try:
        lease = retrying(
            "lease acquire",
            fire.prestart_until,
            lambda: lock.acquire(event.workflow_id, fire.lease_s, owner=token),
        )
    except WorkflowBusy:
        return busy(fire, claim, run_id)
    except DependencyUnavailable:
        logger.exception("cannot take the workflow lease: the fire will be retried")
        raise
    try:
        start = retrying(
            "start",
            fire.prestart_until,
            lambda: runs.start_run(
                run_id,
                event.workflow_id,
                claim_token=token,
                fence=lease.fence,
                lease_expires_at=lease.expires_at,
                now=fire.now(),
                fenced_error=FENCED_ERROR,
            ),
        )
    except DependencyUnavailable:
        logger.exception("cannot mark the run started: the fire will be retried")
        release(fire, lease)
        raise
    abandoned: list[dict[str, Any]] = start["abandoned_runs"]
    if abandoned:
        logger.warning("failed abandoned runs of this workflow", count=len(abandoned))
    if not start["claimed"]:
        logger.info("another delivery of this fire took over the claim: nothing to run")
        if start["run_token"] != token:  # else that delivery shares (and uses) this lease
            release(fire, lease)
        return RunReport("duplicate", run_id)
    if not start["started"]:
        logger.error("lease fence rejected by the database: run not started")
        release(fire, lease)
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        _alert_failed(fire, claim, run_id, FENCED_ERROR)
        hand_on_next(fire)
        return RunReport("failed", run_id, FENCED_ERROR)
    if event.trigger == "schedule":
        due = event.moved_to or event.scheduled_time  # a moved occurrence is due at its new time
        lateness = max((fire.started_at - due).total_seconds(), 0.0)
        metrics.add_metric(name="RunStartLateness", unit=MetricUnit.Seconds, value=lateness)
    return _run_and_record(fire, lease, claim, run_id, abandoned)


def _run_and_record(
    fire: Fire,
    lease: Lease,
    claim: dict[str, Any],
    run_id: UUID,
    abandoned: list[dict[str, Any]],
) -> RunReport:
    """From here on nothing raises: a retry would be a duplicate, never a second run.
    `abandoned`: the runs of the workflow the start failed, alerted with this run's outcome."""
    event = fire.event
    try:
        # read with the claim (one source of truth: a PATCH applies from the next fire on)
        schedule_input = load_input(claim["input_json"])
        context = RunContext(
            run_id=run_id,
            schedule_id=event.schedule_id,
            workflow_id=event.workflow_id,
            scheduled_time=claim["slot"],
            trigger=event.trigger,
            attempt=event.attempt,
            deadline=fire.deadlines.steps,
            input=schedule_input,
            external_id=claim["external_id"],
        )
        workflow = {"id": event.workflow_id, "definition": claim["definition_json"]}
        result = run_workflow(workflow, context)
    except InvalidScheduleInput as exc:  # the database's CHECK keeps these out; not trusted
        result = WorkflowResult(status="failed", error=str(exc))
    except Exception as exc:  # run_workflow catches everything; this is the last line
        logger.exception("runWorkflow crashed")
        result = WorkflowResult(status="failed", error=f"internal error: {type(exc).__name__}")
    if result.status == "failed":
        logger.warning("workflow run failed", error=result.error, critical=result.critical)
    disabled_reason = f"disabled by the runner: {result.error}" if result.critical else None
    outcome, record = _record(
        fire,
        run_id,
        status=result.status,
        fence=lease.fence,
        error=result.error,
        output=result.output(),
        disabled_reason=disabled_reason,
        failures_at_claim=claim.get("consecutive_failures"),
    )
    release(fire, lease)
    hand_on_next(fire)
    metric = "RunSucceeded" if outcome == "succeeded" else "RunFailed"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info("run finished", outcome=outcome)
    events = run_alerts.abandoned_alerts(fire, claim, abandoned)
    if record is not None and outcome == "failed":
        events += run_alerts.failed_alerts(fire, claim, run_id, result.error, disabled_reason)
    if record is not None:
        # A pause (or a critical error's disable) is in the audit log already: the record's
        # own statement wrote it (scheduler.store.run_outcome).
        events += run_alerts.failure_count_alerts(fire, claim, run_id, record)
    alerts.publish(events, time_left_s=fire.deadlines.end - time.monotonic())
    return RunReport(outcome, run_id, result.error)


def _record(
    fire: Fire, run_id: UUID, *, status: Literal["succeeded", "failed"], **fields: Any
) -> tuple[Outcome, RecordedOutcome | None]:
    """Record the outcome, retrying until the record's deadline; never raises. The record with
    it when the run row holds it now (None: not written, or the run was deleted meanwhile)."""
    try:
        written = retrying(
            "record",
            fire.deadlines.record,
            lambda: fire.queries.runs.record_run_outcome(
                run_id,
                schedule_id=fire.event.schedule_id,
                workflow_id=fire.event.workflow_id,
                status=status,
                started_at=fire.started_at,
                finished_at=fire.now(),
                **fields,
            ),
        )
    except Exception:  # the run is failed as abandoned once its lease expires
        logger.exception("cannot record the run's result")
        return "unrecorded", None
    if written.result == "superseded":
        logger.error("result rejected: the lease was lost and a newer run took over")
        return "unrecorded", None
    if written.result == "gone":
        logger.warning("schedule deleted during the run: its workflow's state was recorded")
    return status, written if written.result == "recorded" else None


def _alert_failed(fire: Fire, claim: dict[str, Any], run_id: UUID, error: str | None) -> None:
    """Publish the failure this invocation recorded (never raises)."""
    events = run_alerts.failed_alerts(fire, claim, run_id, error)
    alerts.publish(events, time_left_s=fire.deadlines.end - time.monotonic())


def _not_claimed(fire: Fire, claim: dict[str, Any]) -> RunReport:
    """The slot was not claimed: the schedule is disabled, the fire is outside its window, or
    the slot's run is held or done."""
    if not claim["enabled"]:
        logger.info("schedule disabled: nothing to run")
        return RunReport("ignored", reason="schedule disabled")
    if not claim["in_window"]:
        # EventBridge honours the dates, but a late redelivery or a reconcile lag may not
        logger.info("fire time outside the schedule's startAt/endAt: nothing to run")
        return RunReport("ignored", reason="outside the schedule's window")
    logger.info("duplicate delivery of a claimed fire time: nothing to run")
    metrics.add_metric(name="RunDuplicate", unit=MetricUnit.Count, value=1)
    existing = claim["existing"]
    if existing is None or existing["claim_token"] != fire.token:
        return RunReport("duplicate")
    run_id = UUID(existing["id"])
    if existing["status"] != "running":
        # A retry of the invocation that ran this fire: its attempt may have died between the
        # record and the release, so free what it may still hold (a no-op otherwise).
        lease = Lease(fire.event.workflow_id, fire.token, existing["fence"] or 0, fire.now())
        release(fire, lease)
    # Still running under this token: that attempt may be executing the steps, or have died
    # doing so; either way nothing runs again, and the run is failed once its lease expires.
    return RunReport("duplicate", run_id)


def _fire_slot(claim: dict[str, Any], scheduled_time: datetime) -> datetime | None:
    """The slot a delivery stands for: a cron's fire slot, or a one-time schedule's `at`."""
    try:
        if claim.get("run_at") is not None:
            return cron.at_slot(claim["run_at"], claim["timezone"], scheduled_time)
        policy = cron.DstPolicy.of(claim.get("dst_policy"))
        return cron.policy_fire_slot(claim["cron"], claim["timezone"], scheduled_time, policy)
    except ValueError:
        logger.exception("stored cron or timezone is invalid", cron=claim["cron"])
        return None


def _is_wall_time(claim: dict[str, Any], delivered: datetime) -> bool:
    """Whether a delivery that stands for no slot is a wall time of the cron all the same (the
    first occurrence of a repeated one under fallBack last), not a stale fire time."""
    try:
        return cron.is_fire_time(claim["cron"], claim["timezone"], delivered)
    except ValueError:
        return False


def _give_back(fire: Fire, run_id: UUID) -> None:
    """Delete a claim that will not start here (stale, or re-claimed under its slot). If it
    cannot be deleted, the invocation raises for Lambda's retry, which resumes the claim and
    deletes it: a claim left to expire would be settled as a missed slot, and caught up."""
    try:
        retrying(
            "give back", fire.prestart_until, lambda: fire.queries.runs.unclaim_run_slot(run_id)
        )
    except DependencyUnavailable:
        logger.exception("cannot give back the claimed slot: the fire will be retried")
        raise
