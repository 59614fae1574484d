"""What a schedule row looks like to the API: its cron described, its next fire times inside its
window, its DST notes, and what keeps a stored row from being scheduled."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from scheduler import cron
from scheduler.cron import dst as cron_dst
from scheduler.models.schedule_views import ScheduleView
from scheduler.policies.expected import next_window_fires

# How many next fire times a schedule's read and a cron preview show.
NEXT_RUN_PREVIEW = 5


def unschedulable(row: Mapping[str, Any]) -> tuple[str, ValueError] | None:
    """The stored field (`cron` or `timezone`) that keeps a row from being scheduled, and why.

    None when the row can be scheduled. A row may hold a value valid when written that no
    longer is (a zone removed from tzdata, an older converter's cron), or one written by SQL.
    """
    if row.get("run_at") is None:
        try:
            cron.to_eventbridge(row["cron"])
        except ValueError as exc:  # CronError
            return "cron", exc
    try:
        cron.validate_timezone(row["timezone"])
    except ValueError as exc:  # InvalidTimezone
        return "timezone", exc
    return None


def view_fields(row: Mapping[str, Any], now: datetime, fire_count: int) -> dict[str, Any]:
    """The row plus what its cron means: description, EventBridge form, next fire time(s)."""
    if row.get("run_at") is not None:
        return _one_time_view_fields(row, now)
    problem = unschedulable(row)
    expressions: list[str] = []
    description = ""
    if problem is None or problem[0] != "cron":
        expressions, description = cron.to_eventbridge(row["cron"]), cron.describe(row["cron"])
    else:
        description = f"invalid: {problem[1]}"
    fires = next_window_fires(row, now, fire_count) if row["enabled"] and problem is None else []
    return {
        **row,
        "description": description,
        "eventbridge_expressions": expressions,
        "next_run_at": fires[0] if fires else None,
        "next_run_times": fires,
        "invalid_reason": None if problem is None else f"{problem[0]}: {problem[1]}",
    }


def _one_time_view_fields(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """view_fields of a one-time schedule: `at`, and its one fire time while it is to come."""
    run_at, problem = row["run_at"], unschedulable(row)
    fires = [run_at] if row["enabled"] and problem is None and run_at > now else []
    at, description, expression = (
        cron.at_shown(run_at, row["timezone"]) if problem is None else (run_at.isoformat(), "", "")
    )
    return {
        **row,
        "at": at,
        "description": description,
        "eventbridge_expressions": [expression] if expression else [],
        "next_run_at": fires[0] if fires else None,
        "next_run_times": fires,
        "invalid_reason": None if problem is None else f"{problem[0]}: {problem[1]}",
    }


def schedule_view(row: Mapping[str, Any], now: datetime) -> ScheduleView:
    return ScheduleView.model_validate(view_fields(row, now, 1))


def window_dst_notes(
    expr: str,
    timezone: str,
    now: datetime,
    start_at: datetime | None,
    end_at: datetime | None,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> list[cron.DstNote]:
    """The DST notes of the next year (cron.dst_notes) for changes inside [start_at, end_at],
    under the schedule's DST policy."""
    after = now if start_at is None else max(now, start_at - timedelta(microseconds=1))
    until = now + cron_dst.NOTE_HORIZON
    if end_at is not None:
        until = min(until, end_at)
    if until <= after:
        return []
    return cron.dst_notes(expr, timezone, after, horizon=until - after, policy=policy)
