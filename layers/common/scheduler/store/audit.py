"""The audit log's SQL (table `audit_events`): one insert every write path uses, inside the
transaction of the change it records, and the reads of the API's listings.

A query object shares its Database (so its transaction) with the other query objects of a use
case: an event is written by the same transaction as its change, and rolls back with it. The
runner's own changes (a pause after failures, a critical error's disable) are written by its
outcome statement itself, as actor "scheduler" (scheduler.store.run_outcome, which the runner's
cold start imports without this module).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from scheduler.store.sql import Cursor, Queries, Row, page

SubjectType = Literal["schedule", "api_key"]

_EVENT_COLUMNS = """id, occurred_at, owner_id, actor, request_id, subject_type, subject_id,
    action, changes, detail"""


@dataclass(frozen=True)
class AuditContext:
    """Who makes a change and in which request: the routes make it from the caller's principal
    and the API Gateway event, and pass it down the use case (no global state)."""

    actor: str
    request_id: str | None = None


# A use case called in this process, not through the API (tests, the simulation, devstack's
# demo): the service's own rights, so the service's actor. The routes always pass the request's.
IN_PROCESS = AuditContext(actor="service_role")


@dataclass(frozen=True)
class AuditFilter:
    """The service listing's filters; None: any."""

    subject_type: SubjectType | None = None
    subject_id: UUID | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditQueries(Queries):
    def record(
        self,
        context: AuditContext,
        subject_type: SubjectType,
        subject_ids: Sequence[UUID],
        action: str,
        *,
        changes: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """One event per subject, all in one statement (a bulk change is one round trip);
        the number written. The event's owner (a schedule's workflow's, a key's own) is read by
        the statement itself: record a deletion before the row goes. Never pass a secret: what
        is recorded is kept for the audit retention period."""
        if not subject_ids:
            return 0
        cursor = self.db.execute(
            """insert into audit_events (owner_id, actor, request_id, subject_type, subject_id,
                                         action, changes, detail)
               select coalesce(w.owner_id, k.owner_id), %(actor)s, %(request_id)s, %(type)s,
                      subject.id, %(action)s, %(changes)s, %(detail)s
               from unnest(%(ids)s::uuid[]) with ordinality as subject(id, n)
               left join schedules s on %(type)s = 'schedule' and s.id = subject.id
               left join workflows w on w.id = s.workflow_id
               left join api_keys k on %(type)s = 'api_key' and k.id = subject.id
               order by subject.n""",
            {
                "type": subject_type,
                "actor": context.actor,
                "request_id": context.request_id,
                "ids": list(subject_ids),
                "action": action,
                "changes": Jsonb(dict(changes or {})),
                "detail": Jsonb(dict(detail or {})),
            },
        )
        return cursor.rowcount

    def record_many(
        self,
        context: AuditContext,
        schedule_ids: Sequence[UUID],
        action: str,
        *,
        changes: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """The same event for many schedules (a bulk pause or resume): one insert statement."""
        return self.record(
            context, "schedule", schedule_ids, action, changes=changes, detail=detail
        )

    def list_subject_events(
        self, subject_id: UUID, owner: UUID | None, *, limit: int, after: Cursor | None = None
    ) -> list[Row]:
        """A subject's events newest first; an owner sees only the events of what it owns
        (None: the service, every event)."""
        return self.db.execute(
            f"""select {_EVENT_COLUMNS} from audit_events
                where subject_id = %(subject)s
                  and (%(owner)s::uuid is null or owner_id = %(owner)s::uuid)
                  and (%(after_at)s::timestamptz is null
                       or (occurred_at, id) < (%(after_at)s, %(after_id)s::uuid))
                order by occurred_at desc, id desc limit %(limit)s""",
            page({"subject": subject_id, "owner": owner, "limit": limit}, after),
        ).fetchall()

    def list_events(
        self, filters: AuditFilter, *, limit: int, after: Cursor | None = None
    ) -> list[Row]:
        """Every event (the service listing), newest first, filtered."""
        return self.db.execute(
            f"""select {_EVENT_COLUMNS} from audit_events
                where (%(type)s::text is null or subject_type = %(type)s)
                  and (%(subject)s::uuid is null or subject_id = %(subject)s)
                  and (%(actor)s::text is null or actor = %(actor)s)
                  and (%(since)s::timestamptz is null or occurred_at >= %(since)s)
                  and (%(until)s::timestamptz is null or occurred_at < %(until)s)
                  and (%(after_at)s::timestamptz is null
                       or (occurred_at, id) < (%(after_at)s, %(after_id)s::uuid))
                order by occurred_at desc, id desc limit %(limit)s""",
            page(
                {
                    "type": filters.subject_type,
                    "subject": filters.subject_id,
                    "actor": filters.actor,
                    "since": filters.since,
                    "until": filters.until,
                    "limit": limit,
                },
                after,
            ),
        ).fetchall()

    def delete_expired_batch(self, *, cutoff: datetime, batch_size: int) -> int:
        """Delete at most `batch_size` of the oldest events older than `cutoff`; one short
        statement (its own transaction), the rows another transaction holds skipped."""
        row = self.db.execute(
            """with expired as (
                 select id from audit_events where occurred_at < %(cutoff)s
                 order by occurred_at, id limit %(batch_size)s
                 for update skip locked
               ), deleted as (
                 delete from audit_events e using expired where e.id = expired.id returning 1
               )
               select count(*) as deleted from deleted""",
            {"cutoff": cutoff, "batch_size": batch_size},
        ).fetchone()
        assert row is not None
        return int(row["deleted"])
