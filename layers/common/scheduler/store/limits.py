"""The per-owner limits' SQL (see scheduler.policies.owner_limits): the schedule-count lock and
count, and the rate buckets."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scheduler.store.sql import Queries

# Advisory locks in the two-key space, apart from the schedules' one-key writer locks: this
# class serialises the schedule creates of one owner (the schedules-per-owner check).
_OWNER_SCHEDULES_LOCK_CLASS = 1
# The owner key of workflows without an owner (the host app's own), in the rate buckets.
NO_OWNER = UUID(int=0)
# A rate bucket's tokens at `now`: what it held, refilled by the time since, up to capacity.
_REFILLED = """least(%(capacity)s::float8, b.tokens + %(per_second)s::float8
    * greatest(0, extract(epoch from %(now)s::timestamptz - b.updated_at))::float8)"""


class LimitQueries(Queries):
    def lock_owner_schedules(self, owner_id: UUID | None) -> None:
        """Take the owner's schedule-count lock until the transaction ends (waiting for it).

        Transaction-scoped, like the writer lock: a count read after it (in a statement of its
        own) includes every schedule a create that held it before committed.
        """
        self.db.require_transaction("the owner's schedule-count lock")
        key = _lock_key32(owner_id or NO_OWNER)
        self.db.execute("select pg_advisory_xact_lock(%s, %s)", (_OWNER_SCHEDULES_LOCK_CLASS, key))

    def count_owner_schedules(self, owner_id: UUID | None) -> int:
        """How many schedules the workflows of `owner_id` have (None: workflows without one)."""
        owned = "w.owner_id is null" if owner_id is None else "w.owner_id = %(owner)s"
        row = self.db.execute(
            f"""select count(*) as n from schedules s join workflows w on w.id = s.workflow_id
                where {owned}""",
            {"owner": owner_id},
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def take_rate_token(
        self,
        owner_id: UUID | None,
        kind: str,
        *,
        capacity: int,
        per_second: float,
        now: datetime,
    ) -> tuple[bool, float]:
        """Take a token from the owner's bucket of `kind`: (granted, tokens left).

        One statement, so it is atomic across every API instance: concurrent takes of one
        bucket queue on its row. A new bucket starts full; a refused take takes nothing.
        """
        row = self.db.execute(
            f"""insert into owner_rate_buckets as b (owner_id, kind, tokens, updated_at, granted)
                values (%(owner)s, %(kind)s, %(capacity)s::float8 - 1, %(now)s, true)
                on conflict (owner_id, kind) do update set
                  granted = {_REFILLED} >= 1,
                  tokens = case when {_REFILLED} >= 1 then {_REFILLED} - 1 else {_REFILLED} end,
                  updated_at = greatest(b.updated_at, %(now)s::timestamptz)
                returning granted, tokens""",
            {
                "owner": owner_id or NO_OWNER,
                "kind": kind,
                "capacity": capacity,
                "per_second": per_second,
                "now": now,
            },
        ).fetchone()
        assert row is not None
        return bool(row["granted"]), float(row["tokens"])


def _lock_key32(key: UUID) -> int:
    """32 bits of a uuid, for the two-key advisory locks (a collision only serialises)."""
    return int.from_bytes(key.bytes[:4], "big", signed=True)
