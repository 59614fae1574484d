"""Run now's hand-on of one manual run to the runner (ScheduleService.run_now holds the
transaction and the Idempotency-Key around it)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING
from uuid import UUID

from scheduler.errors import Conflict
from scheduler.models.runs import RunAccepted
from scheduler.policies.owner_limits import take_request
from scheduler.store.audit import AuditContext

if TYPE_CHECKING:
    from scheduler.api.schedules import ScheduleService


def hand_manual_run_to_runner(
    service: ScheduleService, owner: UUID | None, schedule_id: UUID, audit: AuditContext
) -> RunAccepted:
    """Inside run now's transaction: the checks, the owner's rate token, the audit event, then
    the runner's invocation (whose failure rolls back the other three)."""
    row = service.queries.schedules.get_schedule(schedule_id, owner)
    if not row["enabled"]:
        raise Conflict("schedule is disabled: enable it before running it")
    now = service.clock().astimezone(UTC)
    # Counted against the workflow's owner, whoever asks (see scheduler.policies.owner_limits).
    target = (
        owner if owner is not None else service.queries.workflows.workflow_owner(row["workflow_id"])
    )
    take_request(
        service.queries.limits, target, "run_now", service.owner_limits.run_now_per_minute, now
    )
    # Millisecond precision: two clicks in one second are two runs, and a manual run does not
    # take the (schedule, scheduled time) slot of a scheduled fire, which is always at :00.000.
    scheduled_time = now.replace(microsecond=now.microsecond // 1000 * 1000)
    service.queries.audit.record(
        audit,
        "schedule",
        [row["id"]],
        "run_now",
        detail={"scheduledTime": scheduled_time.isoformat()},
    )
    service.invoke_runner(
        {
            "scheduleId": str(row["id"]),
            "workflowId": str(row["workflow_id"]),
            "scheduledTime": scheduled_time.isoformat(timespec="milliseconds")[:-6] + "Z",
            "attempt": "1",
            "trigger": "manual",
        }
    )
    return RunAccepted(
        schedule_id=row["id"],
        scheduled_time=scheduled_time,
        runs_url=f"/api/schedules/{row['id']}/runs",
    )
