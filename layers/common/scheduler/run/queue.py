"""Runs that wait for their workflow (`buffered`), and how each is handed on to the runner.

Three kinds wait: a live fire that found its workflow busy under overlapPolicy buffer_one (at
most one per schedule), catch-up fires (the missed-fire check's), and backfill fires (the API's).
They all enter through the runner's one door (claim slot, lease, run, record), so dedupe, the
lease and fencing hold for each: the waiting row is the slot, and the runner claims it.

Handing on is an asynchronous invocation of the runner for the workflow's next waiting run
(live fires first, then catch-up, then backfill; oldest fire time first; but after a live fire's
run a waiting catch-up goes first, so live fires and catch-ups take turns and a workflow kept
busy by its live fires still catches up). The runner that
finishes a run hands on; so does whoever queues runs. Nothing is lost if a hand-on is: a
waiting row carries a time (`lease_expires_at`) after which the missed-fire check takes it as
stalled and hands it on itself. A hand-on that arrives while the workflow is busy finds the
lease held and puts the run back to wait; one that arrives twice finds it claimed: a duplicate.
Queued runs keep their order however hand-ons race (a live fire taking the lease between two
of them): one that is not the head of its workflow's queue does not run (`is_its_turn`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler.cron.timezones import iso_utc
from scheduler.errors import DomainError
from scheduler.observability import logger
from scheduler.store.queue import QueueQueries

# An asynchronous invocation of the runner with this event (scheduler.run.runner_client).
HandOn = Callable[[dict[str, Any]], None]
# How long a queued run (catch-up, backfill) may wait for its hand-on before it is taken as
# stalled: longer than a run of the runner (its timeout) with its record.
QUEUED_PATIENCE = timedelta(minutes=10)
BUFFERED_ERROR = "buffered: waiting for the running run of its workflow to end"


def runner_event(row: dict[str, Any]) -> dict[str, Any]:
    """The runner's event for a waiting run: its slot and the trigger it was queued with."""
    return {
        "scheduleId": str(row["schedule_id"]),
        "workflowId": str(row["workflow_id"]),
        "scheduledTime": iso_utc(row["scheduled_time"]),
        "attempt": "1",
        "trigger": row["trigger"],
    }


def hand_on_run(row: dict[str, Any], hand_on: HandOn) -> bool:
    """Hand this waiting run to the runner; True if it was. Never raises: a lost hand-on is
    picked up by the missed-fire check once the run's wait is over."""
    try:
        hand_on(runner_event(row))
    except DomainError:
        logger.exception("cannot hand on a waiting run; the missed-fire check will")
        return False
    logger.info("handed on a waiting run", scheduled_time=iso_utc(row["scheduled_time"]))
    return True


def hand_on_next(
    queue: QueueQueries, workflow_id: UUID, hand_on: HandOn, ended: str | None = None
) -> bool:
    """Hand the workflow's next waiting run to the runner; True if there was one and it was
    handed on. `ended`: the trigger of the run that just ended (a live fire's, `schedule`: a
    waiting catch-up takes its turn before the next live fire). Never raises (see hand_on_run)."""
    try:
        row = queue.next_buffered_run(workflow_id, catchup_first=ended == "schedule")
    except DomainError:
        logger.exception("cannot read the next waiting run; the missed-fire check will")
        return False
    return row is not None and hand_on_run(row, hand_on)


def is_its_turn(
    queue: QueueQueries,
    schedule_id: UUID,
    workflow_id: UUID,
    slot: datetime,
    hand_on: HandOn | None,
    now: datetime,
    claim_token: str | None = None,
) -> bool:
    """For a queued run (catch-up, backfill): True when it is the head of its workflow's
    queue (or nothing is queued: the claim decides). Otherwise the head goes first: handed on
    here when it waits, or already claimed by another invocation, which hands on when done.
    A slot already claimed under `claim_token` (Lambda's retry of the invocation that took its
    turn) is the head: its claim decides."""
    head = queue.queue_head(workflow_id, now, claim_token)
    if head is None or (head["schedule_id"], head["scheduled_time"]) == (schedule_id, slot):
        return True
    if head["status"] == "buffered" and hand_on is not None:
        hand_on_run(head, hand_on)
    return False
