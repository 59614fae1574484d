"""The schedules' SQL, and the API's reads of a schedule's runs (its history page, its last run).
Parameterised statements only; rows come back as dicts (snake_case).

`owner` arguments scope a query to the workflows one user owns; `None` means the service
itself (the runner, reconcile, a service-role caller) and sees every row. Scoping is done here,
in SQL, so a query can never forget it; RLS guards the same tables for Supabase clients.
Driver errors never leave this module raw: they become domain errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from scheduler.cron.dst_policy import DEFAULT_DST_POLICY
from scheduler.errors import ExternalIdTaken, InvalidInput, ScheduleNotFound, WorkflowNotFound
from scheduler.store.schedule_filters import (
    ScheduleFilter,
    owned_schedules,
    schedule_filter_where,
)
from scheduler.store.sql import OWNED, Cursor, Queries, Row, integrity_errors, page

_UPDATABLE_SCHEDULE_COLUMNS = frozenset(
    {
        "cron",
        "run_at",
        "timezone",
        "enabled",
        "disabled_reason",
        "start_at",
        "end_at",
        "flexible_window_minutes",
        "note",
        "catchup_policy",
        "catchup_window_seconds",
        "overlap_policy",
        "input",
        "name",
        "external_id",
        "pause_after_failures",
        "consecutive_failures",
        "labels",
        "exclude_calendars",
        "dst_policy",
    }
)
# The unique index of an owner's external ids (migrations/20261208000302).
_EXTERNAL_ID_KEY = "schedules_owner_external_id_key"
NO_FILTER = ScheduleFilter()
# jsonb columns: their value (a dict) is sent as JSON
_JSON_SCHEDULE_COLUMNS = frozenset({"input", "labels", "dst_policy"})


class ScheduleQueries(Queries):
    def create_schedule(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID,
        cron: str | None,
        timezone: str,
        enabled: bool,
        run_at: datetime | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        flexible_window_minutes: int = 0,
        note: str | None = None,
        catchup_policy: str = "skip",
        catchup_window_seconds: int = 3600,
        overlap_policy: str = "skip",
        input: dict[str, Any] | None = None,
        name: str | None = None,
        external_id: str | None = None,
        pause_after_failures: int | None = None,
        labels: dict[str, str] | None = None,
        exclude_calendars: list[UUID] | None = None,
        dst_policy: dict[str, str] | None = None,
    ) -> Row:
        """Insert a schedule for a workflow the owner has; WorkflowNotFound otherwise,
        ExternalIdTaken when another schedule of the workflow's owner has `external_id`."""
        params = {
            "owner": owner,
            "workflow_id": workflow_id,
            "cron": cron,
            "run_at": run_at,
            "timezone": timezone,
            "enabled": enabled,
            "start_at": start_at,
            "end_at": end_at,
            "flexible_window_minutes": flexible_window_minutes,
            "note": note,
            "catchup_policy": catchup_policy,
            "catchup_window_seconds": catchup_window_seconds,
            "overlap_policy": overlap_policy,
            "input": Jsonb(input or {}),
            "name": name,
            "external_id": external_id,
            "pause_after_failures": pause_after_failures,
            "labels": Jsonb(labels or {}),
            "exclude_calendars": list(exclude_calendars or []),
            "dst_policy": Jsonb(dst_policy or DEFAULT_DST_POLICY.as_columns()),
        }
        try:
            with integrity_errors(), _external_id_clash(external_id):
                row = self.db.execute(
                    f"""insert into schedules (workflow_id, cron, run_at, timezone, enabled,
                                               start_at, end_at, flexible_window_minutes, note,
                                               catchup_policy, catchup_window_seconds,
                                               overlap_policy, input, name, external_id,
                                               pause_after_failures, labels,
                                               exclude_calendars, dst_policy)
                        select w.id, %(cron)s, %(run_at)s, %(timezone)s, %(enabled)s,
                               %(start_at)s, %(end_at)s, %(flexible_window_minutes)s, %(note)s,
                               %(catchup_policy)s, %(catchup_window_seconds)s,
                               %(overlap_policy)s, %(input)s, %(name)s, %(external_id)s,
                               %(pause_after_failures)s, %(labels)s,
                               %(exclude_calendars)s::uuid[], %(dst_policy)s
                        from workflows w
                        where w.id = %(workflow_id)s and {OWNED}
                        returning *""",
                    params,
                ).fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:  # the workflow was deleted meanwhile
            raise WorkflowNotFound(workflow_id) from exc
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def get_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"""select s.* from schedules s join workflows w on w.id = s.workflow_id
                where s.id = %(id)s and {OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def find_by_external_id(self, owner: UUID | None, external_id: str) -> Row | None:
        """The schedule whose workflow's owner is `owner` (None: a workflow without one) with
        this external id, if any: a lookup in the unique index."""
        row: Row | None = self.db.execute(
            """select s.* from schedules s
               where (s.owner_id = %(owner)s or (%(owner)s::uuid is null and s.owner_id is null))
                 and s.external_id = %(external_id)s""",
            {"owner": owner, "external_id": external_id},
        ).fetchone()
        return row

    def lock_schedule_writers(self, schedule_id: UUID) -> None:
        """Take the schedule's writer lock until the transaction ends (waiting for its holder).

        A transaction-scoped advisory lock keyed on the id, not a row lock: it serialises the
        writers of one schedule (API writes, their undo, reconcile's repair), which hold it
        across their EventBridge calls, while the runner, which never takes it, claims runs and
        records outcomes without waiting. Transaction-scoped, so it works through the
        transaction pooler and cannot outlive a failed Lambda.
        """
        self.db.require_transaction("a schedule's writer lock")
        self.db.execute("select pg_advisory_xact_lock(%s)", (_writer_lock_key(schedule_id),))

    def lock_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Take the schedule's writer lock, then read the row as committed by the last writer.

        The row itself is not locked (see lock_schedule_writers). ScheduleNotFound if it is
        gone or not the owner's.
        """
        self.lock_schedule_writers(schedule_id)
        # A statement of its own: its snapshot is taken after the lock was granted, so it sees
        # what the previous holder committed.
        return self.get_schedule(schedule_id, owner)

    def list_schedules(
        self,
        owner: UUID | None,
        selected: ScheduleFilter = NO_FILTER,
        *,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """The schedules `selected` picks, newest first, keyset-paginated on (created_at, id);
        each row with its newest run (`last_run`, None before the first) from the same query:
        one round trip per page.

        Scoped by the schedule's own owner_id (`owned_schedules`), not a join to workflows: one
        owner's page is then read in order from schedules_owner_page_idx (a join's estimate,
        multiplied by a filter's, made the planner sort every match: docs/performance.md).
        The newest run is read for the page's rows only, after the limit."""
        where, filter_params = schedule_filter_where(selected)
        owned = owned_schedules(owner)
        return self.db.execute(
            f"""select s.*, to_jsonb(r) as last_run
                from (
                  select s.* from schedules s
                  where {owned} and {where}
                    and (%(after_at)s::timestamptz is null
                         or (s.created_at, s.id) < (%(after_at)s, %(after_id)s::uuid))
                  order by s.created_at desc, s.id desc limit %(limit)s
                ) s
                left join lateral (
                  select status, scheduled_time, started_at, finished_at, error
                  from schedule_runs
                  where schedule_id = s.id order by scheduled_time desc, id desc limit 1
                ) r on true
                order by s.created_at desc, s.id desc""",
            page({"owner": owner, "limit": limit, **filter_params}, after),
        ).fetchall()

    def iter_all_schedules(self, batch: int = 1000) -> Iterator[Row]:
        """Every schedule, in id order, a batch per query (reconcile reads them all)."""
        last: UUID | None = None
        while True:
            rows = self.db.execute(
                """select * from schedules where (%(last)s::uuid is null or id > %(last)s::uuid)
                   order by id limit %(batch)s""",
                {"last": last, "batch": batch},
            ).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1]["id"]

    def update_schedule(
        self, schedule_id: UUID, owner: UUID | None, changes: dict[str, Any]
    ) -> Row:
        """Apply `changes` (column -> value) and return the new row."""
        unknown = set(changes) - _UPDATABLE_SCHEDULE_COLUMNS
        if unknown or not changes:
            raise InvalidInput(f"cannot update schedule fields {sorted(unknown) or '(none)'}")
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            for column in sorted(changes)
        )
        query = sql.SQL(
            """update schedules s set {assignments} from workflows w
               where w.id = s.workflow_id and s.id = %(id)s and """
            + OWNED
            + " returning s.*"
        ).format(assignments=assignments)
        values = {
            column: Jsonb(value) if column in _JSON_SCHEDULE_COLUMNS else value
            for column, value in changes.items()
        }
        with integrity_errors(), _external_id_clash(changes.get("external_id")):
            row = self.db.execute(query, {**values, "id": schedule_id, "owner": owner}).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def delete_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Delete and return the deleted row (its runs go with it: on delete cascade)."""
        row = self.db.execute(
            f"""delete from schedules s using workflows w
                where w.id = s.workflow_id and s.id = %(id)s and {OWNED}
                returning s.*""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    # --- the API's reads of a schedule's runs

    def list_runs(
        self,
        schedule_id: UUID,
        owner: UUID | None = None,
        *,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """Runs of a schedule, newest scheduled time first; ScheduleNotFound if not visible."""
        self.get_schedule(schedule_id, owner)
        return self.db.execute(
            """select * from schedule_runs r
               where r.schedule_id = %(schedule_id)s
                 and (%(after_at)s::timestamptz is null
                      or (r.scheduled_time, r.id) < (%(after_at)s, %(after_id)s::uuid))
               order by r.scheduled_time desc, r.id desc limit %(limit)s""",
            page({"schedule_id": schedule_id, "limit": limit}, after),
        ).fetchall()

    def get_schedule_with_last_run(
        self, schedule_id: UUID, owner: UUID | None = None
    ) -> tuple[Row, Row | None]:
        """A schedule and its newest run (None before the first), in one round trip."""
        row = self.db.execute(
            f"""select s.*, to_jsonb(r) as last_run
                from schedules s join workflows w on w.id = s.workflow_id
                left join lateral (
                  select * from schedule_runs
                  where schedule_id = s.id order by scheduled_time desc, id desc limit 1
                ) r on true
                where s.id = %(id)s and {OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        last_run = row.pop("last_run")
        return row, last_run


@contextmanager
def _external_id_clash(external_id: str | None) -> Iterator[None]:
    """A write that breaks the owner's unique external ids is ExternalIdTaken, naming it."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != _EXTERNAL_ID_KEY or external_id is None:
            raise
        raise ExternalIdTaken(external_id) from exc


def _writer_lock_key(schedule_id: UUID) -> int:
    """The advisory lock key of a schedule: 64 bits of its id (a collision only serialises)."""
    return int.from_bytes(schedule_id.bytes[:8], "big", signed=True)
