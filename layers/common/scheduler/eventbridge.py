"""Every EventBridge Scheduler API call of the product, and the mapping row -> schedule(s).

A `schedules` row becomes one EventBridge schedule named `<id>`, or two when its cron needs the
day-of-month / day-of-week OR split: `<id>` (day-of-month half) and `<id>-dow`. They live in the
stack's schedule group and invoke RunnerFunction with a fixed JSON Input (see DESIGN.md).
botocore errors never leave this module: a failure is `SchedulerUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from scheduler import cron
from scheduler.clients import aws_client
from scheduler.config import get_settings
from scheduler.errors import InvalidInput, SchedulerUnavailable
from scheduler.sync_store import Written

DOW_SUFFIX = "-dow"
_NOT_FOUND = "ResourceNotFoundException"
_CONFLICT = "ConflictException"


def schedule_names(schedule_id: UUID | str) -> tuple[str, str]:
    """The names a row may use: the first expression's, then the day-of-week half's."""
    return str(schedule_id), f"{schedule_id}{DOW_SUFFIX}"


def schedule_id_of(name: str) -> UUID | None:
    """The row id an EventBridge schedule name belongs to; None for a name we never make."""
    base = name.removesuffix(DOW_SUFFIX)
    try:
        schedule_id = UUID(base)
    except ValueError:
        return None
    return schedule_id if str(schedule_id) == base else None


def target_input(row: Mapping[str, Any]) -> str:
    """The runner's event; EventBridge fills in the two placeholders at each fire."""
    return json.dumps(
        {
            "scheduleId": str(row["id"]),
            "workflowId": str(row["workflow_id"]),
            "scheduledTime": "<aws.scheduler.scheduled-time>",
            "attempt": "<aws.scheduler.attempt-number>",
        },
        separators=(",", ":"),
    )


def desired_schedules(row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Name -> the full CreateSchedule/UpdateSchedule kwargs of a schedules row (pure).

    CronError or InvalidTimezone (ValueErrors) when the row cannot be scheduled as it is.
    """
    settings = get_settings()
    target = {
        "Arn": settings.runner_function_arn,
        "RoleArn": settings.scheduler_role_arn,
        "Input": target_input(row),
        "RetryPolicy": {
            "MaximumRetryAttempts": settings.schedule_retry_attempts,
            "MaximumEventAgeInSeconds": settings.schedule_max_event_age_s,
        },
        "DeadLetterConfig": {"Arn": settings.schedule_dlq_arn},
    }
    expressions = cron.to_eventbridge(row["cron"])
    return {
        name: {
            "Name": name,
            "GroupName": settings.schedule_group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": cron.validate_timezone(row["timezone"]),
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if row["enabled"] else "DISABLED",
            "Description": row["cron"],
            "Target": target,
        }
        for name, expression in zip(schedule_names(row["id"]), expressions, strict=False)
    }


def fingerprint(desired: Mapping[str, Mapping[str, Any]]) -> str:
    """SHA-256 of every request a row maps to (desired_schedules): equal fingerprints, equal
    schedules. It covers the stack's settings too (runner ARN, role, retries), so a redeploy
    that changes one makes reconcile look at every schedule again."""
    text = json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class EventBridgeSchedules:
    """The schedules of one group. The client is looked up per call so tests can swap it."""

    def __init__(self, client: Any | None = None, group: str | None = None) -> None:
        self._client = client
        self.group = group or get_settings().schedule_group

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws_client("scheduler")

    def apply(self, row: Mapping[str, Any], existing: Collection[str] | None = None) -> Written:
        """Make EventBridge hold exactly the row's schedule(s): create or update, drop surplus.

        `existing` names the schedules believed to exist now (None: unknown), so a create
        or an update makes only the calls it needs; a wrong belief costs a retry, not an error.
        Returns what was written, for the caller to record with the row (sync_store).
        """
        try:
            desired = desired_schedules(row)
        except ValueError as exc:  # a row written around the API, or by an older converter
            raise InvalidInput(
                f"the stored cron or timezone cannot be scheduled ({exc}); send new ones"
            ) from exc
        try:
            for name, kwargs in desired.items():
                self._put(kwargs, exists=existing is None or name in existing)
            for name in schedule_names(row["id"]):
                if name not in desired and (existing is None or name in existing):
                    self._delete(name)
        except ClientError as exc:
            if _code(exc) == "ValidationException":  # not transient: retrying cannot help
                message = exc.response.get("Error", {}).get("Message", "")
                raise InvalidInput(f"EventBridge Scheduler rejected it: {message}") from exc
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc
        except BotoCoreError as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc
        # Read after the last answer: AWS stamped every write before it answered, so a
        # LastModificationDate newer than this (beyond clock skew) is someone else's write.
        return Written(fingerprint(desired), datetime.now(UTC))

    def _put(self, kwargs: dict[str, Any], *, exists: bool) -> None:
        kwargs = {**kwargs, "GroupName": self.group}
        first, fallback, miss = (
            (self.client.update_schedule, self.client.create_schedule, _NOT_FOUND)
            if exists
            else (self.client.create_schedule, self.client.update_schedule, _CONFLICT)
        )
        try:
            first(**kwargs)
        except ClientError as exc:
            if _code(exc) != miss:
                raise
            fallback(**kwargs)  # drift, or a concurrent writer: the row's state wins

    def _delete(self, name: str) -> None:
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except ClientError as exc:
            if _code(exc) != _NOT_FOUND:
                raise

    def remove(self, schedule_id: UUID | str) -> None:
        """Delete every schedule of a row; names already gone are fine."""
        try:
            for name in schedule_names(schedule_id):
                self._delete(name)
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc

    def get(self, name: str) -> dict[str, Any] | None:
        """The full GetSchedule description, or None when there is no such schedule."""
        try:
            response = self.client.get_schedule(Name=name, GroupName=self.group)
        except ClientError as exc:
            if _code(exc) == _NOT_FOUND:
                return None
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc
        except BotoCoreError as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc
        response.pop("ResponseMetadata", None)
        return dict(response)

    def iter_schedules(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        """Summaries (Name, State, LastModificationDate, ...) of the group's schedules whose name
        starts with `prefix` (every one for ""), page by page."""
        filters = {"NamePrefix": prefix} if prefix else {}
        try:
            paginator = self.client.get_paginator("list_schedules")
            # the API's largest page: the fewest ListSchedules calls per pass
            pages = paginator.paginate(
                GroupName=self.group, **filters, PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                yield from page.get("Schedules", [])
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc

    def list_names(self) -> list[str]:
        return [summary["Name"] for summary in self.iter_schedules()]

    def ensure_group(self) -> None:
        """Create the group if missing (the SAM template owns it in AWS; local stack and tests)."""
        try:
            try:
                self.client.get_schedule_group(Name=self.group)
            except ClientError as exc:
                if _code(exc) != _NOT_FOUND:
                    raise
                self.client.create_schedule_group(Name=self.group)
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc
