"""The one-time at() schedules a DST policy adds beside a row's cron schedule(s).

EventBridge's cron fires a repeated autumn wall time once (at an instant AWS does not name) and
never fires a wall time the spring-forward change skips. A schedule whose DST policy wants more
(scheduler.cron.dst_policy: `shift`, `last`, `both`) gets a one-time schedule for each instant
the cron cannot be relied on to deliver (cron.policy_instants): the first instant after a gap,
the second (and under `both` the first) instant of each repeated time, for the next
DST_CHANGES offset changes within a year. Each is named `<id>-dst-<UTC instant>`, fires
`at(<instant>)` in UTC (a wall time in the repeated hour would be ambiguous), is deleted by
EventBridge once done (ActionAfterCompletion DELETE), and its Input carries the instant itself
as scheduledTime: the slot (cron.policy_fire_slot) it stands for. The runner dedupes it against
the cron's own delivery of the same slot; under `last`, the cron's delivery at the first
instant is a no-op.

Made on create and every write (EventBridgeSchedules.apply), kept by reconcile: as instants pass
and new changes come within the horizon, the wanted set moves, the row's fingerprint with it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler import cron
from scheduler.config import get_settings

DST_INFIX = "-dst-"
# How many offset changes ahead the at() schedules are kept for: the next spring and autumn.
DST_CHANGES = 2
# At most this many at() schedules per row, the nearest first (an every-minute cron under
# `both` has 120 in a one-hour change); the later ones are made as the earlier ones pass.
MAX_DST_SCHEDULES = 128
_INSTANT_FORMAT = "%Y%m%dT%H%MZ"


def dst_prefix(schedule_id: UUID | str) -> str:
    return f"{schedule_id}{DST_INFIX}"


def dst_name(schedule_id: UUID | str, instant: datetime) -> str:
    return f"{dst_prefix(schedule_id)}{instant.astimezone(UTC):{_INSTANT_FORMAT}}"


def split_dst_name(name: str) -> tuple[str, datetime] | None:
    """(the row id's text, the instant) of a name dst_name makes; None for any other name."""
    base, infix, tail = name.partition(DST_INFIX)
    if not infix:
        return None
    try:
        instant = datetime.strptime(tail, _INSTANT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return (base, instant) if dst_name(base, instant) == name else None


def dst_names_among(schedule_id: UUID | str, names: Iterable[str]) -> list[str]:
    """The row's at() schedule names among `names`."""
    prefix = dst_prefix(schedule_id)
    return [name for name in names if name.startswith(prefix) and split_dst_name(name)]


def dst_instants(row: Mapping[str, Any], now: datetime) -> list[datetime]:
    """The instants a cron row's DST policy wants at() schedules for, inside its window."""
    policy = cron.DstPolicy.of(row.get("dst_policy"))
    if policy.is_default or row.get("cron") is None:
        return []
    instants = cron.policy_instants(row["cron"], row["timezone"], now, policy, changes=DST_CHANGES)
    start, end = row.get("start_at"), row.get("end_at")
    inside = [i for i in instants if (start is None or start <= i) and (end is None or i <= end)]
    return inside[:MAX_DST_SCHEDULES]


def dst_schedules(
    row: Mapping[str, Any],
    now: datetime,
    *,
    flexible_time_window: dict[str, Any],
    target: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Name -> Create/UpdateSchedule kwargs of the row's at() schedules (desired_schedules)."""
    settings = get_settings()
    policy = cron.DstPolicy.of(row.get("dst_policy"))
    wanted: dict[str, dict[str, Any]] = {}
    for instant in dst_instants(row, now):
        name = dst_name(row["id"], instant)
        wanted[name] = {
            "Name": name,
            "GroupName": settings.schedule_group,
            "ScheduleExpression": f"at({instant:%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": flexible_time_window,
            "State": "ENABLED" if row["enabled"] else "DISABLED",
            "Description": (
                f"{row['cron']} in {row['timezone']}: DST policy "
                f"{policy.spring_forward}/{policy.fall_back}"
            ),
            "ActionAfterCompletion": "DELETE",
            "Target": {**target, "Input": _input_at(target["Input"], instant)},
        }
    return wanted


def _input_at(cron_input: str, instant: datetime) -> str:
    """The cron schedule's Input with scheduledTime the instant itself, the slot."""
    event = json.loads(cron_input)
    event["scheduledTime"] = instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(event, separators=(",", ":"))


def keeps_dst_leftover(name: str, row: Mapping[str, Any], now: datetime) -> bool:
    """True while an at() schedule no longer wanted may still be delivering: its instant has
    come, and its flexible window and the fire's maximum event age have not passed (as
    eventbridge.keeps_leftover for a one-time row). One whose instant is still to come is
    unwanted (the policy or the cron changed): deleted."""
    parts = split_dst_name(name)
    if parts is None:
        return False
    minutes = int(row.get("flexible_window_minutes") or 0)
    settle = timedelta(minutes=minutes, seconds=get_settings().schedule_max_event_age_s)
    return parts[1] <= now < parts[1] + settle


def unwanted_dst_names(
    row: Mapping[str, Any], existing: Collection[str], desired: Collection[str], now: datetime
) -> list[str]:
    """The row's at() schedules among `existing` to delete now."""
    return [
        name
        for name in dst_names_among(row["id"], existing)
        if name not in desired and not keeps_dst_leftover(name, row, now)
    ]


def row_names(
    cron_names: Iterable[str], listed: Iterable[str], desired: Iterable[str]
) -> list[str]:
    """The names a row has or wants: its cron's, then its DST at() schedules listed or desired."""
    extra = set(listed) | {name for name in desired if split_dst_name(name) is not None}
    return [*cron_names, *sorted(extra)]
