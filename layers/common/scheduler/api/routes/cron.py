"""ApiFunction's cron preview: validate and explain a cron expression (a POST that changes
nothing, so a read-only key may call it too: app.READ_POSTS).
"""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.api import openapi_docs as docs
from scheduler.api.cron_preview import preview_cron
from scheduler.api.routes.routing import app
from scheduler.models.cron_previews import CronPreview, CronPreviewRequest


@app.post(
    "/api/cron/preview",
    operation_id="previewCron",
    summary="Validate and explain a cron expression",
    responses=docs.PREVIEW_CRON,
)
def preview(body: CronPreviewRequest) -> CronPreview:
    return preview_cron(body, datetime.now(UTC))
