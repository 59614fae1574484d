"""ApiFunction's routes of the caller's workflows: create, list, read, change, delete.

What each may answer, and the links between them: scheduler.api.openapi_docs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import (
    CursorParam,
    Limit,
    WorkflowId,
    app,
    audit_context,
    caller_owner,
    schedule_service,
    workflow_service,
)
from scheduler.models.workflows import Workflow, WorkflowCreate, WorkflowPage, WorkflowUpdate
from scheduler.store.pagination import DEFAULT_LIMIT


@app.post(
    "/api/workflows",
    status_code=201,
    operation_id="createWorkflow",
    summary="Create a workflow (its definition checked as the runner loads it)",
    responses=docs.CREATE_WORKFLOW,
)
def create_workflow(body: WorkflowCreate) -> Workflow:
    return workflow_service().create_workflow(caller_owner(), body)


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
def get_workflow(workflow_id: WorkflowId) -> Workflow:
    return schedule_service().get_workflow(caller_owner(), workflow_id)


@app.patch(
    "/api/workflows/<workflow_id>",
    operation_id="updateWorkflow",
    summary="Change a workflow's name and/or definition",
    responses=docs.UPDATE_WORKFLOW,
)
def update_workflow(workflow_id: WorkflowId, body: WorkflowUpdate) -> Workflow:
    return workflow_service().update_workflow(caller_owner(), workflow_id, body)


@app.delete(
    "/api/workflows/<workflow_id>",
    operation_id="deleteWorkflow",
    summary="Delete a workflow; one with schedules only with ?schedules=delete",
    responses=docs.DELETE_WORKFLOW,
)
def delete_workflow(
    workflow_id: WorkflowId,
    schedules: Annotated[
        Literal["delete"] | None,
        Query(
            description="delete: delete the workflow's schedules (and their EventBridge"
            " schedules and runs) with it; without, a workflow with schedules is refused (409)"
        ),
    ] = None,
) -> Response[None]:
    workflow_service().delete_workflow(
        caller_owner(),
        workflow_id,
        delete_schedules=schedules == "delete",
        audit=audit_context(),
    )
    return Response(status_code=204, content_type=None, body=None)
