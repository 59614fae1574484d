"""What the audit log records of a schedule's change: camelCase fields, values as the API shows
them, the input by size only, and which action a change of `enabled` is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from scheduler.api.audit_changes import change_action, schedule_changes


def _row(**fields: Any) -> dict[str, Any]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return {
        "id": uuid4(),
        "workflow_id": uuid4(),
        "cron": "0 7 * * *",
        "timezone": "UTC",
        "enabled": True,
        "input": {},
        "created_at": at,
        "updated_at": at,
        "consecutive_failures": 0,
        **fields,
    }


def test_changed_fields_by_their_api_names_with_values_as_the_api_shows_them() -> None:
    old = _row()
    new = _row(
        start_at=datetime(2027, 1, 1, 8, tzinfo=UTC),
        pause_after_failures=3,
        consecutive_failures=2,  # the service's counter: not anyone's change
    )
    assert schedule_changes(old, new) == {
        "startAt": {"before": None, "after": "2027-01-01T08:00:00Z"},
        "pauseAfterFailures": {"before": None, "after": 3},
    }
    assert schedule_changes(old, _row()) == {}


def test_the_input_is_recorded_by_its_size_only() -> None:
    changes = schedule_changes(_row(input={"a": 1}), _row(input={"a": "secret value"}))
    assert changes == {"input": {"before": {"bytes": 7}, "after": {"bytes": 20}}}
    assert "secret" not in repr(changes)


def test_a_new_schedule_from_null_and_a_deleted_one_to_null() -> None:
    row = _row(name="nightly")
    assert schedule_changes(None, row)["name"] == {"before": None, "after": "nightly"}
    assert schedule_changes(row, None)["cron"] == {"before": "0 7 * * *", "after": None}
    assert "note" not in schedule_changes(None, row)  # never set: not listed


def test_enabled_true_to_false_is_paused_false_to_true_resumed_else_updated() -> None:
    assert change_action(_row(enabled=True), _row(enabled=False)) == "paused"
    assert change_action(_row(enabled=False), _row(enabled=True)) == "resumed"
    assert change_action(_row(), _row(cron="0 8 * * *")) == "updated"
