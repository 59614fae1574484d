"""What the schedule models say of `cron` and `at` (one-time schedules, scheduler.cron.once): a
schedule has exactly one, a one-time schedule has no window, and `at` is a future instant."""

from __future__ import annotations

from datetime import datetime

from scheduler import cron

ONE_OF_CRON_OR_AT = (
    "cron, at: give exactly one: cron for a recurring schedule, at for a one-time schedule"
)
_CRON = "Unix cron (5 fields) the schedule fires on, in its timezone"
_AT = (
    "A one-time schedule fires once, at this minute, instead of on a cron: an ISO 8601 instant"
    " (2026-12-11T16:00:00Z, or with an offset), or a wall-clock time without offset in the"
    " schedule's timezone (2026-12-11T17:00:00). Seconds must be 0. A wall time the"
    " spring-forward change skips is refused; a repeated autumn one is its first occurrence."
    " It must be later than now"
)
_AT_READ = (
    "The instant a one-time schedule fires at, with its timezone's offset then; null for a"
    " recurring schedule. After it fired nextRunAt is null and lastRun is its run"
)


def checked_one_time(
    expr: str | None, at: str | None, timezone: str, now: datetime
) -> datetime | None:
    """The instant of a schedule's `at`, None for a cron schedule; ValueError (a 422 naming the
    field) when both or neither are given, or `at` is not a future instant."""
    if (expr is None) == (at is None):
        raise ValueError(ONE_OF_CRON_OR_AT)
    if at is None:
        return None
    run_at = cron.parse_at(at, timezone)
    cron.ensure_future(run_at, now)
    return run_at


def check_no_window(start_at: datetime | None, end_at: datetime | None) -> None:
    """ValueError when a one-time schedule is given a window: it fires once, at `at`, and a
    window would only be a second way to say it never fires."""
    if start_at is not None or end_at is not None:
        field = "startAt" if start_at is not None else "endAt"
        raise ValueError(f"{field}: a one-time schedule (at) has no window; send null")
