"""Whether an EventBridge schedule, as ListSchedules or GetSchedule shows it, does what the row
wants now (scheduler.sync.reconcile's comparisons)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from scheduler.sync.eventbridge import has_ended, in_effect

# Fields of a schedule that the row decides; anything else AWS returns is not ours to compare.
# StartDate / EndDate are compared as instants, in effect now (eventbridge.in_effect).
COMPARED_FIELDS = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "State",
    "Description",
    "FlexibleTimeWindow",
    "StartDate",
    "EndDate",
)


class Listed(NamedTuple):
    state: str | None
    modified_at: datetime | None  # LastModificationDate
    changed_at: datetime | None  # LastModificationDate, or CreationDate


def state_in_step(listed: str | None, wanted: Mapping[str, Any], now: datetime) -> bool:
    """The listed State is the row's; an ended schedule is in step in either (written before
    its end it says ENABLED, after it DISABLED: neither fires)."""
    return has_ended(wanted, now) or listed == wanted["State"]


def matches(actual: Mapping[str, Any], wanted: Mapping[str, Any], now: datetime) -> bool:
    """The schedule does what the row says, now: the window's dates compared as instants (AWS
    answers datetimes, a raw client epoch seconds), and a StartDate already past, written or
    not, limits nothing. A date the row does not have silences it outside a window the row knows
    nothing of, and is a difference."""
    actual_effect, wanted_effect = in_effect(actual, now), in_effect(wanted, now)
    if any(actual_effect.get(f) != wanted_effect.get(f) for f in COMPARED_FIELDS):
        return False
    # AWS answers NONE for a schedule made without it, a one-time schedule's is DELETE; an
    # engine that keeps none (moto's UpdateSchedule drops it) is not told it again each pass
    action = actual.get("ActionAfterCompletion")
    if action is not None and action != wanted.get("ActionAfterCompletion", "NONE"):
        return False
    target = actual.get("Target") or {}
    return all(target.get(key) == value for key, value in wanted["Target"].items())


def as_time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def listed(brief: Mapping[str, Any]) -> Listed:
    modified = as_time(brief.get("LastModificationDate"))
    return Listed(brief.get("State"), modified, modified or as_time(brief.get("CreationDate")))
