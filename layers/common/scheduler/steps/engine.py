"""runWorkflow: the workflow engine, executing a workflow definition's steps in order.

A definition is user input: `{"steps": [{"type": "http", ...}, {"type": "lambda", ...}]}`.
Each step kind is a pydantic model plus an executor, registered with `register_step`; a new kind
plugs in by registering, the runner never changes. `run_workflow` never raises: it returns a
`WorkflowResult` that the runner records (run row, workflow state) in one transaction.

The built-in kinds live in their own modules, imported at the end of this one (see there):
`http_step` (the `http` step) and `lambda_invoke` (the `lambda` step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.cron.timezones import iso_utc
from scheduler.errors import InvalidWorkflowDefinition, StepFailed
from scheduler.observability import logger
from scheduler.steps.definitions import load_definition

_MAX_STEPS = 50


@dataclass(frozen=True)
class RunContext:
    """What a step knows about the run it belongs to.

    `schedule_id`, `external_id`, `input` and `scheduled_time` (the fire's nominal time) are
    what placeholders name (scheduler.steps.placeholders) and the lambda step's event carries.
    """

    run_id: UUID
    schedule_id: UUID
    workflow_id: UUID
    scheduled_time: datetime
    trigger: str = "schedule"
    attempt: int = 1
    # time.monotonic() by which the steps must be done, so the runner can still record the run
    deadline: float = math.inf
    # the schedule's input (a bounded JSON object: scheduler.models.schedule_input)
    input: dict[str, Any] = field(default_factory=dict)
    # the schedule's externalId (scheduler.models.schedule_identity); None when it has none
    external_id: str | None = None

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def as_payload(self) -> dict[str, Any]:
        return {
            "runId": str(self.run_id),
            "scheduleId": str(self.schedule_id),
            "workflowId": str(self.workflow_id),
            "scheduledTime": iso_utc(self.scheduled_time),
            "trigger": self.trigger,
            "attempt": self.attempt,
        }

    def schedule_payload(self) -> dict[str, Any]:
        """The schedule as the lambda step's event carries it (`schedule`)."""
        return {
            "id": str(self.schedule_id),
            "externalId": self.external_id,
            "input": self.input,
            "scheduledTime": iso_utc(self.scheduled_time),
        }


@dataclass
class StepResult:
    index: int
    type: str
    status: Literal["succeeded", "failed"]
    duration_ms: int
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class WorkflowResult:
    status: Literal["succeeded", "failed"]
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    # the workflow can never run as defined: the runner disables the schedule
    critical: bool = False

    def output(self) -> dict[str, Any]:
        """Per-step results as stored on the run row (`schedule_runs.output`)."""
        return {
            "steps": [
                {
                    "index": step.index,
                    "type": step.type,
                    "status": step.status,
                    "durationMs": step.duration_ms,
                    **({"detail": step.detail} if step.detail else {}),
                    **({"error": step.error} if step.error else {}),
                }
                for step in self.steps
            ]
        }


# --- step registry

StepExecutor = Callable[[Any, RunContext], dict[str, Any]]
_STEPS: dict[str, tuple[type[BaseModel], StepExecutor]] = {}


def step_kinds() -> list[str]:
    """The kinds of step a definition may use, sorted (the built-in ones, and any registered)."""
    return sorted(_STEPS)


def register_step(kind: str, model: type[BaseModel]) -> Callable[[StepExecutor], StepExecutor]:
    """Register the executor of step `kind`, whose definition `model` validates."""

    def decorator(executor: StepExecutor) -> StepExecutor:
        _STEPS[kind] = (model, executor)
        return executor

    return decorator


class StepModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Definition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    steps: list[dict[str, Any]] = Field(max_length=_MAX_STEPS)


def parse_definition(definition: Any) -> list[tuple[str, BaseModel]]:
    """The definition's steps, validated; InvalidWorkflowDefinition says what is wrong (and, for
    a step, which step, its kind and the field)."""
    try:
        raw_steps = _Definition.model_validate(definition).steps
    except ValidationError as exc:  # from None: a ValidationError's text quotes its input
        error = exc.errors()[0]
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            raise InvalidWorkflowDefinition(
                f"invalid definition: {_first_error(exc)}",
                step=loc[1] + 1,
                problem="must be an object",
            ) from None
        raise InvalidWorkflowDefinition(
            f"invalid definition: {_first_error(exc)}",
            field=".".join(str(part) for part in loc) or None,
            problem=_in_words(error),
        ) from None
    steps = []
    for index, raw in enumerate(raw_steps, start=1):
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in _STEPS:
            known = ", ".join(step_kinds())
            raise InvalidWorkflowDefinition(
                f"step {index}: unknown type {kind!r} (known: {known})",
                step=index,
                field="type",
                problem=(
                    f"is required (one of: {known})"
                    if kind is None
                    else f"is not a step kind (known: {known})"
                ),
            )
        model = _STEPS[kind][0]
        try:
            steps.append((kind, model.model_validate(raw)))
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidWorkflowDefinition(
                f"step {index} ({kind}): {_first_error(exc)}",
                step=index,
                kind=kind,
                field=".".join(str(part) for part in error["loc"]) or None,
                problem=_in_words(error, model),
            ) from None
    return steps


def run_workflow(workflow: dict[str, Any], run: RunContext) -> WorkflowResult:
    """Execute `workflow["definition"]` step by step, stopping at the first failure.

    Never raises: an invalid definition is a critical failure, any other error a failed run.
    The definition may be given as its stored JSON text, loaded here (see `definitions`).
    """
    try:
        definition = workflow.get("definition")
        if isinstance(definition, str):
            definition = load_definition(definition)
        steps = parse_definition(definition)
    except InvalidWorkflowDefinition as exc:
        return WorkflowResult(status="failed", error=str(exc), critical=True)
    # every secret the steps name is read, and every placeholder replaced, before the first
    # step: one missing fails the run before any step has had an effect
    for index, (kind, step) in enumerate(steps, start=1):
        if isinstance(step, http_step.HttpStep) and (step.secret_refs() or step.has_placeholders()):
            try:
                http_step.check_request(step, run)
            except StepFailed as exc:
                return WorkflowResult(status="failed", error=f"step {index} ({kind}): {exc}")
    results: list[StepResult] = []
    for index, (kind, step) in enumerate(steps, start=1):
        started = time.monotonic()
        try:
            if run.remaining_s() <= 0:
                raise StepFailed("not started: the run's time ran out")
            detail = _STEPS[kind][1](step, run)
        except Exception as exc:  # every step failure is recorded, none escapes the run
            error = f"step {index} ({kind}): {exc}"
            if not isinstance(exc, StepFailed):
                logger.exception("workflow step crashed", step=index, step_type=kind)
                error = f"step {index} ({kind}): {type(exc).__name__}: {exc}"
            results.append(StepResult(index, kind, "failed", _elapsed_ms(started), error=error))
            return WorkflowResult(status="failed", steps=results, error=error)
        results.append(StepResult(index, kind, "succeeded", _elapsed_ms(started), detail))
    return WorkflowResult(status="succeeded", steps=results)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "definition"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def _in_words(error: Any, model: type[BaseModel] | None = None) -> str:
    """What is wrong with the field a pydantic error is about, without pydantic's prefixes."""
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden" and model is not None:
        fields = ", ".join(info.alias or name for name, info in model.model_fields.items())
        return f"is not a field of this step (its fields: {fields})"
    return str(error["msg"]).removeprefix("Value error, ")


# --- the built-in step kinds

# Imported last, for their `register_step` side effect: whichever of these modules is imported
# first, every kind is registered before `parse_definition` or `run_workflow` can be called.
# Each step module imports the engine above (RunContext, StepModel, register_step), so
# importing it at the top would stop at names not defined yet. A plain module import (never
# `from scheduler.steps.http import HttpStep`): when a step module is imported first, it is only
# half-initialized here, and `run_workflow` looks up `http_step.HttpStep` when it runs.
from scheduler.steps import http as http_step  # noqa: E402
from scheduler.steps import lambda_step  # noqa: E402, F401
