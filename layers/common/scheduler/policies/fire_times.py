"""The missed-fire check's questions about fire times, each answered once per process.

`scheduler.cron`'s answers are pure functions of their arguments, and a pass of the check asks
the same ones of many schedules: the million hourly schedules of a top-of-hour burst share a
cron, a zone, the fire time they were checked through and the pass's horizon. Remembered, each
distinct question costs croniter (tens of µs) once instead of once per schedule; the answers
are the ones `scheduler.cron` gives. A question that raises (a cron or zone no longer valid) is
not remembered: it raises every time, as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from scheduler import cron

# Distinct questions remembered: the (cron, zone) pairs of a pass's batches, many times over. A
# long answer (a backlog's chunk, up to MAX_SLOTS + 1 fire times, about 28 KB) is remembered in
# far fewer, so the whole stays within a few MB of the Lambda's memory.
DISTINCT_QUESTIONS = 8192
DISTINCT_LONG_QUESTIONS = 64
LONG_ANSWER = 8  # fire times
# The first walk of a schedule: most take two fire times (a due one, then the next to check).
FIRST_CHUNK = 2


def _fire_times(
    expr: str,
    timezone: str,
    after: datetime,
    n: int,
    until: datetime | None,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> tuple[datetime, ...]:
    return tuple(cron.policy_fire_times(expr, timezone, after, n, until=until, policy=policy))


_short_answers = lru_cache(maxsize=DISTINCT_QUESTIONS)(_fire_times)
_long_answers = lru_cache(maxsize=DISTINCT_LONG_QUESTIONS)(_fire_times)


def fire_times(
    expr: str,
    timezone: str,
    after: datetime,
    n: int,
    until: datetime | None,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> tuple[datetime, ...]:
    """cron.policy_fire_times (a tuple: no caller can change an answer another one shares)."""
    answers = _short_answers if n <= LONG_ANSWER else _long_answers
    return answers(expr, timezone, after, n, until, policy)


def fires_after(
    expr: str,
    timezone: str,
    after: datetime,
    until: datetime | None,
    *,
    most: int,
    policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY,
) -> Iterator[datetime]:
    """The fire times after `after` (none later than `until`), oldest first, as
    cron.next_fire_times lists them, computed a few at a time as the caller takes them (chunks
    of at most `most`). Each chunk goes on from the previous one's last fire time, which lists
    the same fire times as one longer walk (its horizon, 40 years, only counts from later)."""
    chunk = FIRST_CHUNK
    while True:
        fires = fire_times(expr, timezone, after, chunk, until, policy)
        yield from fires
        if len(fires) < chunk:
            return
        after, chunk = fires[-1], min(2 * chunk, most)


def schedule_fires_after(
    row: Mapping[str, Any], after: datetime, until: datetime | None, *, most: int
) -> Iterator[datetime]:
    """fires_after of a schedule row: its cron's fire times under its DST policy, or a one-time
    schedule's `run_at` (when after `after` and not later than `until`)."""
    if row.get("run_at") is not None:
        return iter(cron.once_fire_times(row["run_at"], after, 1, until))
    return fires_after(
        row["cron"], row["timezone"], after, until, most=most, policy=dst_policy(row)
    )


def schedule_fire_times(
    row: Mapping[str, Any], after: datetime, n: int, until: datetime | None
) -> tuple[datetime, ...]:
    """fire_times of a schedule row (see schedule_fires_after)."""
    if row.get("run_at") is not None:
        return tuple(cron.once_fire_times(row["run_at"], after, n, until))
    return fire_times(row["cron"], row["timezone"], after, n, until, dst_policy(row))


@lru_cache(maxsize=DISTINCT_QUESTIONS)
def last_occurrence(
    slot: datetime, timezone: str, policy: cron.DstPolicy = cron.DEFAULT_DST_POLICY
) -> datetime:
    """cron.policy_last_occurrence."""
    return cron.policy_last_occurrence(slot, timezone, policy)


def dst_policy(row: Mapping[str, Any]) -> cron.DstPolicy:
    """A schedule row's DST policy (schedules.dst_policy; a row read without it: the default)."""
    return cron.DstPolicy.of(row.get("dst_policy"))
