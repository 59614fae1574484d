"""The SQL of a bulk pause or resume (scheduler.api.bulk_changes): the schedules a filter
matches (store.schedule_filters, the list's condition), counted, then locked, then changed by id,
every statement in the caller's one transaction.

The matching rows are locked (`for update`, in id order, so two bulk changes never deadlock)
before they are read for the change: a concurrent write of one of them waits for the commit, or
is waited for, and the set that is counted is the set that changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from scheduler.store.schedule_filters import (
    ScheduleFilter,
    owned_schedules,
    schedule_filter_where,
)
from scheduler.store.sql import Queries, Row


class BulkChangeQueries(Queries):
    def count_matching(self, owner: UUID | None, selected: ScheduleFilter) -> int:
        """How many of the owner's schedules (None: of all) the filter matches."""
        where, params = schedule_filter_where(selected)
        row = self.db.execute(
            f"""select count(*) as n from schedules s
                where {owned_schedules(owner)} and ({where})""",
            {**params, "owner": owner},
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def matching(
        self, owner: UUID | None, selected: ScheduleFilter, *, limit: int, lock: bool
    ) -> list[Row]:
        """Up to `limit` matching rows (id, enabled and what decides whether the row can be
        scheduled: cron or run_at, timezone, DST policy, the window), in id order; with `lock`,
        each locked until the transaction ends."""
        where, params = schedule_filter_where(selected)
        locking = "for update of s" if lock else ""
        return self.db.execute(
            f"""select s.id, s.enabled, s.cron, s.run_at, s.timezone, s.start_at, s.end_at,
                       s.dst_policy
                from schedules s
                where {owned_schedules(owner)} and ({where})
                order by s.id limit %(limit)s {locking}""",
            {**params, "owner": owner, "limit": limit},
        ).fetchall()

    def pause(self, schedule_ids: Sequence[UUID], note: str) -> list[UUID]:
        """Pause those of the rows that are enabled, with the note; the ids paused. A row already
        paused keeps its note (its own reason) and its disabledReason."""
        rows = self.db.execute(
            """update schedules set enabled = false, note = %(note)s
               where id = any(%(ids)s::uuid[]) and enabled
               returning id""",
            {"ids": list(schedule_ids), "note": note},
        ).fetchall()
        return sorted(row["id"] for row in rows)

    def resume(
        self, schedule_ids: Sequence[UUID], note: str | None, *, set_note: bool
    ) -> list[UUID]:
        """Enable those of the rows that are disabled, as PATCH enabled=true does (the reason
        cleared, the failure streak reset), the note set when `set_note`; the ids resumed."""
        params: dict[str, Any] = {"ids": list(schedule_ids), "note": note, "set_note": set_note}
        rows = self.db.execute(
            """update schedules
               set enabled = true, disabled_reason = null, consecutive_failures = 0,
                   note = case when %(set_note)s then %(note)s::text else note end
               where id = any(%(ids)s::uuid[]) and not enabled
               returning id""",
            params,
        ).fetchall()
        return sorted(row["id"] for row in rows)
