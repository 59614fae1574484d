"""EventBridge's side of a moved occurrence: one one-time at() schedule per `move` exception.

The schedule's cron still fires at the original time (the runner finds the move with its claim
and runs nothing then); the at() named `move-<exception id>` fires at the new time with a target
Input whose `scheduledTime` is the ORIGINAL slot, so the run's identity (schedule, slot) is the
original one and a duplicate delivery dedupes as any other; `movedTo` tells the runner which
delivery it is. The expression is written in UTC: a new time in a repeated autumn hour is then
exactly the instant the client meant. EventBridge deletes it once fired (ActionAfterCompletion
DELETE). Names starting `move-` are never a row id, so the per-row reconcile leaves them alone:
`reconcile_moves` keeps them, creating the missing at() of every future move and deleting those
whose exception is gone (after ORPHAN_GRACE: the API creates one before its row commits) or whose
fire is over. It lists the `move-` names only while some move exists (a pass of a stack that
uses none makes no call): an at() left over then is harmless, a runner finds no move for it, and
EventBridge deletes it once it has fired.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.errors import DomainError
from scheduler.observability import logger
from scheduler.store.exceptions import ExceptionQueries
from scheduler.sync.eventbridge import EventBridgeSchedules, as_instant

PREFIX = "move-"
# An at() newer than this may be an API add that has not committed yet: not an orphan until later.
ORPHAN_GRACE = timedelta(minutes=5)


def move_name(exception_id: UUID | str) -> str:
    return f"{PREFIX}{exception_id}"


def exception_id_of(name: str) -> UUID | None:
    try:
        return UUID(name.removeprefix(PREFIX)) if name.startswith(PREFIX) else None
    except ValueError:
        return None


def move_request(move: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The CreateSchedule request of a move (id, schedule_id, workflow_id, occurrence, move_to)."""
    settings = get_settings()
    target_input = {
        "scheduleId": str(move["schedule_id"]),
        "workflowId": str(move["workflow_id"]),
        "scheduledTime": iso_utc(move["occurrence"]),
        "attempt": "<aws.scheduler.attempt-number>",
        "movedTo": iso_utc(move["move_to"]),
    }
    return {
        "Name": move_name(move["id"]),
        "GroupName": group,
        "ScheduleExpression": cron.to_eventbridge_at(move["move_to"], "UTC"),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": f"moved occurrence {iso_utc(move['occurrence'])} of {move['schedule_id']}",
        "ActionAfterCompletion": "DELETE",
        "Target": {
            "Arn": settings.runner_function_arn,
            "RoleArn": settings.scheduler_role_arn,
            "Input": json.dumps(target_input, separators=(",", ":")),
            "RetryPolicy": {
                "MaximumRetryAttempts": settings.schedule_retry_attempts,
                "MaximumEventAgeInSeconds": settings.schedule_max_event_age_s,
            },
            "DeadLetterConfig": {"Arn": settings.schedule_dlq_arn},
        },
    }


def fire_settled(move_to: datetime, now: datetime) -> bool:
    """True once an at() at `move_to` can deliver no more (its event's maximum age is past)."""
    return now >= move_to + timedelta(seconds=get_settings().schedule_max_event_age_s)


class MoveSchedules:
    """The at() schedules of moves, in the group of `schedules` (its client, looked up per call)."""

    def __init__(self, schedules: EventBridgeSchedules) -> None:
        self.schedules = schedules

    def put(self, move: Mapping[str, Any]) -> None:
        """Create (or overwrite) the move's at(); SchedulerUnavailable."""
        self.schedules.put_one(move_request(move, self.schedules.group))

    def delete(self, exception_id: UUID | str) -> None:
        """Delete the move's at(); one already gone is fine. SchedulerUnavailable."""
        self.schedules.delete_one(move_name(exception_id))


@dataclass
class MovesSummary:
    created: int = 0  # made, or rewritten for a runner a redeploy moved
    deleted: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def reconcile_moves(
    exceptions: ExceptionQueries,
    schedules: EventBridgeSchedules,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> MovesSummary:
    """Make EventBridge hold an at() for every move still to fire, and none for a move that is
    gone or done. One listing of the `move-` names, one query; calls only for what differs."""
    summary = MovesSummary()
    if not exceptions.any_move():
        # no listing at all then: an at() left without its row (a failed undo, a deleted
        # schedule's) fires into a runner that finds no move, and EventBridge deletes it
        return summary
    moves = MoveSchedules(schedules)
    at = now()
    listed = {s["Name"]: s for s in schedules.iter_schedules(PREFIX)}
    wanted = {move_name(m["id"]): m for m in exceptions.moves_after(at)}
    runner = get_settings().runner_function_arn
    for name, move in wanted.items():
        # the listing's target says whether a redeploy moved the runner: then it is rewritten
        target = (listed.get(name) or {}).get("Target") or {}
        if name in listed and target.get("Arn", runner) == runner:
            continue
        summary.created += _try(moves.put, move, summary, name)
    for name, brief in listed.items():
        exception_id = exception_id_of(name)
        if name in wanted or exception_id is None:
            continue
        row = exceptions.get_exception(exception_id)
        changed = as_instant(brief.get("LastModificationDate") or brief.get("CreationDate"))
        if row is None and changed is not None and changed > at - ORPHAN_GRACE:
            continue  # maybe an add in flight
        if row is not None and row["action"] == "move" and not fire_settled(row["move_to"], at):
            continue  # firing now, or still retrying its delivery
        summary.deleted += _try(moves.delete, exception_id, summary, name)
    if summary.created or summary.deleted or summary.failed:
        logger.info("moved occurrences reconciled", extra={"moves": summary.as_dict()})
    return summary


def _try[T](call: Callable[[T], None], arg: T, summary: MovesSummary, name: str) -> int:
    try:
        call(arg)
    except DomainError:
        logger.exception("reconcile could not repair a move's at() schedule", name=name)
        summary.failed += 1
        return 0
    return 1
