"""What the audit log records of a schedule's change: each changed field with its value before
and after, by its API (camelCase) name and as the API shows it, and which action the change is.

A schedule's `input` may hold a client's data: the log records that it changed and its size
(bytes of its canonical JSON) before and after, never its values nor a hash of them (a small
value's hash is as good as the value to whoever can guess it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from scheduler.models.schedules import Schedule
from scheduler.store.audit import AuditContext, AuditQueries

# The fields a change of a schedule is recorded by: what a client sets, and why the schedule is
# disabled. Counters and times the service keeps (lastRunAt, consecutiveFailures, updatedAt)
# are not changes of anyone's.
_AUDITED = (
    "name",
    "external_id",
    "cron",
    "at",
    "timezone",
    "enabled",
    "disabled_reason",
    "start_at",
    "end_at",
    "flexible_window_minutes",
    "note",
    "catchup_policy",
    "catchup_window_seconds",
    "overlap_policy",
    "pause_after_failures",
    "labels",
    "exclude_calendars",
    "dst_policy",
)
_ALIASES = {name: Schedule.model_fields[name].alias or name for name in (*_AUDITED, "input")}


def _input_summary(value: Any) -> dict[str, int]:
    canonical = json.dumps(value or {}, sort_keys=True, separators=(",", ":"), default=str)
    return {"bytes": len(canonical.encode())}


def audited_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's audited fields as the API shows them (JSON values, camelCase names)."""
    fields = {name: row.get(name) for name in Schedule.model_fields if name in row}
    if row.get("run_at") is not None:  # a one-time schedule's `at`, in UTC
        fields["at"] = row["run_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Schedule.model_validate(fields).model_dump(
        mode="json", by_alias=True, include=set(_AUDITED)
    )


def schedule_changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    """{field: {before, after}} of each audited field that differs: for a new schedule (`old`
    None) each field set, from null; for a deleted one (`new` None) each field it had, to null.
    `input` is recorded by size only."""
    before = audited_fields(old) if old is not None else {}
    after = audited_fields(new) if new is not None else {}
    changes = {
        field: {"before": before.get(field), "after": after.get(field)}
        for field in (*after, *(f for f in before if f not in after))
        if before.get(field) != after.get(field)
    }
    old_input = None if old is None else old.get("input") or {}
    new_input = None if new is None else new.get("input") or {}
    if (old_input or {}) != (new_input or {}):
        changes[_ALIASES["input"]] = {
            "before": None if old is None else _input_summary(old_input),
            "after": None if new is None else _input_summary(new_input),
        }
    return changes


def change_action(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """`paused` (enabled true -> false), `resumed` (false -> true), else `updated`."""
    if old["enabled"] and not new["enabled"]:
        return "paused"
    if not old["enabled"] and new["enabled"]:
        return "resumed"
    return "updated"


def record_change(
    audit: AuditQueries, context: AuditContext, old: Mapping[str, Any], new: Mapping[str, Any]
) -> None:
    """The event of a schedule's change, in the change's transaction; none when no field
    changed as the API shows it (the same values sent again). A pause or resume carries the
    schedule's note."""
    changes = schedule_changes(old, new)
    if not changes:
        return
    action = change_action(old, new)
    detail = {"note": new.get("note")} if action != "updated" and new.get("note") else None
    audit.record(context, "schedule", [new["id"]], action, changes=changes, detail=detail)
