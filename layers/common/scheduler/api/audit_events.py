"""The audit log's reads: a schedule's events (its owner's, or a service credential's) and the
service's listing of every event (service credentials only).

A schedule's events outlive it: its owner still lists them after a delete (each event carries
its owner). Someone else's schedule is a 404, as every read of it is.
"""

from __future__ import annotations

from uuid import UUID

from scheduler.auth.principal import Principal
from scheduler.models.audit import AuditEventPage
from scheduler.store import pagination
from scheduler.store.audit import AuditFilter, AuditQueries
from scheduler.store.schedules import ScheduleQueries


def list_schedule_events(
    audit: AuditQueries,
    schedules: ScheduleQueries,
    owner: UUID | None,
    schedule_id: UUID,
    *,
    limit: int,
    cursor: str | None,
) -> AuditEventPage:
    """The schedule's events, newest first; ScheduleNotFound (404) when the caller has neither
    the schedule nor any event of it (another owner's, or unknown)."""
    rows = audit.list_subject_events(
        schedule_id, owner, limit=limit + 1, after=pagination.decode_cursor(cursor)
    )
    if not rows and cursor is None:
        schedules.get_schedule(schedule_id, owner)  # ScheduleNotFound: not the caller's
    items, next_cursor = pagination.page(rows, limit, "occurred_at")
    return AuditEventPage.model_validate({"items": items, "next_cursor": next_cursor})


def list_audit_events(
    audit: AuditQueries,
    principal: Principal,
    filters: AuditFilter,
    *,
    limit: int,
    cursor: str | None,
) -> AuditEventPage:
    """Every event, newest first, filtered; Forbidden (403) for anything but a service
    credential."""
    principal.require_service("the audit log's listing")
    rows = audit.list_events(filters, limit=limit + 1, after=pagination.decode_cursor(cursor))
    items, next_cursor = pagination.page(rows, limit, "occurred_at")
    return AuditEventPage.model_validate({"items": items, "next_cursor": next_cursor})
