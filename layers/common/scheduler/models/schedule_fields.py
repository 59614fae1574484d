"""What a schedule's fields may hold and what they mean: the run policies, the bounds, the
checks of a cron, a timezone, a note and a window, and the descriptions the models that carry
these fields (create, update, reads, the cron preview) share in the JSON Schema and OpenAPI.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from scheduler import cron
from scheduler.models.base import checked_text

CatchupPolicy = Literal["skip", "latest", "all"]
OverlapPolicy = Literal["skip", "buffer_one"]


def _checked_cron(value: str) -> str:
    cron.to_eventbridge(value)  # raises CronError (a ValueError) naming the field and reason
    return value.strip()


def _checked_timezone(value: str) -> str:
    """A zone a new schedule may use (not a legacy name such as EST: zone_names)."""
    return cron.validate_timezone_to_write(value)


def _checked_known_timezone(value: str) -> str:
    """A zone a stored schedule may hold: a change checks the legacy names against the stored
    zone (the service), so resending the zone a row has is no new use of it."""
    return cron.validate_timezone(value)


NOTE_MAX_LENGTH = 500
FLEXIBLE_WINDOW_MAX_MINUTES = 1440  # EventBridge's MaximumWindowInMinutes
CATCHUP_WINDOW_MIN_SECONDS = 60
CATCHUP_WINDOW_MAX_SECONDS = 604_800  # a week: the missed-fire check looks no further back


def _checked_note(value: str | None) -> str | None:
    if value is None:
        return None
    return checked_text(value, "note", if_blank=": send null to remove it")


def check_window(start_at: datetime | None, end_at: datetime | None) -> None:
    """ValueError unless the window is empty, open at one end, or ends after it starts."""
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise ValueError("endAt must be after startAt")


def first_fire_in_window(
    expr: str,
    timezone: str,
    now: datetime,
    start_at: datetime | None,
    end_at: datetime | None,
    count: int = 1,
    *,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> list[datetime]:
    """The next `count` fire times after `now` inside [start_at, end_at] (either end open),
    under the schedule's DST policy."""
    after = now if start_at is None else max(now, start_at - timedelta(microseconds=1))
    if end_at is not None and end_at <= after:
        return []
    try:
        return cron.policy_fire_times(expr, timezone, after, count, until=end_at, policy=policy)
    except OverflowError:  # a window starting so late that its wall clock passes year 9999
        return []


# Descriptions shared by the models that carry the window fields (create, update, reads).
_START_AT = "The schedule fires only at fire times at or after this instant (EventBridge StartDate)"
_END_AT = "The schedule fires only at fire times at or before this instant (EventBridge EndDate)"
_FLEXIBLE = (
    "EventBridge FlexibleTimeWindow: 0 fires at the exact time; N lets EventBridge invoke up to "
    "N minutes later to spread load. The run is still recorded under the nominal fire time"
)
_NOTE = "Free text shown with the schedule (why it was paused, who owns it); never interpreted"
_CATCHUP = (
    "What to do with fire times that did not run (missed: no run had started some minutes after "
    "they were due). skip: record them `missed`; latest: run the most recent one within "
    "catchupWindowSeconds (trigger `catchup`); all: run every one within it, oldest first, one "
    "at a time"
)
_CATCHUP_WINDOW = (
    "A missed fire time runs only if the missed-fire check found it at most this many seconds "
    "after it was due: one due while the check was up always is; after an outage of the check, "
    "at its first pass"
)
_OVERLAP = (
    "A fire that finds its workflow running: skip records it `skipped`; buffer_one keeps at "
    "most one waiting (`buffered`) that runs as soon as the current run ends"
)
