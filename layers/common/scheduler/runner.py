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
2 DynamoDB requests (acquire, release). A run recorded failed adds one EventBridge PutEvents
(scheduler.alerts), after the release: the alert never delays the record or holds the lease.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler import alerts, clients, cron, run_queue
from scheduler.config import get_settings
from scheduler.errors import DependencyUnavailable, ScheduleNotFound, WorkflowBusy
from scheduler.lock import Lease, LeaseLock, utc_now
from scheduler.observability import logger, metrics
from scheduler.runner_event import RunnerEvent
from scheduler.store import Store
from scheduler.timezones import iso_utc
from scheduler.workflows import RunContext, WorkflowResult, run_workflow

Clock = Callable[[], datetime]
Outcome = Literal[
    "succeeded", "failed", "skipped", "buffered", "duplicate", "ignored", "unrecorded"
]

# Seconds of the invocation kept back from the steps to record the outcome and release the
# lease (at most a quarter of what is left).
RECORDING_RESERVE_S = 10
# Of that reserve, what the release keeps for itself after the record's retries (at most half).
RELEASE_RESERVE_S = 1.0
# How long the lease is taken to find it free (_lease_is_free): given back at once, and short
# should the runner die before it is.
PROBE_LEASE_S = 10
OVERLAP_REASON = "skipped: another run of the workflow was still running"
FENCED_ERROR = "not started: its lease's fence was not newer than the workflow's last one"


@dataclass(frozen=True)
class _Deadlines:
    """One invocation's time, as time.monotonic() instants fixed at its entry."""

    end: float  # when Lambda ends the invocation
    steps: float  # the steps must be done by then: the rest is kept to record and release
    record: float  # the record's retries stop here, leaving the release a moment

    @classmethod
    def from_remaining(cls, remaining_s: float) -> _Deadlines:
        end = time.monotonic() + remaining_s
        reserve = min(RECORDING_RESERVE_S, remaining_s / 4)
        return cls(end, end - reserve, end - min(RELEASE_RESERVE_S, reserve / 2))


@dataclass(frozen=True)
class RunReport:
    outcome: Outcome
    run_id: UUID | None = None
    reason: str | None = None


def run_fire(
    event: RunnerEvent,
    *,
    remaining_time_s: float,
    invocation_id: str | None = None,
    store: Store | None = None,
    lock: LeaseLock | None = None,
    now: Clock = utc_now,
    hand_on: run_queue.HandOn | None = None,
) -> RunReport:
    """Run the workflow of one fire time at most once, never overlapping another run of it.

    `invocation_id` identifies the invocation across Lambda's retries of it (the request id);
    a retry with the same id resumes what an earlier attempt left unfinished. `hand_on`
    invokes the runner for the workflow's next waiting run once this one ends (run_queue).
    """
    deadlines = _Deadlines.from_remaining(remaining_time_s)  # before anything spends the time
    logger.append_keys(
        schedule_id=str(event.schedule_id),
        workflow_id=str(event.workflow_id),
        scheduled_time=iso_utc(event.scheduled_time),
        trigger=event.trigger,
        attempt=event.attempt,
    )
    settings = get_settings()
    fire = _Fire(
        event=event,
        token=invocation_id or secrets.token_hex(16),
        store=store if store is not None else clients.store(),
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
    if event.trigger in ("catchup", "backfill") and not _its_turn(fire):
        return RunReport("ignored", reason="an older queued run of the workflow goes first")
    try:
        claim = _claim(fire)
    except ScheduleNotFound:
        logger.info("schedule deleted or not this workflow's: nothing to run")
        return RunReport("ignored", reason="schedule not found")
    if claim is None:
        return RunReport("ignored", reason="stale fire time")
    if claim.get("note"):
        logger.append_keys(schedule_note=claim["note"])
    if claim["run_id"] is None:
        return _not_claimed(fire, claim)
    return _lease_and_start(fire, claim)


@dataclass(frozen=True)
class _Fire:
    """One invocation of the runner: its fire, its token, its dependencies and its time."""

    event: RunnerEvent
    token: str
    store: Store
    lock: LeaseLock
    now: Clock
    deadlines: _Deadlines
    started_at: datetime
    lease_s: float
    prestart_until: float
    hand_on: run_queue.HandOn | None


def _claim(fire: _Fire) -> dict[str, Any] | None:
    """Claim the fire's slot (see Store.claim_run_slot, plus `slot`); None if it is stale.

    A scheduled fire is claimed under its slot: the instant EventBridge sent, or for the second
    occurrence of a repeated autumn wall time, the first one (cron.fire_slot), so that wall
    time runs once whichever instant it was delivered at.
    """
    delivered = fire.event.scheduled_time
    claim = _claim_at(fire, delivered)
    if claim["run_id"] is None or fire.event.trigger != "schedule":
        return claim
    slot = _fire_slot(claim, delivered)
    if slot == delivered:
        return claim
    _give_back(fire.store, claim["run_id"])
    if slot is None:
        logger.warning("stale fire time: not a fire time of the current cron", cron=claim["cron"])
        return None
    logger.info("second occurrence of a repeated wall time: claimed as its first", slot=slot)
    return _claim_at(fire, slot)


def _claim_at(fire: _Fire, slot: datetime) -> dict[str, Any]:
    event = fire.event
    claim = _retrying(
        "claim",
        fire.prestart_until,
        lambda: fire.store.claim_run_slot(
            event.schedule_id,
            event.workflow_id,
            slot,
            trigger=event.trigger,
            attempt=event.attempt,
            claim_token=fire.token,
            started_at=fire.started_at,
            lease_expires_at=fire.started_at + timedelta(seconds=fire.lease_s),
        ),
    )
    return {**claim, "slot": slot}


def _lease_and_start(fire: _Fire, claim: dict[str, Any]) -> RunReport:
    """Take the workflow's lease and mark the claimed run started; then run it."""
    event, store, lock, token = fire.event, fire.store, fire.lock, fire.token
    run_id: UUID = claim["run_id"]
    logger.append_keys(run_id=str(run_id))
    if claim["existing"] is not None:
        logger.info("resuming the claim an earlier attempt of this fire left unstarted")
    # A failure from here to the start leaves the claim for Lambda's retry to resume.
    try:
        lease = _retrying(
            "lease acquire",
            fire.prestart_until,
            lambda: lock.acquire(event.workflow_id, fire.lease_s, owner=token),
        )
    except WorkflowBusy:
        return _busy(fire, claim, run_id)
    except DependencyUnavailable:
        logger.exception("cannot take the workflow lease: the fire will be retried")
        raise
    try:
        start = _retrying(
            "start",
            fire.prestart_until,
            lambda: store.start_run(
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
        _release(fire, lease)
        raise
    if start["abandoned_runs"]:
        logger.warning("failed abandoned runs of this workflow", count=start["abandoned_runs"])
    if not start["claimed"]:
        logger.info("another delivery of this fire took over the claim: nothing to run")
        if start["run_token"] != token:  # else that delivery shares (and uses) this lease
            _release(fire, lease)
        return RunReport("duplicate", run_id)
    if not start["started"]:
        logger.error("lease fence rejected by the database: run not started")
        _release(fire, lease)
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        _alert_failed(fire, claim, run_id, FENCED_ERROR)
        return RunReport("failed", run_id, FENCED_ERROR)
    if event.trigger == "schedule":
        lateness = max((fire.started_at - event.scheduled_time).total_seconds(), 0.0)
        metrics.add_metric(name="RunStartLateness", unit=MetricUnit.Seconds, value=lateness)
    return _run_and_record(fire, lease, claim, run_id)


def _run_and_record(fire: _Fire, lease: Lease, claim: dict[str, Any], run_id: UUID) -> RunReport:
    """From here on nothing raises: a retry would be a duplicate, never a second run."""
    event = fire.event
    context = RunContext(
        run_id=run_id,
        schedule_id=event.schedule_id,
        workflow_id=event.workflow_id,
        scheduled_time=claim["slot"],
        trigger=event.trigger,
        attempt=event.attempt,
        deadline=fire.deadlines.steps,
    )
    try:
        workflow = {"id": event.workflow_id, "definition": claim["definition_json"]}
        result = run_workflow(workflow, context)
    except Exception as exc:  # run_workflow catches everything; this is the last line
        logger.exception("runWorkflow crashed")
        result = WorkflowResult(status="failed", error=f"internal error: {type(exc).__name__}")
    if result.status == "failed":
        logger.warning("workflow run failed", error=result.error, critical=result.critical)
    disabled_reason = f"disabled by the runner: {result.error}" if result.critical else None
    outcome, recorded = _record(
        fire,
        run_id,
        status=result.status,
        fence=lease.fence,
        error=result.error,
        output=result.output(),
        disabled_reason=disabled_reason,
    )
    _release(fire, lease)
    _hand_on_next(fire)
    metric = "RunSucceeded" if outcome == "succeeded" else "RunFailed"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    logger.info("run finished", outcome=outcome)
    if recorded and outcome == "failed":
        _alert_failed(fire, claim, run_id, result.error, disabled_reason)
    return RunReport(outcome, run_id, result.error)


def _record(
    fire: _Fire, run_id: UUID, *, status: Literal["succeeded", "failed"], **fields: Any
) -> tuple[Outcome, bool]:
    """Record the outcome, retrying until the record's deadline; never raises. True with it
    when the run row holds it now (False: not written, or the run was deleted meanwhile)."""
    try:
        written = _retrying(
            "record",
            fire.deadlines.record,
            lambda: fire.store.record_run_outcome(
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
        return "unrecorded", False
    if written == "superseded":
        logger.error("result rejected: the lease was lost and a newer run took over")
        return "unrecorded", False
    if written == "gone":
        logger.warning("schedule deleted during the run: its workflow's state was recorded")
    return status, written == "recorded"


def _alert_failed(
    fire: _Fire,
    claim: dict[str, Any],
    run_id: UUID,
    error: str | None,
    disabled_reason: str | None = None,
) -> None:
    """Publish the failure this invocation recorded (never raises); a redelivery of the fire
    finds the slot done and never gets here, so each failed run is alerted once."""
    run = alerts.RunRef(
        run_id=run_id,
        schedule_id=fire.event.schedule_id,
        workflow_id=fire.event.workflow_id,
        scheduled_time=claim["slot"],
        trigger=fire.event.trigger,
        attempt=fire.event.attempt,
        owner_id=claim.get("owner_id"),
        workflow_name=claim.get("workflow_name"),
    )
    events = alerts.run_failed(run, error, occurred_at=fire.now(), disabled_reason=disabled_reason)
    alerts.publish(events, time_left_s=fire.deadlines.end - time.monotonic())


def _not_claimed(fire: _Fire, claim: dict[str, Any]) -> RunReport:
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
        _release(fire, lease)
    # Still running under this token: that attempt may be executing the steps, or have died
    # doing so; either way nothing runs again, and the run is failed once its lease expires.
    return RunReport("duplicate", run_id)


def _retrying[T](what: str, until: float, call: Callable[[], T]) -> T:
    """`call()`, repeated with jittered backoff on DependencyUnavailable until `until`
    (time.monotonic()); only for calls that are safe to repeat."""
    delay = 0.05
    while True:
        try:
            return call()
        except DependencyUnavailable as exc:
            if time.monotonic() + delay >= until:
                raise
            logger.warning(f"{what} failed; retrying", error=str(exc))
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 2.0)


def _release(fire: _Fire, lease: Lease) -> None:
    """Free the lease, retrying for a while; never raises (it expires on its own)."""
    until = min(fire.deadlines.end, time.monotonic() + get_settings().runner_retry_s)
    try:
        _retrying("lease release", until, lambda: fire.lock.release(lease))
    except Exception:
        logger.exception("cannot release the workflow lease; it expires on its own")


def _fire_slot(claim: dict[str, Any], scheduled_time: datetime) -> datetime | None:
    try:
        return cron.fire_slot(claim["cron"], claim["timezone"], scheduled_time)
    except ValueError:
        logger.exception("stored cron or timezone is invalid", cron=claim["cron"])
        return None


def _busy(fire: _Fire, claim: dict[str, Any], run_id: UUID) -> RunReport:
    """The workflow is running: a waiting run waits again, a fire under buffer_one waits if
    none waits already; anything else is skipped. A run that waits is handed on by the
    running one when it ends, or here if that one ended meanwhile (it found none waiting)."""
    existing = claim["existing"]
    requeue = (existing is not None and existing["status"] == "buffered") or (
        fire.event.trigger in ("catchup", "backfill")
    )
    if requeue or claim.get("overlap_policy") == "buffer_one":
        try:
            waits = _retrying(
                "buffer",
                fire.deadlines.record,
                lambda: fire.store.buffer_busy_run(
                    run_id,
                    requeue=requeue,
                    now=fire.now(),
                    wait_until=fire.now() + timedelta(seconds=fire.lease_s),
                    error=run_queue.BUFFERED_ERROR,
                ),
            )
        except DependencyUnavailable:
            # A retry resumes the claim (or the claim's lease expiry fails it as abandoned)
            logger.exception("cannot put the run to wait: the fire will be retried")
            raise
        if waits:
            logger.info("workflow busy: run buffered until the running one ends")
            metrics.add_metric(name="RunBuffered", unit=MetricUnit.Count, value=1)
            if _lease_is_free(fire):  # the holder ended before the run waited: it saw none
                _hand_on_next(fire)
            return RunReport("buffered", run_id, run_queue.BUFFERED_ERROR)
    return _skip_overlap(fire, run_id)


def _lease_is_free(fire: _Fire) -> bool:
    """Whether the workflow's lease is free now, found by taking it for a moment (the runner
    may only write the lock table) and giving it back. A live holder, or one that died holding
    it, answers no: the holder hands on when it ends, the missed-fire check once it expired."""
    try:
        lease = fire.lock.acquire(fire.event.workflow_id, PROBE_LEASE_S, owner=fire.token)
    except (WorkflowBusy, DependencyUnavailable):
        return False
    _release(fire, lease)
    return True


def _its_turn(fire: _Fire) -> bool:
    """Queued runs run in order (run_queue.is_its_turn); a failing database lets it try."""
    event = fire.event
    try:
        return run_queue.is_its_turn(
            fire.store,
            event.schedule_id,
            event.workflow_id,
            event.scheduled_time,
            fire.hand_on,
            fire.now(),
        )
    except DependencyUnavailable:
        logger.warning("cannot read the workflow's queue: the claim decides")
        return True


def _hand_on_next(fire: _Fire) -> None:
    if fire.hand_on is None:
        return
    try:
        run_queue.hand_on_next(fire.store, fire.event.workflow_id, fire.hand_on)
    except Exception:  # after the record: never the run's failure
        logger.exception("cannot hand on the next waiting run; the missed-fire check will")


def _skip_overlap(fire: _Fire, run_id: UUID) -> RunReport:
    logger.info("workflow busy: run skipped (overlap)")
    metrics.add_metric(name="RunSkippedOverlap", unit=MetricUnit.Count, value=1)
    try:
        _retrying(
            "record skipped",
            fire.deadlines.record,
            lambda: fire.store.record_skipped_run(run_id, now=fire.now(), reason=OVERLAP_REASON),
        )
    except DependencyUnavailable:
        # A retry would be a duplicate; the claimed row is failed once its lease expires.
        logger.exception("cannot record the skipped run")
    return RunReport("skipped", run_id, OVERLAP_REASON)


def _give_back(store: Store, run_id: UUID) -> None:
    """Delete a claim that will not start here (stale, or re-claimed under its slot)."""
    try:
        store.unclaim_run_slot(run_id)
    except DependencyUnavailable:
        logger.exception("cannot give back the claimed slot; it is failed once its lease expires")
