"""Cron for schedules: validate Unix cron, convert it to EventBridge syntax, preview fire times.

Users write 5-field Unix cron meaning what croniter (and Vixie cron) mean; EventBridge Scheduler
wants its own 6-field dialect. The rules are in CRON.md. This package is the one import callers
need (`from scheduler import cron`); each concept lives in its own module:

- fields: the grammar of one field (values, names, ranges, steps, L / W / #);
- convert: the whole expression, how its day fields combine, the EventBridge conversion;
- timezones: accepted IANA zones, wall-clock times to UTC instants;
- zone_names: the zone a user meant (did you mean, the zone to write instead of EST or CET);
- pasted_forms: EventBridge's cron(...) and rate(...) pasted as a cron, answered in words;
- fires: fire times on the wall clock of a zone (croniter), fire slots;
- describe: plain-English descriptions (cron-descriptor);
- dst: what the coming year's DST changes do to a cron's fires, in words;
- dst_policy: a schedule's DST policy (skip / shift, first / last / both), its fire times, slots;
- once: one-time schedules (`at`): parsing, DST rules, EventBridge's at(), the one slot;
- eventbridge: an evaluator of EventBridge expressions (the local engine, the proofs);
- exclusions: which fire times exclusion calendars remove (a date on the calendar's clock).

Layer: pure functions of time, the lowest but the platform. It imports only the platform
modules (scheduler.config, environment, observability, errors, clients) and libraries; never
the database, AWS, or any package above it (pyproject.toml's import-linter contracts).

Daylight saving time follows EventBridge Scheduler, which evaluates the expression on the wall
clock of the schedule's timezone:

- a wall-clock time that does not exist (skipped by the spring-forward jump) does not fire;
- a wall-clock time that happens twice (the repeated autumn hour) fires once, at its first
  occurrence.

A schedule's DST policy (scheduler.cron.dst_policy) may choose otherwise: shift a gap time to the
first instant after the gap, run a repeated time at its second instant or at both; the
`policy_*` functions honour it, and are the plain ones under the default policy.

The previews (`next_fire_times`) and the local engine's evaluator (`eventbridge_fire_times`)
both apply exactly these rules, so a preview shows what EventBridge will do.

AWS documents only that a repeated time "runs once", not at which of its two instants, so a
delivery at either must be accepted: `fire_slot` maps both instants of one repeated wall time to
the same slot, the first one's, and a runner that claims (schedule, slot) rather than the
delivered instant runs that wall time at most once.
"""

from __future__ import annotations

from scheduler.cron.convert import MAX_EXPRESSION_LENGTH, to_eventbridge, validate
from scheduler.cron.describe import describe
from scheduler.cron.dst import DstNote, dst_notes, policy_instants
from scheduler.cron.dst_policy import (
    DEFAULT_DST_POLICY,
    FALL_BACK_CHOICES,
    SPRING_FORWARD_CHOICES,
    DstPolicy,
    policy_ensure_fires,
    policy_fire_slot,
    policy_fire_times,
    policy_last_occurrence,
)
from scheduler.cron.eventbridge import eventbridge_fire_times, eventbridge_next_fire
from scheduler.cron.fields import CronError
from scheduler.cron.fires import (
    ensure_fires,
    fire_slot,
    is_fire_time,
    last_occurrence,
    next_fire_times,
)
from scheduler.cron.once import (
    AtError,
    at_shown,
    at_slot,
    at_text,
    describe_at,
    ensure_future,
    once_fire_times,
    parse_at,
    to_eventbridge_at,
)
from scheduler.cron.timezones import (
    InvalidTimezone,
    validate_timezone,
    validate_timezone_to_write,
)

__all__ = [
    "DEFAULT_DST_POLICY",
    "FALL_BACK_CHOICES",
    "MAX_EXPRESSION_LENGTH",
    "SPRING_FORWARD_CHOICES",
    "AtError",
    "CronError",
    "DstNote",
    "DstPolicy",
    "InvalidTimezone",
    "at_shown",
    "at_slot",
    "at_text",
    "describe",
    "describe_at",
    "dst_notes",
    "ensure_fires",
    "ensure_future",
    "eventbridge_fire_times",
    "eventbridge_next_fire",
    "fire_slot",
    "is_fire_time",
    "last_occurrence",
    "next_fire_times",
    "once_fire_times",
    "parse_at",
    "policy_ensure_fires",
    "policy_fire_slot",
    "policy_fire_times",
    "policy_instants",
    "policy_last_occurrence",
    "to_eventbridge",
    "to_eventbridge_at",
    "validate",
    "validate_timezone",
    "validate_timezone_to_write",
]
