"""Every EventBridge Scheduler API call of the product, and the mapping row -> schedule(s).

A `schedules` row becomes one EventBridge schedule named `<id>`, or two when its cron needs the
day-of-month / day-of-week OR split: `<id>` (day-of-month half) and `<id>-dow`, plus the one-time
`<id>-dst-<instant>` schedules its DST policy adds (scheduler.sync.dst_schedules). They live in
the stack's schedule group and invoke RunnerFunction with a fixed JSON Input (see DESIGN.md).
botocore errors never leave this module: a failure is `SchedulerUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from scheduler import cron
from scheduler.clients import aws_client
from scheduler.config import get_settings
from scheduler.errors import InvalidInput, SchedulerUnavailable
from scheduler.store.sync_state import Written
from scheduler.sync.dst_schedules import (
    dst_names_among,
    dst_prefix,
    dst_schedules,
    keeps_dst_leftover,
    split_dst_name,
    unwanted_dst_names,
)

DOW_SUFFIX = "-dow"
_NOT_FOUND = "ResourceNotFoundException"
_CONFLICT = "ConflictException"


def schedule_names(schedule_id: UUID | str) -> tuple[str, str]:
    """The names a row may use: the first expression's, then the day-of-week half's."""
    return str(schedule_id), f"{schedule_id}{DOW_SUFFIX}"


def schedule_id_of(name: str) -> UUID | None:
    """The row id an EventBridge schedule name belongs to; None for a name we never make."""
    dst = split_dst_name(name)
    base = dst[0] if dst is not None else name.removesuffix(DOW_SUFFIX)
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


def _whole_second(value: datetime, *, up: bool) -> datetime:
    """`value` in UTC on a whole second (EventBridge keeps dates to the second), rounded up or
    down so the window EventBridge holds never reaches outside the row's."""
    value = value.astimezone(UTC)
    whole = value.replace(microsecond=0)
    if up and whole < value:
        whole += timedelta(seconds=1)
    return whole


def _window(row: Mapping[str, Any]) -> dict[str, Any]:
    """StartDate / EndDate of the row's window; a key only for an end the row sets, so a row
    without a window maps (and fingerprints) as it did before windows existed."""
    window: dict[str, Any] = {}
    if row.get("start_at") is not None:
        window["StartDate"] = _whole_second(row["start_at"], up=True)
    if row.get("end_at") is not None:
        window["EndDate"] = _whole_second(row["end_at"], up=False)
    return window


def _flexible_time_window(row: Mapping[str, Any]) -> dict[str, Any]:
    minutes = int(row.get("flexible_window_minutes") or 0)
    if minutes == 0:
        return {"Mode": "OFF"}
    return {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": minutes}


def desired_schedules(
    row: Mapping[str, Any], now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Name -> the full CreateSchedule/UpdateSchedule kwargs of a schedules row.

    The window's dates are the row's whatever the time: `request_at` adapts them to the moment
    of a call, and `in_effect` compares what a schedule means at a moment.
    A one-time schedule (`run_at`) is one `at(...)` schedule that EventBridge deletes once it
    has fired (ActionAfterCompletion DELETE), wanted only until `run_at` (`now`, default the
    clock): from then on it has fired, or is firing, and is never made again (see
    `keeps_leftover` for when one still there is deleted).
    CronError or InvalidTimezone (ValueErrors) when the row cannot be scheduled as it is.
    """
    if row.get("run_at") is not None:
        return _one_time_schedule(row, datetime.now(UTC) if now is None else now)
    settings = get_settings()
    window = _window(row)
    expressions = cron.to_eventbridge(row["cron"])
    extra = dst_schedules(
        row,
        datetime.now(UTC) if now is None else now,
        flexible_time_window=_flexible_time_window(row),
        target=_target(row),
    )
    return {
        **{
            name: {
                "Name": name,
                "GroupName": settings.schedule_group,
                "ScheduleExpression": expression,
                "ScheduleExpressionTimezone": cron.validate_timezone(row["timezone"]),
                "FlexibleTimeWindow": _flexible_time_window(row),
                "State": "ENABLED" if row["enabled"] else "DISABLED",
                "Description": row["cron"],
                "Target": _target(row),
                **window,
            }
            for name, expression in zip(schedule_names(row["id"]), expressions, strict=False)
        },
        **extra,
    }


def _target(row: Mapping[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    return {
        "Arn": settings.runner_function_arn,
        "RoleArn": settings.scheduler_role_arn,
        "Input": target_input(row),
        "RetryPolicy": {
            "MaximumRetryAttempts": settings.schedule_retry_attempts,
            "MaximumEventAgeInSeconds": settings.schedule_max_event_age_s,
        },
        "DeadLetterConfig": {"Arn": settings.schedule_dlq_arn},
    }


def _one_time_schedule(row: Mapping[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    """desired_schedules of a one-time schedule: its at(), until `run_at`."""
    run_at, zone = row["run_at"], cron.validate_timezone(row["timezone"])
    expression = cron.to_eventbridge_at(run_at, zone)
    if run_at <= now:
        return {}
    name = str(row["id"])
    return {
        name: {
            "Name": name,
            "GroupName": get_settings().schedule_group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": zone,
            "FlexibleTimeWindow": _flexible_time_window(row),
            "State": "ENABLED" if row["enabled"] else "DISABLED",
            "Description": f"at {cron.at_text(run_at, zone)}",
            "ActionAfterCompletion": "DELETE",
            "Target": _target(row),
        }
    }


def keeps_leftover(row: Mapping[str, Any], now: datetime, name: str | None = None) -> bool:
    """True while a one-time schedule's at() (or the DST at() schedule `name`: see
    dst_schedules.keeps_dst_leftover) may still be delivering, though no longer wanted:
    until `run_at` plus its flexible window plus the fire's maximum event age (EventBridge
    retries a delivery that long). EventBridge deletes it itself once done; one still there
    after that (a deletion that failed, or an engine that does not delete) is removed. Deleting
    it earlier could lose the fire (the missed-fire check would then catch it up)."""
    if name is not None and split_dst_name(name) is not None:
        return keeps_dst_leftover(name, row, now)
    if row.get("run_at") is None:
        return False
    minutes = int(row.get("flexible_window_minutes") or 0)
    settle = timedelta(minutes=minutes, seconds=get_settings().schedule_max_event_age_s)
    return bool(now < row["run_at"] + settle)


def as_instant(value: Any) -> datetime | None:
    """A date of the Scheduler API as an aware UTC datetime on a whole second: botocore parses
    them to datetimes, a client that keeps them raw (the local engine's) gives epoch seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        return None
    return moment.astimezone(UTC).replace(microsecond=0)


def has_ended(schedule: Mapping[str, Any], now: datetime) -> bool:
    """True once the schedule's EndDate is past: it fires no more, whatever its State."""
    end = as_instant(schedule.get("EndDate"))
    return end is not None and end <= now


def request_at(kwargs: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The Create/UpdateSchedule request for `kwargs` (desired_schedules) sent at `now`.

    A StartDate already past limits nothing and is left out: EventBridge refuses one more than
    5 minutes old. Past its EndDate a schedule has ended: it is sent DISABLED, without the date
    (which nothing obliges EventBridge to take in the past), and fires nothing either way.
    """
    request = dict(kwargs)
    start = as_instant(request.get("StartDate"))
    if start is not None and start <= now:
        del request["StartDate"]
    if has_ended(request, now):
        del request["EndDate"]
        request["State"] = "DISABLED"
    return request


def in_effect(schedule: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """What a schedule (a GetSchedule answer or a desired request) means at `now`, for
    comparing the two: its dates as instants, those that no longer limit anything left out,
    and an ended one DISABLED. A schedule written before its start or end passed and one
    written after mean the same."""
    effect = request_at(schedule, now)
    for key in ("StartDate", "EndDate"):
        if key in effect:
            effect[key] = as_instant(effect[key])
    return effect


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

    def apply(
        self,
        row: Mapping[str, Any],
        existing: Collection[str] | None = None,
        *,
        dst_known: Collection[str] | None = None,
    ) -> Written:
        """Make EventBridge hold exactly the row's schedule(s): create or update, drop surplus.

        `existing` names the schedules believed to exist now (None: unknown), so a create
        or an update makes only the calls it needs; a wrong belief costs a retry, not an error.
        The row's DST at() schedules that may be surplus are those among `existing`, else among
        `dst_known` (reconcile's listing), else listed here.
        Returns what was written, for the caller to record with the row (SyncStateQueries).
        """
        now = datetime.now(UTC)
        try:
            desired = desired_schedules(row, now)
        except ValueError as exc:  # a row written around the API, or by an older converter
            raise InvalidInput(
                f"the stored cron or timezone cannot be scheduled ({exc}); send new ones"
            ) from exc
        try:
            for name, kwargs in desired.items():
                self._put(kwargs, exists=existing is None or name in existing)
            for name in schedule_names(row["id"]):
                unwanted = name not in desired and (existing is None or name in existing)
                if unwanted and not keeps_leftover(row, now):
                    self._delete(name)
            known = existing if existing is not None else dst_known
            if known is None:
                known = self._dst_names(row["id"])
            for name in unwanted_dst_names(row, known, desired.keys(), now):
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
        kwargs = {**request_at(kwargs, datetime.now(UTC)), "GroupName": self.group}
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

    def put_one(self, kwargs: Mapping[str, Any]) -> None:
        """Create one schedule (overwritten where it exists) that no row maps to: a moved
        occurrence's at() (scheduler.sync.moves). SchedulerUnavailable on failure."""
        try:
            self._put(dict(kwargs), exists=False)
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc

    def delete_one(self, name: str) -> None:
        """Delete one schedule by name; one already gone is fine. SchedulerUnavailable."""
        try:
            self._delete(name)
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc

    def remove(self, schedule_id: UUID | str, dst_known: Collection[str] | None = None) -> None:
        """Delete every schedule of a row; names already gone are fine. Its DST at() schedules
        are those among `dst_known` (reconcile's listing), else listed here."""
        try:
            dst = self._dst_names(schedule_id) if dst_known is None else dst_known
            for name in (*schedule_names(schedule_id), *dst_names_among(schedule_id, dst)):
                self._delete(name)
        except (ClientError, BotoCoreError) as exc:
            raise SchedulerUnavailable(f"EventBridge Scheduler failed: {exc}") from exc

    def _dst_names(self, schedule_id: UUID | str) -> list[str]:
        """The row's DST at() schedules EventBridge holds now (one ListSchedules call)."""
        paginator = self.client.get_paginator("list_schedules")
        pages = paginator.paginate(GroupName=self.group, NamePrefix=dst_prefix(schedule_id))
        names = [s["Name"] for page in pages for s in page.get("Schedules", [])]
        return dst_names_among(schedule_id, names)

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
