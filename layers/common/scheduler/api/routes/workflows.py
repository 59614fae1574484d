"""ApiFunction's routes of the caller's workflows: the list, and one with its state."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Path

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import CursorParam, Limit, app, caller_owner, schedule_service
from scheduler.models.workflows import Workflow, WorkflowPage
from scheduler.store.pagination import DEFAULT_LIMIT


@app.get(
    "/api/workflows",
    operation_id="listWorkflows",
    summary="The caller's workflows",
    responses=docs.LIST_WORKFLOWS,
)
def list_workflows(limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None) -> WorkflowPage:
    return schedule_service().list_workflows(caller_owner(), limit=limit, cursor=cursor)


@app.get(
    "/api/workflows/<workflow_id>",
    operation_id="getWorkflow",
    summary="One workflow with its state",
    responses=docs.GET_WORKFLOW,
)
def get_workflow(workflow_id: Annotated[UUID, Path()]) -> Workflow:
    return schedule_service().get_workflow(caller_owner(), workflow_id)
