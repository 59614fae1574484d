"""The API models as JSON Schema (camelCase, as sent over the wire), for front ends:
`python -m scheduler.models.json_schema schema` (`make schema`) writes them into schema/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from scheduler.models.cron_previews import CronPreview
from scheduler.models.errors import ErrorBody, GatewayForbidden, GatewayUnauthorized
from scheduler.models.runs import Run
from scheduler.models.schedule_views import ScheduleDetail, ScheduleView
from scheduler.models.schedules import Schedule, ScheduleCreate, ScheduleUpdate
from scheduler.models.workflows import Workflow, WorkflowCreate, WorkflowUpdate


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas (as sent over the wire: camelCase) of the API's models."""
    return {
        "Schedule": Schedule.model_json_schema(mode="serialization"),
        "ScheduleCreate": ScheduleCreate.model_json_schema(mode="validation"),
        "ScheduleUpdate": ScheduleUpdate.model_json_schema(mode="validation"),
        "Workflow": Workflow.model_json_schema(mode="serialization"),
        "WorkflowCreate": WorkflowCreate.model_json_schema(mode="validation"),
        "WorkflowUpdate": WorkflowUpdate.model_json_schema(mode="validation"),
        "Run": Run.model_json_schema(mode="serialization"),
        "ScheduleView": ScheduleView.model_json_schema(mode="serialization"),
        "ScheduleDetail": ScheduleDetail.model_json_schema(mode="serialization"),
        "CronPreview": CronPreview.model_json_schema(mode="serialization"),
        "ErrorBody": ErrorBody.model_json_schema(mode="serialization"),
        "GatewayUnauthorized": GatewayUnauthorized.model_json_schema(mode="serialization"),
        "GatewayForbidden": GatewayForbidden.model_json_schema(mode="serialization"),
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["schema"]:
        sys.exit("usage: python -m scheduler.models.json_schema schema")
    for path in write_schemas(Path("schema")):
        print(f"wrote {path}")
