"""The cron preview's shapes: the request (a cron, a timezone, an optional window), the answer
(valid or why not, its description, EventBridge expressions, next fire times) and the DST notes
a preview and a schedule's detail both carry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from scheduler.models.base import ApiModel, ApiRequest, utc_instant
from scheduler.models.schedule_dst import (
    DST_POLICY_DESCRIPTION,
    DST_POLICY_EXAMPLE,
    DstPolicyRequest,
    DstPolicySetting,
)
from scheduler.models.schedule_fields import _END_AT, _START_AT


class DstNote(ApiModel):
    """A DST change within the next year that skips or repeats wall times the cron names."""

    kind: Literal["skipped", "shifted", "once", "twice"] = Field(
        description="skipped: those wall times do not exist that day and do not fire; "
        "shifted: they do not exist and fire at the first instant after the gap "
        "(dstPolicy.springForward shift); once: they occur twice and fire once, at their "
        "first occurrence (fallBack first) or their second (last); twice: they fire at both "
        "(fallBack both)"
    )
    wall_time: str = Field(
        description="the first affected wall time the cron names, in the schedule's timezone",
        examples=["2027-03-28T02:30"],
    )
    last_wall_time: str = Field(
        description="the last one (the same as wallTime when one fire is affected)",
        examples=["2027-03-28T02:30"],
    )
    fires: int = Field(description="how many of the cron's wall times the change affects")
    at: datetime | None = Field(
        description="when wallTime fires (UTC; the first of two under fallBack both); "
        "null when skipped"
    )
    note: str = Field(
        examples=["02:30 does not exist on 2027-03-28 in Europe/Berlin: this fire is skipped"]
    )


class CronPreviewRequest(ApiRequest):
    # Not validated here: an invalid cron is a normal answer of the preview, not a 422.
    cron: str = Field(max_length=1024, examples=["*/15 9-17 * * MON-FRI"])
    timezone: str = Field(default="UTC", max_length=256, examples=["Europe/Berlin"])
    # A schedule's window: the preview lists only fire times inside it (as a schedule's reads).
    start_at: AwareDatetime | None = Field(default=None, description=_START_AT)
    end_at: AwareDatetime | None = Field(default=None, description=_END_AT)
    dst_policy: DstPolicyRequest = Field(
        default_factory=DstPolicyRequest,
        description=DST_POLICY_DESCRIPTION,
        examples=[DST_POLICY_EXAMPLE],
    )

    @field_validator("start_at", "end_at")
    @classmethod
    def _instant(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return utc_instant(value, to_camel(info.field_name or ""))


class CronPreview(ApiModel):
    valid: bool
    cron: str
    timezone: str
    dst_policy: DstPolicySetting = Field(default_factory=DstPolicySetting)
    error: str | None = None
    description: str | None = None
    eventbridge_expressions: list[str] = Field(default_factory=list)
    next_run_times: list[datetime] = Field(default_factory=list)
    dst_notes: list[DstNote] = Field(default_factory=list)  # none for an invalid cron
