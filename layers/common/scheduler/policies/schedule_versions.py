"""A schedule as it was: its versions over an interval, rebuilt from its audit log.

The fire times a schedule should have had at an instant are those of its definition *then*:
before a PATCH of its cron, the old cron's. The audit log records each change with each field's
value before and after, as the API shows it; undoing, newest first, the changes of the fields
that decide when it fires (WHEN_FIELDS) from the row as it is now gives the row as it was
before each. A creation's event is not undone: the schedule did not exist before it (its
fire times start at created_at, scheduler.policies.expected.expected_fires).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The API's name of each field that decides the fire times, and the row's column.
WHEN_FIELDS = {
    "cron": "cron",
    "at": "run_at",
    "timezone": "timezone",
    "startAt": "start_at",
    "endAt": "end_at",
    "flexibleWindowMinutes": "flexible_window_minutes",
    "dstPolicy": "dst_policy",
}
# The DST policy's members, as the API (and so the audit log) names them, and the column.
_DST_POLICY_MEMBERS = {"springForward": "spring_forward", "fallBack": "fall_back"}
_INSTANTS = frozenset({"run_at", "start_at", "end_at"})


@dataclass(frozen=True)
class Version:
    """The schedule as it was over (since, until]: None, from its creation / up to now."""

    row: Mapping[str, Any]
    since: datetime | None
    until: datetime | None


def versions(row: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> list[Version]:
    """The row's versions, oldest first, from `changes`: the audit events (occurred_at,
    changes) that changed a field of WHEN_FIELDS, oldest first. A value the log holds that
    cannot be read back keeps the field as the next version has it."""
    current: dict[str, Any] = dict(row)
    newest_first: list[Version] = []
    until: datetime | None = None
    for event in reversed(changes):
        newest_first.append(Version(current, event["occurred_at"], until))
        before = dict(current)
        for name, column in WHEN_FIELDS.items():
            change = (event["changes"] or {}).get(name)
            if isinstance(change, Mapping) and "before" in change:
                before[column] = _column_value(column, change["before"], current[column])
        current, until = before, event["occurred_at"]
    newest_first.append(Version(current, None, until))
    return newest_first[::-1]


def _column_value(column: str, shown: Any, otherwise: Any) -> Any:
    """A value as the API shows it (the audit log's) as the row holds it."""
    if column == "dst_policy" and isinstance(shown, Mapping):
        return {_DST_POLICY_MEMBERS.get(k, k): v for k, v in shown.items()}
    if column not in _INSTANTS or shown is None:
        return shown
    try:
        instant = datetime.fromisoformat(str(shown))
    except ValueError:
        return otherwise
    return otherwise if instant.tzinfo is None else instant
