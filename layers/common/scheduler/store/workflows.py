"""The workflows' SQL: the host app may own the table and write it; the API creates, changes and
deletes workflows too (scheduler.api.workflows). `owner` arguments scope a statement to one
user's workflows (see sql.OWNED): another owner's workflow is WorkflowNotFound, as a missing one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg

from scheduler.errors import InvalidWorkflowDefinition, WorkflowNotFound
from scheduler.store.sql import OWNED, Cursor, Queries, Row, integrity_errors, page

# The database's own bounds of a definition (migration 20261201000000_run_path_faults.sql).
_DEFINITION_BOUNDS = "workflows_definition_bounds"

# The definition comes as text, loaded by its reader (scheduler.steps.definitions), so a document
# the driver cannot load (nested too deep, a number out of range) is reported as such instead of
# failing the read.
_WORKFLOW_COLUMNS = """w.id, w.owner_id, w.name, w.definition::text as definition, w.status,
    w.run_count, w.last_run_at, w.last_run_status, w.lease_fence, w.created_at, w.updated_at"""


class WorkflowQueries(Queries):
    def create_workflow(
        self, owner_id: UUID, name: str, definition: dict[str, Any] | None = None
    ) -> Row:
        with integrity_errors(), _definition_bounds():
            row = self.db.execute(
                "insert into workflows as w (owner_id, name, definition)"
                f" values (%s, %s, %s::jsonb) returning {_WORKFLOW_COLUMNS}",
                (owner_id, name, json.dumps(definition or {"steps": []})),
            ).fetchone()
        assert row is not None
        return row

    def get_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"select {_WORKFLOW_COLUMNS} from workflows w where w.id = %(id)s and {OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def set_workflow_definition(self, workflow_id: UUID, definition: dict[str, Any]) -> Row:
        """Replace a workflow's definition (the host app's write; the local stack's demo)."""
        with integrity_errors(), _definition_bounds():
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
                where {OWNED}
                  and (%(after_at)s::timestamptz is null
                       or (w.created_at, w.id) < (%(after_at)s, %(after_id)s::uuid))
                order by w.created_at desc, w.id desc limit %(limit)s""",
            page({"owner": owner, "limit": limit}, after),
        ).fetchall()
        return rows

    def workflow_owner(self, workflow_id: UUID, owner: UUID | None = None) -> UUID | None:
        """The owner of a workflow `owner` may see (None: it has none); WorkflowNotFound else.
        The per-owner limits count against it (scheduler.policies.owner_limits)."""
        row = self.db.execute(
            f"select w.owner_id from workflows w where w.id = %(id)s and {OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        owner_id: UUID | None = row["owner_id"]
        return owner_id

    def update_workflow(
        self,
        workflow_id: UUID,
        owner: UUID | None,
        *,
        name: str | None = None,
        definition: dict[str, Any] | None = None,
    ) -> Row:
        """Change the name and/or the definition (None: keep it) of a workflow `owner` may see;
        WorkflowNotFound else."""
        with integrity_errors(), _definition_bounds():
            row = self.db.execute(
                f"""update workflows w
                    set name = coalesce(%(name)s, w.name),
                        definition = coalesce(%(definition)s::jsonb, w.definition)
                    where w.id = %(id)s and {OWNED}
                    returning {_WORKFLOW_COLUMNS}""",
                {
                    "id": workflow_id,
                    "owner": owner,
                    "name": name,
                    "definition": None if definition is None else json.dumps(definition),
                },
            ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def lock_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> None:
        """Lock the workflow's row until the transaction ends: no schedule can be added to it
        meanwhile (an insert's foreign key check waits for the lock), and one being added
        now is committed first (the lock waits for it). The runner's start and record of a
        run wait too, so take it only for the last statements, never across an AWS call.
        WorkflowNotFound if it is gone or not the owner's."""
        self.db.require_transaction("a workflow's row lock")
        row = self.db.execute(
            f"select w.id from workflows w where w.id = %(id)s and {OWNED} for update",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)

    def schedule_ids(self, workflow_id: UUID, *, limit: int | None = None) -> list[UUID]:
        """The ids of the workflow's schedules, in id order (the order writers lock them in);
        at most `limit` of them."""
        rows = self.db.execute(
            "select id from schedules where workflow_id = %s order by id limit %s",
            (workflow_id, limit),
        ).fetchall()
        return [row["id"] for row in rows]

    def delete_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> Row:
        """Delete a workflow `owner` may see, with its schedules and their runs (on delete
        cascade); WorkflowNotFound else. Returns the deleted row."""
        row = self.db.execute(
            f"""delete from workflows w where w.id = %(id)s and {OWNED}
                returning {_WORKFLOW_COLUMNS}""",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row


@contextmanager
def _definition_bounds() -> Iterator[None]:
    """A definition over the database's bounds is an invalid definition, said as such."""
    try:
        yield
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name != _DEFINITION_BOUNDS:
            raise
        raise InvalidWorkflowDefinition(
            "invalid definition: larger than 262144 bytes or nested deeper than 32 levels"
            " as stored",
            field=None,
            problem="is larger than 262144 bytes or nested deeper than 32 levels as stored",
        ) from exc
