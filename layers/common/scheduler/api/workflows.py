"""The workflows' write use cases: create, change, delete (the reads are the schedules' service's).

A definition is accepted only if the runner can run it: it is written out as JSON text and read
back exactly as the runner reads a stored one (scheduler.steps.definitions.load_definition:
size, depth, the http steps' header rules), then parsed into steps by the engine
(scheduler.steps.engine.parse_definition); what either refuses is a 422 naming the step (its
number and kind) and the field. The database bounds the stored text the same way.

Deleting a workflow that has schedules must say what happens to them: without
`schedules=delete` it is refused (409); with it, the workflow and its schedules go in one
transaction, their EventBridge schedules removed first, each under its writer lock, as
DELETE /api/schedules/{id} does. When EventBridge (or the commit) fails half-way, nothing is
deleted in the database and each schedule whose EventBridge schedules were touched is restored
from its row by the schedules' own undo (ScheduleService.restore_eventbridge); what that undo
cannot do, reconcile repairs.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from scheduler.api.schedules import ScheduleService
from scheduler.errors import Conflict, Forbidden, InvalidInput, InvalidWorkflowDefinition
from scheduler.models.workflows import Workflow, WorkflowCreate, WorkflowUpdate
from scheduler.steps.definitions import load_definition, with_loaded_definition
from scheduler.steps.engine import parse_definition
from scheduler.store.audit import IN_PROCESS, AuditContext

# How many schedules a workflow may have to be deleted with them in one request: each is one or
# two EventBridge calls in the request's time (API Gateway waits 30 s), and a writer lock held
# to the commit. A workflow with more: delete some of its schedules first.
MAX_SCHEDULES_DELETED_WITH_A_WORKFLOW = 50


def checked_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition as the runner will load it, or InvalidInput saying where it is wrong."""
    try:
        # ensure_ascii=False: the size counted is that of the UTF-8 text the database stores
        text = json.dumps(definition, ensure_ascii=False, allow_nan=False)
    except ValueError:  # the body's parser read a number past a float's range as infinity
        raise InvalidInput("definition: a number is out of range (at most about 1.8e308)") from None
    try:
        loaded = load_definition(text)
        parse_definition(loaded)
    except InvalidWorkflowDefinition as exc:
        raise InvalidInput(definition_problem(exc)) from None
    return loaded


def definition_problem(exc: InvalidWorkflowDefinition) -> str:
    """`exc` in words, starting from the request's field: `definition: step 2 (http), field
    url: ...`; a problem of the whole definition as the runner says it."""
    if exc.step is None and exc.field is None:
        return f"definition: {exc.problem.removeprefix('invalid definition: ')}"
    where = []
    if exc.step is not None:
        where.append(f"step {exc.step}" + (f" ({exc.kind})" if exc.kind else ""))
    if exc.field is not None:
        where.append(f"field {exc.field}")
    return f"definition: {', '.join(where)}: {exc.problem}"


class WorkflowService:
    """The workflows' writes; `owner` None means every tenant's (a service credential)."""

    def __init__(self, schedules: ScheduleService) -> None:
        self.schedules = schedules
        self.queries = schedules.queries
        self.eventbridge = schedules.eventbridge

    def create_workflow(self, owner: UUID | None, request: WorkflowCreate) -> Workflow:
        """A new workflow of the caller's owner (a service credential names it: `ownerId`)."""
        owner_id = _owner_of_new_workflow(owner, request.owner_id)
        definition = checked_definition(request.definition)
        row = self.queries.workflows.create_workflow(owner_id, request.name, definition)
        return Workflow.model_validate(with_loaded_definition(row))

    def update_workflow(
        self, owner: UUID | None, workflow_id: UUID, request: WorkflowUpdate
    ) -> Workflow:
        """Change the name and/or the definition. A run in progress keeps the definition it
        started with; the next fire runs the new one."""
        definition = None
        if request.definition is not None:
            definition = checked_definition(request.definition)
        row = self.queries.workflows.update_workflow(
            workflow_id, owner, name=request.name, definition=definition
        )
        return Workflow.model_validate(with_loaded_definition(row))

    def delete_workflow(
        self,
        owner: UUID | None,
        workflow_id: UUID,
        *,
        delete_schedules: bool,
        audit: AuditContext = IN_PROCESS,
    ) -> None:
        """Delete the workflow; with `delete_schedules`, its schedules too, all or nothing in the
        database (see the module's docstring); without, Conflict if it has any.

        A run in progress is not stopped: its steps finish, and its record finds its rows gone
        with the workflow (the runner logs it and records nothing).
        """
        touched: list[UUID] = []
        try:
            with self.queries.db.transaction():
                self.queries.workflows.get_workflow(workflow_id, owner)  # else 404
                schedule_ids = self.queries.workflows.schedule_ids(
                    workflow_id, limit=MAX_SCHEDULES_DELETED_WITH_A_WORKFLOW + 1
                )
                if schedule_ids and not delete_schedules:
                    raise Conflict(
                        f"workflow {workflow_id} has schedules: delete them first, or send"
                        " DELETE /api/workflows/{id}?schedules=delete to delete them with it"
                    )
                if len(schedule_ids) > MAX_SCHEDULES_DELETED_WITH_A_WORKFLOW:
                    raise Conflict(
                        f"workflow {workflow_id} has more than"
                        f" {MAX_SCHEDULES_DELETED_WITH_A_WORKFLOW} schedules: delete some of them"
                        " first (DELETE /api/schedules/{id})"
                    )
                self._remove_from_eventbridge(schedule_ids, touched)
                # Now, not before the EventBridge calls: the row lock stops schedules being
                # added and makes the runner wait, so it is held only until the commit.
                self.queries.workflows.lock_workflow(workflow_id, owner)
                # A schedule committed while we were removing the others (its insert ran
                # before the lock) is removed too; none can be added any more.
                seen = set(schedule_ids)
                added = [
                    schedule_id
                    for schedule_id in self.queries.workflows.schedule_ids(workflow_id)
                    if schedule_id not in seen
                ]
                self._remove_from_eventbridge(added, touched)
                # before the rows go: each event's owner is read from its schedule
                self.queries.audit.record_many(
                    audit,
                    [*schedule_ids, *added],
                    "deleted",
                    detail={"withWorkflow": str(workflow_id)},
                )
                # the schedules, their runs and EventBridge records go with it (cascade)
                self.queries.workflows.delete_workflow(workflow_id, owner)
        except Exception:
            # Rolled back (or, a lost commit reply, not): each touched schedule's EventBridge
            # schedules follow its row as committed now, by the schedules' own undo.
            for schedule_id in touched:
                self.schedules.restore_eventbridge(schedule_id)
            raise

    def _remove_from_eventbridge(self, schedule_ids: list[UUID], touched: list[UUID]) -> None:
        """Remove each schedule's EventBridge schedules under its writer lock (taken in id
        order, and held to the commit), noting each as touched before its first call."""
        for schedule_id in sorted(schedule_ids):
            self.queries.schedules.lock_schedule_writers(schedule_id)
        for schedule_id in sorted(schedule_ids):
            touched.append(schedule_id)
            self.eventbridge.remove(schedule_id)


def _owner_of_new_workflow(owner: UUID | None, requested: UUID | None) -> UUID:
    """Whose the new workflow is: the caller's own owner, or (service credential) `ownerId`."""
    if owner is None:
        if requested is None:
            raise InvalidInput(
                "ownerId: required with a credential for every tenant (the owner the workflow"
                " is for)"
            )
        return requested
    if requested is not None and requested != owner:
        raise Forbidden(
            "this credential creates workflows for its own owner only: leave ownerId out"
        )
    return owner
