"""The workflows' SQL: owned by the host app; the scheduler reads them, tests and demos create
and change them. `owner` arguments scope a read to one user's workflows (see sql.OWNED)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from scheduler.errors import WorkflowNotFound
from scheduler.store.sql import OWNED, Cursor, Queries, Row, integrity_errors, page

# The definition comes as text, loaded by its reader (scheduler.steps.definitions), so a document
# the driver cannot load (nested too deep, a number out of range) is reported as such instead of
# failing the read.
_WORKFLOW_COLUMNS = """w.id, w.owner_id, w.name, w.definition::text as definition, w.status,
    w.run_count, w.last_run_at, w.last_run_status, w.lease_fence, w.created_at, w.updated_at"""


class WorkflowQueries(Queries):
    def create_workflow(
        self, owner_id: UUID, name: str, definition: dict[str, Any] | None = None
    ) -> Row:
        with integrity_errors():
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
        with integrity_errors():
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
