"""PUT /api/schedules/by-external-id/{externalId}: create the owner's schedule of that externalId,
or update it to exactly the body (PUT: a field the body leaves out takes its default).

The owner is the workflow's: a user's own id, and for a service caller (scope `all`) the owner of
the body's workflow (the workflows without an owner share one namespace). The externalId is unique
per owner in the database (schedules_owner_external_id_key), which settles a race: of two concurrent
PUTs that both find no schedule, one inserts it and the other's insert waits for that commit, fails
on the index (ExternalIdTaken, nothing written, no EventBridge call) and then updates the winner's
schedule. The writes themselves are ScheduleService's create and update paths (EventBridge in step
with the row, undone on failure). Idempotent: a PUT that finds the schedule as its body would make
it writes nothing, so the same PUT twice answers the same body (201, then 200).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from scheduler.api.schedules import ScheduleService
from scheduler.errors import (
    Conflict,
    ExternalIdTaken,
    InvalidInput,
    ScheduleNotFound,
    WorkflowNotFound,
)
from scheduler.models.schedule_identity import checked_external_id
from scheduler.models.schedule_views import ScheduleView
from scheduler.models.schedules import ScheduleUpsert
from scheduler.store.audit import IN_PROCESS, AuditContext
from scheduler.store.sql import Row

# A create that loses the race, then an update that finds the row deleted meanwhile, ...: each
# turn means another writer committed, so a few suffice; then the caller retries.
_ATTEMPTS = 4


def upsert_schedule(
    service: ScheduleService,
    owner: UUID | None,
    external_id: str,
    request: ScheduleUpsert,
    audit: AuditContext = IN_PROCESS,
) -> tuple[ScheduleView, bool]:
    """The schedule as the body makes it, and whether it was created (else updated or kept)."""
    try:
        checked_external_id(external_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    schedule_owner = owner if owner is not None else _workflow_owner(service, request.workflow_id)
    desired = request.columns()
    for _ in range(_ATTEMPTS):
        row = service.queries.schedules.find_by_external_id(schedule_owner, external_id)
        if row is None:
            try:
                created = service.create_schedule_from(
                    owner,
                    request.workflow_id,
                    {**desired, "external_id": external_id},
                    audit=audit,
                )
            except ExternalIdTaken:
                continue  # a concurrent PUT created it first: update that one
            return created, True
        if row["workflow_id"] != request.workflow_id:
            raise Conflict(
                f"externalId: {external_id!r} names schedule {row['id']} of workflow"
                f" {row['workflow_id']}; a schedule's workflow cannot change (delete it first)"
            )
        try:
            updated = service.change_schedule(
                owner, row["id"], lambda old: _differences(old, desired), audit
            )
        except ScheduleNotFound:
            continue  # deleted meanwhile: create it again
        return updated, False
    raise Conflict(f"externalId: {external_id!r} is being changed concurrently; retry")


def _workflow_owner(service: ScheduleService, workflow_id: UUID) -> UUID | None:
    try:
        return service.queries.workflows.workflow_owner(workflow_id)
    except WorkflowNotFound as exc:
        raise InvalidInput(f"workflowId: no workflow {workflow_id}") from exc


def _differences(row: Row, desired: dict[str, Any]) -> dict[str, Any]:
    """The columns whose stored value is not the desired one (instants compare as instants)."""
    return {column: value for column, value in desired.items() if row.get(column) != value}
