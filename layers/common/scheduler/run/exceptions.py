"""What a scheduled fire does when its slot has an exception (scheduler.api.schedule_exceptions).

- `skip`: the claimed run is recorded `skipped` with the reason, at once: the workflow never
  runs and no lease is taken. The row is the slot's, so the missed-fire check never finds it
  missing and nothing catches it up; a duplicate delivery finds it and is a duplicate.
- `move`: the cron's delivery at the original time is not claimed (the claim statement refuses
  it) and is a logged no-op; the at() delivery at the new time (its event's `movedTo` is the
  move's) claims the original slot and runs as any fire: same identity, same dedupe.

Both found by the claim statement itself: no round trip of their own, one more (the skip's
record) for a skipped fire only. A backfill replays what should have run, so a skip holds for
it too (and hands on the backfill's next queued run, as a run that ends does); a run now and a
catch-up are the user's or the check's own decisions: an exception does not apply to them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.cron.timezones import iso_utc
from scheduler.observability import logger, metrics
from scheduler.run.fire import Fire, RunReport, retrying
from scheduler.run.overlap import hand_on_next

SKIPPED = "skipped by exception"


def skip_reason(note: str | None) -> str:
    return f"{SKIPPED}: {note}" if note else SKIPPED


def by_exception(fire: Fire, claim: dict[str, Any]) -> RunReport | None:
    """The report of a fire its slot's exception settles; None when the fire runs as usual."""
    action, trigger = claim.get("exception_action"), fire.event.trigger
    if action is None or trigger not in ("schedule", "backfill"):
        return None
    run_id = claim["run_id"]
    if action == "move":
        if trigger != "schedule":  # a backfill of a moved slot that never ran: runs it now
            return None
        moved_to = claim["exception_move_to"]
        if run_id is None and claim["enabled"] and fire.event.moved_to != moved_to:
            logger.info("occurrence moved: its cron delivery runs nothing", moved_to=moved_to)
            return RunReport("ignored", reason=f"moved to {iso_utc(moved_to)}")
        return None
    if run_id is None:  # disabled, outside the window, or a duplicate: as any fire
        return None
    reason = skip_reason(claim["exception_note"])
    # Before the start: a failure raises for Lambda's retry, which resumes this claim.
    retrying(
        "record skipped",
        fire.prestart_until,
        lambda: fire.queries.runs.record_skipped_run(run_id, now=fire.now(), reason=reason),
    )
    logger.info("occurrence skipped by an exception", run_id=str(run_id))
    metrics.add_metric(name="RunSkippedByException", unit=MetricUnit.Count, value=1)
    if trigger == "backfill":  # nothing else would hand on the backfill's next queued run
        hand_on_next(fire)
    return RunReport("skipped", run_id, reason)
