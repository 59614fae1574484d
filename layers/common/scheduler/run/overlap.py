"""A fire that finds its workflow running (overlapPolicy), and the runs waiting for it.

Skipped, or under buffer_one kept waiting (`buffered`, at most one per schedule); queued runs
(catch-up, backfill) wait again and keep their order (scheduler.run.queue). The run that ends
hands on the workflow's next waiting run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.errors import DependencyUnavailable
from scheduler.observability import logger, metrics
from scheduler.run import queue as run_queue
from scheduler.run.fire import Fire, RunReport, retrying

OVERLAP_REASON = "skipped: another run of the workflow was still running"


def busy(fire: Fire, claim: dict[str, Any], run_id: UUID) -> RunReport:
    """The workflow is running: a waiting run waits again, a fire under buffer_one waits if
    none waits already; anything else is skipped. A run that waits is handed on by the
    running one when it ends, or here if that one ended meanwhile (it found none waiting)."""
    existing = claim["existing"]
    requeue = (existing is not None and existing["status"] == "buffered") or (
        fire.event.trigger in ("catchup", "backfill")
    )
    if requeue or claim.get("overlap_policy") == "buffer_one":
        try:
            waits = retrying(
                "buffer",
                fire.deadlines.record,
                lambda: fire.queries.queue.buffer_busy_run(
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
                hand_on_next(fire)
            return RunReport("buffered", run_id, run_queue.BUFFERED_ERROR)
    return _skip_overlap(fire, run_id)


def _lease_is_free(fire: Fire) -> bool:
    """Whether the workflow's lease is free now (LeaseLock.is_free). A live holder, or one
    that died holding it, answers no: the holder hands on when it ends, the missed-fire check
    once the wait is over."""
    try:
        return fire.lock.is_free(fire.event.workflow_id)
    except DependencyUnavailable:
        return False


def its_turn(fire: Fire) -> bool:
    """Queued runs run in order (run_queue.is_its_turn); a failing database lets it try."""
    event = fire.event
    try:
        return run_queue.is_its_turn(
            fire.queries.queue,
            event.schedule_id,
            event.workflow_id,
            event.scheduled_time,
            fire.hand_on,
            fire.now(),
            claim_token=fire.token,
        )
    except DependencyUnavailable:
        logger.warning("cannot read the workflow's queue: the claim decides")
        return True


def hand_on_next(fire: Fire) -> None:
    if fire.hand_on is None:
        return
    try:
        run_queue.hand_on_next(
            fire.queries.queue, fire.event.workflow_id, fire.hand_on, ended=fire.event.trigger
        )
    except Exception:  # after the record: never the run's failure
        logger.exception("cannot hand on the next waiting run; the missed-fire check will")


def _skip_overlap(fire: Fire, run_id: UUID) -> RunReport:
    logger.info("workflow busy: run skipped (overlap)")
    metrics.add_metric(name="RunSkippedOverlap", unit=MetricUnit.Count, value=1)
    try:
        retrying(
            "record skipped",
            fire.deadlines.record,
            lambda: fire.queries.runs.record_skipped_run(
                run_id, now=fire.now(), reason=OVERLAP_REASON
            ),
        )
    except DependencyUnavailable:
        # A retry would be a duplicate; the claimed row is failed once its lease expires.
        logger.exception("cannot record the skipped run")
    return RunReport("skipped", run_id, OVERLAP_REASON)


def newer_fire_unsettled(fire: Fire) -> bool:
    """A catch-up of a `latest` schedule waits while a newer fire of the same outage is claimed
    and not started: if that one is missed too, the sweep catches it up instead and records
    this one superseded; if it runs, its hand-on brings this one back (and the missed-fire
    check's rescue, should that be lost). A failing database lets it go on."""
    try:
        return fire.queries.queue.newer_fire_unsettled(
            fire.event.schedule_id, fire.event.scheduled_time
        )
    except DependencyUnavailable:
        logger.warning("cannot read the schedule's newer fires: the catch-up goes on")
        return False
