"""All SQL of the product. Parameterised statements only; rows come back as dicts (snake_case).

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

from scheduler.db import Connection, Database
from scheduler.errors import InvalidInput, ScheduleNotFound, WorkflowNotFound

Row = dict[str, Any]
Cursor = tuple[datetime, UUID]  # keyset pagination position: (sort timestamp, id) of the last row

_OWNED = "(%(owner)s::uuid is null or w.owner_id = %(owner)s::uuid)"
_UPDATABLE_SCHEDULE_COLUMNS = frozenset({"cron", "timezone", "enabled", "disabled_reason"})


class Store:
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
                "insert into workflows (owner_id, name, definition)"
                " values (%s, %s, %s::jsonb) returning *",
                (owner_id, name, json.dumps(definition or {"steps": []})),
            ).fetchone()
        assert row is not None
        return row

    def get_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"select w.* from workflows w where w.id = %(id)s and {_OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def list_workflows(
        self, owner: UUID | None, *, limit: int = 50, after: Cursor | None = None
    ) -> list[Row]:
        return self.db.execute(
            f"""select w.* from workflows w
                where {_OWNED}
                  and (%(after_at)s::timestamptz is null
                       or (w.created_at, w.id) < (%(after_at)s, %(after_id)s::uuid))
                order by w.created_at desc, w.id desc limit %(limit)s""",
            _page({"owner": owner, "limit": limit}, after),
        ).fetchall()

    # --- schedules

    def create_schedule(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID,
        cron: str,
        timezone: str,
        enabled: bool,
    ) -> Row:
        """Insert a schedule for a workflow the owner has; WorkflowNotFound otherwise."""
        params = {
            "owner": owner,
            "workflow_id": workflow_id,
            "cron": cron,
            "timezone": timezone,
            "enabled": enabled,
        }
        try:
            with self._integrity_errors():
                row = self.db.execute(
                    f"""insert into schedules (workflow_id, cron, timezone, enabled)
                        select w.id, %(cron)s, %(timezone)s, %(enabled)s from workflows w
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

    def lock_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Read a schedule and lock its row until the transaction ends (serialises writers)."""
        row = self.db.execute(
            f"""select s.* from schedules s join workflows w on w.id = s.workflow_id
                where s.id = %(id)s and {_OWNED} for update of s""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def list_schedules(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID | None = None,
        enabled: bool | None = None,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """Newest first, keyset-paginated on (created_at, id)."""
        params = {"owner": owner, "workflow_id": workflow_id, "enabled": enabled, "limit": limit}
        return self.db.execute(
            f"""select s.* from schedules s join workflows w on w.id = s.workflow_id
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
            row = self.db.execute(
                query, {**changes, "id": schedule_id, "owner": owner}
            ).fetchone()
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

    def last_run(self, schedule_id: UUID) -> Row | None:
        return self.db.execute(
            """select * from schedule_runs where schedule_id = %s
               order by scheduled_time desc, id desc limit 1""",
            (schedule_id,),
        ).fetchone()


def _page(params: dict[str, Any], after: Cursor | None) -> dict[str, Any]:
    after_at, after_id = after if after is not None else (None, None)
    return {**params, "after_at": after_at, "after_id": after_id}
