"""All SQL of the product; the runner's own statements are in `run_store`, the API keys' in
`key_store`, the run history's retention in `history_store`, what was written to EventBridge
in `sync_store`. Parameterised statements only;
rows come back as dicts (snake_case).

`owner` arguments scope a query to the workflows one user owns; `None` means the service
itself (the runner, reconcile, a service-role caller) and sees every row. Scoping is done here,
in SQL, so a query can never forget it; RLS guards the same tables for Supabase clients.
Driver errors never leave this module raw: they become domain errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from scheduler.errors import (
    InvalidInput,
    ScheduleNotFound,
    WorkflowNotFound,
)
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.db import Connection, Database
from scheduler.store.fire_checks import FireCheckQueries
from scheduler.store.history import HistoryQueries
from scheduler.store.limits import LimitQueries
from scheduler.store.queue import QueueQueries
from scheduler.store.runs import RunnerQueries
from scheduler.store.sync_state import SyncStateQueries

Row = dict[str, Any]
Cursor = tuple[datetime, UUID]  # keyset pagination position: (sort timestamp, id) of the last row

_OWNED = "(%(owner)s::uuid is null or w.owner_id = %(owner)s::uuid)"
_UPDATABLE_SCHEDULE_COLUMNS = frozenset(
    {
        "cron",
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
    }
)
# The definition comes as text, loaded by its reader (scheduler.steps.definitions), so a document
# the driver cannot load (nested too deep, a number out of range) is reported as such instead of
# failing the read.
_WORKFLOW_COLUMNS = """w.id, w.owner_id, w.name, w.definition::text as definition, w.status,
    w.run_count, w.last_run_at, w.last_run_status, w.lease_fence, w.created_at, w.updated_at"""


class Store(
    RunnerQueries,
    QueueQueries,
    FireCheckQueries,
    LimitQueries,
    ApiKeyQueries,
    HistoryQueries,
    SyncStateQueries,
):
    """Every query of the product; the runner's own are in `run_store` (RunnerQueries), the
    waiting runs' in `queue_store` (QueueQueries), the missed-fire check's in
    `fire_check_store` (FireCheckQueries), the per-owner limits' in `limit_store`
    (LimitQueries), the API keys' in `key_store` (ApiKeyQueries), the
    run history's retention in `history_store` (HistoryQueries), what was written to
    EventBridge in `sync_store` (SyncStateQueries)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Group several store calls into one transaction (all or nothing)."""
        with self.db.transaction() as conn:
            yield conn

    @contextmanager
    def _integrity_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.CheckViolation as exc:
            raise InvalidInput(f"rejected by the database: {exc.diag.constraint_name}") from exc

    # --- workflows (owned by the host app; the scheduler reads them, tests and demos create)

    def create_workflow(
        self, owner_id: UUID, name: str, definition: dict[str, Any] | None = None
    ) -> Row:
        with self._integrity_errors():
            row = self.db.execute(
                "insert into workflows as w (owner_id, name, definition)"
                f" values (%s, %s, %s::jsonb) returning {_WORKFLOW_COLUMNS}",
                (owner_id, name, json.dumps(definition or {"steps": []})),
            ).fetchone()
        assert row is not None
        return row

    def get_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"select {_WORKFLOW_COLUMNS} from workflows w where w.id = %(id)s and {_OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def set_workflow_definition(self, workflow_id: UUID, definition: dict[str, Any]) -> Row:
        """Replace a workflow's definition (the host app's write; the local stack's demo)."""
        with self._integrity_errors():
            row = self.db.execute(
                "update workflows w set definition = %s::jsonb where w.id = %s"
                f" returning {_WORKFLOW_COLUMNS}",
                (json.dumps(definition), workflow_id),
            ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def list_workflows(
        self, owner: UUID | None, *, limit: int = 50, after: Cursor | None = None
    ) -> list[Row]:
        rows = self.db.execute(
            f"""select {_WORKFLOW_COLUMNS} from workflows w
                where {_OWNED}
                  and (%(after_at)s::timestamptz is null
                       or (w.created_at, w.id) < (%(after_at)s, %(after_id)s::uuid))
                order by w.created_at desc, w.id desc limit %(limit)s""",
            _page({"owner": owner, "limit": limit}, after),
        ).fetchall()
        return rows

    # --- schedules

    def create_schedule(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID,
        cron: str,
        timezone: str,
        enabled: bool,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        flexible_window_minutes: int = 0,
        note: str | None = None,
        catchup_policy: str = "skip",
        catchup_window_seconds: int = 3600,
        overlap_policy: str = "skip",
    ) -> Row:
        """Insert a schedule for a workflow the owner has; WorkflowNotFound otherwise."""
        params = {
            "owner": owner,
            "workflow_id": workflow_id,
            "cron": cron,
            "timezone": timezone,
            "enabled": enabled,
            "start_at": start_at,
            "end_at": end_at,
            "flexible_window_minutes": flexible_window_minutes,
            "note": note,
            "catchup_policy": catchup_policy,
            "catchup_window_seconds": catchup_window_seconds,
            "overlap_policy": overlap_policy,
        }
        try:
            with self._integrity_errors():
                row = self.db.execute(
                    f"""insert into schedules (workflow_id, cron, timezone, enabled, start_at,
                                               end_at, flexible_window_minutes, note,
                                               catchup_policy, catchup_window_seconds,
                                               overlap_policy)
                        select w.id, %(cron)s, %(timezone)s, %(enabled)s, %(start_at)s,
                               %(end_at)s, %(flexible_window_minutes)s, %(note)s,
                               %(catchup_policy)s, %(catchup_window_seconds)s,
                               %(overlap_policy)s
                        from workflows w
                        where w.id = %(workflow_id)s and {_OWNED}
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
                where s.id = %(id)s and {_OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
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
        *,
        workflow_id: UUID | None = None,
        enabled: bool | None = None,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """Newest first, keyset-paginated on (created_at, id); each row with its newest run
        (`last_run`, None before the first) from the same query: one round trip per page."""
        params = {"owner": owner, "workflow_id": workflow_id, "enabled": enabled, "limit": limit}
        return self.db.execute(
            f"""select s.*, to_jsonb(r) as last_run
                from schedules s join workflows w on w.id = s.workflow_id
                left join lateral (
                  select status, scheduled_time, started_at, finished_at, error
                  from schedule_runs
                  where schedule_id = s.id order by scheduled_time desc, id desc limit 1
                ) r on true
                where {_OWNED}
                  and (%(workflow_id)s::uuid is null or s.workflow_id = %(workflow_id)s::uuid)
                  and (%(enabled)s::boolean is null or s.enabled = %(enabled)s::boolean)
                  and (%(after_at)s::timestamptz is null
                       or (s.created_at, s.id) < (%(after_at)s, %(after_id)s::uuid))
                order by s.created_at desc, s.id desc limit %(limit)s""",
            _page(params, after),
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
            + _OWNED
            + " returning s.*"
        ).format(assignments=assignments)
        with self._integrity_errors():
            row = self.db.execute(query, {**changes, "id": schedule_id, "owner": owner}).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def delete_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Delete and return the deleted row (its runs go with it: on delete cascade)."""
        row = self.db.execute(
            f"""delete from schedules s using workflows w
                where w.id = s.workflow_id and s.id = %(id)s and {_OWNED}
                returning s.*""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    # --- run history

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
            _page({"schedule_id": schedule_id, "limit": limit}, after),
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
                where s.id = %(id)s and {_OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        last_run = row.pop("last_run")
        return row, last_run

    # --- per-owner limits (see scheduler.policies.owner_limits)

    def workflow_owner(self, workflow_id: UUID, owner: UUID | None = None) -> UUID | None:
        """The owner of a workflow `owner` may see (None: it has none); WorkflowNotFound else."""
        row = self.db.execute(
            f"select w.owner_id from workflows w where w.id = %(id)s and {_OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        owner_id: UUID | None = row["owner_id"]
        return owner_id


def _writer_lock_key(schedule_id: UUID) -> int:
    """The advisory lock key of a schedule: 64 bits of its id (a collision only serialises)."""
    return int.from_bytes(schedule_id.bytes[:8], "big", signed=True)


def _page(params: dict[str, Any], after: Cursor | None) -> dict[str, Any]:
    after_at, after_id = after if after is not None else (None, None)
    return {**params, "after_at": after_at, "after_id": after_id}
