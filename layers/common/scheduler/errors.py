"""Domain errors: what went wrong in the product's words. The API maps them to HTTP once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the product raises on purpose."""

    code = "error"


class NotFound(DomainError):
    code = "not_found"


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: object) -> None:
        super().__init__(f"schedule {schedule_id} not found")


class WorkflowNotFound(NotFound):
    def __init__(self, workflow_id: object) -> None:
        super().__init__(f"workflow {workflow_id} not found")


class InvalidInput(DomainError):
    """The request is well formed but its content cannot be accepted."""

    code = "invalid_input"


class Conflict(DomainError):
    code = "conflict"


class SlotAlreadyClaimed(Conflict):
    """A run for this (schedule, scheduled time) exists: a duplicate delivery."""


class DependencyUnavailable(DomainError):
    """A backend (database, Scheduler API, DynamoDB) failed; retrying later may succeed."""

    code = "unavailable"


class DatabaseUnavailable(DependencyUnavailable):
    pass


class SchedulerUnavailable(DependencyUnavailable):
    pass
