"""A fire on an excluded date (issue #26): the claim recorded it `skipped` by the calendar that
excludes it (RunQueries.claim_run_slot), so the workflow does not run and no lease is taken.

A queued run (catch-up, backfill, or a fire that waited for its workflow) skipped here hands on
the workflow's next waiting run, as a run that ends does: nothing else would.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.observability import logger, metrics
from scheduler.run.fire import Fire, RunReport
from scheduler.run.overlap import hand_on_next
from scheduler.store.runs import CALENDAR_SKIP_REASON


def skipped_by_calendar(fire: Fire, claim: dict[str, Any]) -> RunReport:
    reason = CALENDAR_SKIP_REASON + claim["excluded_by"]
    logger.info("fire time on an excluded date: skipped", calendar=claim["excluded_by"])
    metrics.add_metric(name="RunSkippedCalendar", unit=MetricUnit.Count, value=1)
    existing = claim["existing"]
    if fire.event.trigger != "schedule" or (
        existing is not None and existing["status"] == "buffered"
    ):
        hand_on_next(fire)
    return RunReport("skipped", claim["run_id"], reason)
