"""`dstPolicy`: what a schedule's cron does with the wall times a DST change skips or repeats
(scheduler.cron.dst_policy; docs/cron-and-time-zones.md, "DST policy").

Stored as schedules.dst_policy ({"spring_forward", "fall_back"}, snake_case like every column).
A value object: a write sends the whole policy and a member it leaves out takes its default.
It changes nothing in a zone without DST, nor for a one-time schedule (`at` is one instant,
with DST rules of its own).
"""

from __future__ import annotations

from pydantic import Field

from scheduler import cron
from scheduler.cron.dst_policy import FallBack, SpringForward
from scheduler.models.base import ApiModel, ApiRequest

DST_POLICY_DESCRIPTION = (
    "What the cron does with wall times a DST change skips or repeats in its timezone. "
    "springForward, for a time the spring-forward change skips: skip (it does not fire that "
    "day; EventBridge's own rule) or shift (it fires at the first instant after the gap, "
    "03:00 for 02:30 in Europe/Berlin). fallBack, for a time the autumn change repeats: first "
    "(it fires once, at its first occurrence), last (once, at its second) or both. A member "
    "left out takes its default; no effect in a zone without DST nor for a one-time schedule"
)
_SPRING = "skip: a wall time inside the gap does not fire; shift: it fires at the gap's end"
_FALL = "first / last: a repeated wall time fires once, at that occurrence; both: at each"


class DstPolicySetting(ApiModel):
    """A schedule's DST policy as the API shows it (built from the stored value too)."""

    spring_forward: SpringForward = Field(default="skip", description=_SPRING)
    fall_back: FallBack = Field(default="first", description=_FALL)

    def policy(self) -> cron.DstPolicy:
        return cron.DstPolicy(self.spring_forward, self.fall_back)


class DstPolicyRequest(ApiRequest, DstPolicySetting):
    """dstPolicy in a request body: camelCase members only, unknown ones refused."""


def default_dst_policy() -> dict[str, str]:
    """The stored form of the default policy (a create that sends none)."""
    return cron.DEFAULT_DST_POLICY.as_columns()


DST_POLICY_EXAMPLE = {"springForward": "shift", "fallBack": "first"}
