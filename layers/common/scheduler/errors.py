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


class ExternalIdTaken(Conflict):
    """Another schedule of the same owner has this externalId (it is unique per owner)."""

    def __init__(self, external_id: str) -> None:
        self.external_id = external_id
        super().__init__(
            f"externalId: {external_id!r} is taken by another schedule of the same owner"
        )


class DependencyUnavailable(DomainError):
    """A backend (database, Scheduler API, DynamoDB) failed; retrying later may succeed."""

    code = "unavailable"


class DatabaseUnavailable(DependencyUnavailable):
    pass


class DatabaseNotMigrated(DomainError):
    """A table the code needs is missing: the migrations have not been applied (make migrate)."""


class SchedulerUnavailable(DependencyUnavailable):
    pass


class Unauthorized(DomainError):
    """No valid credentials: missing, expired, badly signed or wrong-audience token."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials that may not do this (a read-only key writing, a user managing keys)."""

    code = "forbidden"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


# --- runner


class WorkflowBusy(Conflict):
    """Another run of the workflow holds its lease: this fire overlaps it."""


class LockUnavailable(DependencyUnavailable):
    """DynamoDB (the lease lock table) failed or throttled; retrying later may succeed."""


class InvalidWorkflowDefinition(InvalidInput):
    """The workflow's definition can never run (a critical error: its schedule is disabled).

    Where the problem is, when it is in one step: `step` (1-based), its `kind` and the `field`
    (JSON name), and `problem` (what is wrong, without them): the API's 422 says it in words.
    """

    def __init__(
        self,
        message: str,
        *,
        step: int | None = None,
        kind: str | None = None,
        field: str | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step, self.kind, self.field = step, kind, field
        self.problem = problem if problem is not None else message


class StepFailed(DomainError):
    """A workflow step ran and failed (non-2xx, timeout, refused target, function error)."""

    code = "step_failed"


class WorkflowSecretError(DomainError):
    """A secret a workflow names cannot be used: not found, not readable, no string value, no
    such JSON key. The run fails; the schedule stays (the secret can be fixed on its own)."""

    code = "workflow_secret"


class SecretUnavailable(DependencyUnavailable):
    """Secrets Manager failed, throttled or timed out reading a workflow's secret."""


# --- API


class ApiKeyNotFound(NotFound):
    def __init__(self, key_id: object) -> None:
        super().__init__(f"API key {key_id} not found")


class InvalidCursor(DomainError):
    """A pagination cursor that this API did not hand out (garbled, forged, wrong types)."""

    code = "invalid_cursor"


class LimitExceeded(DomainError):
    """A per-owner limit is reached (scheduler.policies.owner_limits); `retry_after_s` when waiting
    helps."""

    code = "limit_exceeded"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RunnerUnavailable(DependencyUnavailable):
    """RunnerFunction could not be invoked (a run-now request)."""


# --- reconcile


class ReconcileIncomplete(DependencyUnavailable):
    """A reconcile pass could not repair some schedules; the next pass retries them."""


class MalformedRequest(DomainError):
    """The request cannot even be read (a body that is not UTF-8 JSON)."""

    code = "malformed_json"


class UnsupportedMediaType(DomainError):
    """A request body that is not JSON."""

    code = "unsupported_media_type"


# --- exclusion calendars


class CalendarNotFound(NotFound):
    def __init__(self, calendar_id: object) -> None:
        super().__init__(f"calendar {calendar_id} not found")


class CalendarNameTaken(Conflict):
    """Another calendar of the same owner has this name (names are unique per owner)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"name: {name!r} is taken by another calendar of the same owner")


class CalendarInUse(Conflict):
    """A calendar that schedules exclude cannot be deleted without detaching them; `details`
    names the first few."""

    code = "calendar_in_use"

    def __init__(self, count: int, schedules: list[dict[str, object]]) -> None:
        super().__init__(
            f"the calendar is used by {count} schedule(s): detach them first, or delete with"
            " ?detach=true to remove it from every one of them"
        )
        self.details = schedules
