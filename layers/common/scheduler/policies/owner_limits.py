"""Per-owner limits: how much of the service one tenant may take, so it cannot starve the others.

Every limit applies per owner acted on: the owner of the workflows concerned. A user acts on
their own; a service-role request counts against the owner whose workflow or schedule it
touches, like that owner's own request would (the service role is not a way around a limit,
and does not use up one owner's allowance acting for another).

**Schedules per owner** (`MAX_SCHEDULES_PER_OWNER`, default 1,000). Checked when a schedule is
created, under the owner's advisory lock (LimitQueries.lock_owner_schedules), so two creates at the
limit cannot both pass: the second waits for the first to commit, then counts its schedule.
The creates of one owner run one at a time (the lock lasts their transaction, EventBridge call
included); other owners never wait on it. A row costs one or two EventBridge schedules (the
account's default quota is 1,000,000 per Region, so the default leaves room for 500 owners at
the limit) and a read on every reconcile pass. Exceeded: 429 naming the limit, no Retry-After
(waiting does not help; deleting a schedule does).

**Requests per owner per minute, by kind** (`run_now`: `RUN_NOW_PER_MINUTE`, default 30;
`backfill`: `BACKFILL_PER_MINUTE`, default 6). A token bucket per (owner, kind):
it holds the per-minute limit (a burst that size) and refills continuously at limit/60 per
second (then one request every 60/limit s). A person clicks "run now" a few times a minute;
30 leaves room for a script or a retrying dashboard, while one tenant can start at most half a
runner invocation per second, sustained. Exceeded: 429 with Retry-After, the seconds until the
next token. A request refused for another reason first (404, 409) takes no token; one whose
runner invocation then fails (503) has taken its token, as a delivered one would.

Why a bucket in Postgres, taken in one upsert (LimitQueries.take_rate_token): ApiFunction runs as
many concurrent Lambdas, so the count must live where they all see it and change it atomically: the
bucket's row, whose lock queues concurrent takes. Counting `schedule_runs` with trigger
'manual' in the last minute would not be exact: run now hands the run to the runner
asynchronously, and its row appears only when the runner claims it, seconds later (or never,
when the invocation is dropped), so a burst of requests would all count the same few rows and
pass. Why a bucket rather than a fixed window: a client refused near the start of a window
would wait up to a minute, and at a window's edge twice the limit passes at once; a bucket's
Retry-After is the time to one token (2 s at 30/min). Both let at most twice the limit through
in any 60 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from scheduler.config import Settings, get_settings
from scheduler.errors import LimitExceeded
from scheduler.store.limits import LimitQueries

RateKind = Literal["run_now", "backfill"]
_WHAT: dict[RateKind, str] = {"run_now": "run-now requests", "backfill": "backfill requests"}


@dataclass(frozen=True)
class OwnerLimits:
    schedules_per_owner: int
    run_now_per_minute: int
    backfill_per_minute: int = 6

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OwnerLimits:
        settings = settings or get_settings()
        return cls(
            schedules_per_owner=settings.max_schedules_per_owner,
            run_now_per_minute=settings.run_now_per_minute,
            backfill_per_minute=settings.backfill_per_minute,
        )

    def ensure_room_for_a_schedule(self, limits: LimitQueries, owner_id: UUID | None) -> None:
        """Inside the create's transaction: LimitExceeded if the owner has no room for one more.

        Takes the owner's schedule-count lock first, held until the transaction ends, so the
        count includes every concurrent create that got the lock before.
        """
        limits.lock_owner_schedules(owner_id)
        if limits.count_owner_schedules(owner_id) >= self.schedules_per_owner:
            raise LimitExceeded(
                f"schedule limit reached: an owner may have at most {self.schedules_per_owner}"
                " schedules; delete one to create another"
            )


def take_request(
    limits: LimitQueries, owner_id: UUID | None, kind: RateKind, per_minute: int, now: datetime
) -> None:
    """Count one request of `kind` for the owner; LimitExceeded (with Retry-After) if over."""
    per_second = per_minute / 60
    granted, tokens = limits.take_rate_token(
        owner_id, kind, capacity=per_minute, per_second=per_second, now=now
    )
    if granted:
        return
    retry_after_s = max(1, math.ceil((1 - tokens) / per_second))
    raise LimitExceeded(
        f"rate limit reached: an owner may make at most {per_minute} {_WHAT[kind]} a minute;"
        f" retry in {retry_after_s} s",
        retry_after_s=retry_after_s,
    )
