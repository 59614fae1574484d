"""ApiFunction's routes of the caller's workflows: the list, and one with its state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Path
from scheduler.api import openapi_docs as docs
from scheduler.models.workflows import Workflow, WorkflowPage
from scheduler.store.pagination import DEFAULT_LIMIT

if TYPE_CHECKING or __package__:  # functions.api.*; in Lambda, top-level (see routing)
    from functions.api.routing import CursorParam, Limit, _owner, _service, app
else:
    from routing import CursorParam, Limit, _owner, _service, app


@app.get(
    "/api/workflows",
    operation_id="listWorkflows",
    summary="The caller's workflows",
    responses=docs.LIST_WORKFLOWS,
)
def list_workflows(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> WorkflowPage:
    return _service().list_workflows(_owner(), limit=limit, cursor=cursor)


@app.get(
    "/api/workflows/<workflow_id>",
    operation_id="getWorkflow",
    summary="One workflow with its state",
    responses=docs.GET_WORKFLOW,
)
def get_workflow(workflow_id: Annotated[UUID, Path()]) -> Workflow:
    return _service().get_workflow(_owner(), workflow_id)
