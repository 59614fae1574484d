"""POST /api/cron/preview's use case: what a cron would do, for UIs that validate as the user
types (an invalid cron, zone or window is an answer, not an error)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from scheduler import cron
from scheduler.api.schedule_views import NEXT_RUN_PREVIEW, window_dst_notes
from scheduler.models.cron_previews import CronPreview, CronPreviewRequest
from scheduler.models.schedule_fields import check_window
from scheduler.policies.expected import next_window_fires


def preview_cron(request: CronPreviewRequest, now: datetime) -> CronPreview:
    """What a cron would do, for UIs that validate as the user types (invalid is an answer)."""
    try:
        expressions = cron.to_eventbridge(request.cron)
        timezone = cron.validate_timezone_to_write(request.timezone)
        policy = request.dst_policy.policy()
        cron.policy_ensure_fires(request.cron, timezone, now, policy)
        check_window(request.start_at, request.end_at)
        start, end = request.start_at, request.end_at
        # the schedule it would be, as the read of a stored one lists its fire times
        row = {
            "cron": request.cron,
            "timezone": timezone,
            "start_at": start,
            "end_at": end,
            "dst_policy": policy,
        }
        fires = next_window_fires(row, now, NEXT_RUN_PREVIEW)
        notes = window_dst_notes(request.cron, timezone, now, start, end, policy)
    except ValueError as exc:  # CronError, InvalidTimezone and a window that ends first
        return CronPreview(
            valid=False, cron=request.cron, timezone=request.timezone, error=str(exc)
        )
    return CronPreview(
        valid=True,
        cron=request.cron,
        timezone=timezone,
        dst_policy=request.dst_policy,
        description=cron.describe(request.cron),
        eventbridge_expressions=expressions,
        next_run_times=fires,
        dst_notes=[asdict(note) for note in notes],
    )
