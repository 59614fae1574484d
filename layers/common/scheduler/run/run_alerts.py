"""The alerts of one fire's run, built from what the runner knows of it (its fire, its claim,
what its record wrote): `Run Failed` and `Schedule Disabled` for a failure, `Schedule Paused`
and `Run Recovered` for a change of its schedule's failure count, `Run Failed` for the runs its
start failed as abandoned. The runner publishes them (scheduler.run.alerts.publish).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from scheduler.observability import logger
from scheduler.run import alerts
from scheduler.run.fire import Fire
from scheduler.store.run_outcome import RecordedOutcome


def failed_alerts(
    fire: Fire,
    claim: dict[str, Any],
    run_id: UUID,
    error: str | None,
    disabled_reason: str | None = None,
) -> list[alerts.Alert]:
    """The alerts of the failure this invocation recorded; a redelivery of the fire finds the
    slot done and never gets here, so each failed run is alerted once."""
    run = run_ref(fire, claim, run_id)
    return alerts.run_failed(run, error, occurred_at=fire.now(), disabled_reason=disabled_reason)


def run_ref(fire: Fire, claim: dict[str, Any], run_id: UUID) -> alerts.RunRef:
    return alerts.RunRef(
        run_id=run_id,
        schedule_id=fire.event.schedule_id,
        workflow_id=fire.event.workflow_id,
        scheduled_time=claim["slot"],
        trigger=fire.event.trigger,
        attempt=fire.event.attempt,
        owner_id=claim.get("owner_id"),
        workflow_name=claim.get("workflow_name"),
    )


def failure_count_alerts(
    fire: Fire, claim: dict[str, Any], run_id: UUID, record: RecordedOutcome
) -> list[alerts.Alert]:
    """`Schedule Paused` when this record's failure paused the schedule, `Run Recovered` when
    this success reset its count of consecutive failures: only the record that changed the
    count says so, so each is published once (docs/run-policies.md)."""
    if record.paused_reason is None and record.recovered_from is None:
        return []
    run = run_ref(fire, claim, run_id)
    if record.paused_reason is not None:
        return [
            alerts.schedule_paused(
                run,
                record.paused_reason,
                consecutive_failures=record.consecutive_failures or 0,
                occurred_at=fire.now(),
            )
        ]
    return [
        alerts.run_recovered(
            run, consecutive_failures=record.recovered_from or 0, occurred_at=fire.now()
        )
    ]


def abandoned_alerts(
    fire: Fire, claim: dict[str, Any], abandoned: list[dict[str, Any]]
) -> list[alerts.Alert]:
    """Run Failed for each run of this workflow the start failed as abandoned or superseded:
    only the start that failed it returns it, so it is alerted once. The workflow has run by
    now: a row that cannot be read into an alert is logged and left out, never raised (a
    raise would fail the invocation, and Lambda's retry is a duplicate)."""
    events: list[alerts.Alert] = []
    for run in abandoned:
        try:
            row = {
                **run,
                "id": UUID(run["id"]),
                "schedule_id": UUID(run["schedule_id"]),
                "workflow_id": fire.event.workflow_id,
                "scheduled_time": datetime.fromisoformat(run["scheduled_time"]),
            }
            events.append(alerts.for_run(alerts.RUN_FAILED, row, claim, fire.now()))
        except (KeyError, TypeError, ValueError):
            logger.exception("abandoned run not alerted: its row cannot be read")
    return events
