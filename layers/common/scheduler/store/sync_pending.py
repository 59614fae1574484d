"""The schedules whose EventBridge schedule(s) still have to follow a committed change of the row
(table `schedule_eventbridge_pending`): a bulk pause or resume marks every row it changes, in its
transaction; a drain (scheduler.sync.pending) updates EventBridge and removes the marker with the
record of that write (store.sync_state), in one transaction.

A marker carries when it was set: a drain removes only the marker it read, so a row changed again
meanwhile (marked anew, later) stays marked for the next drain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from scheduler.store.schedule_filters import owned_schedules
from scheduler.store.sql import Queries, Row


class PendingMarker(NamedTuple):
    schedule_id: UUID
    marked_at: datetime


class PendingSyncQueries(Queries):
    def mark_pending(self, schedule_ids: Sequence[UUID]) -> None:
        """Mark the rows (in the caller's transaction, with their change); a marked row is
        marked anew, with the time of this change."""
        if not schedule_ids:
            return
        self.db.execute(
            """insert into schedule_eventbridge_pending (schedule_id)
               select unnest(%s::uuid[])
               on conflict (schedule_id) do update set marked_at = excluded.marked_at""",
            (list(schedule_ids),),
        )

    def oldest_pending(self, owner: UUID | None, limit: int) -> list[PendingMarker]:
        """Up to `limit` markers of the owner's schedules (None: every one), oldest first."""
        rows = self.db.execute(
            f"""select p.schedule_id, p.marked_at
                from schedule_eventbridge_pending p
                join schedules s on s.id = p.schedule_id
                where {owned_schedules(owner)}
                order by p.marked_at, p.schedule_id limit %(limit)s""",
            {"owner": owner, "limit": limit},
        ).fetchall()
        return [PendingMarker(row["schedule_id"], row["marked_at"]) for row in rows]

    def count_pending(self, owner: UUID | None) -> int:
        """How many of the owner's schedules (None: of all) are still marked."""
        row = self.db.execute(
            f"""select count(*) as n
                from schedule_eventbridge_pending p
                join schedules s on s.id = p.schedule_id
                where {owned_schedules(owner)}""",
            {"owner": owner},
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def pending_row(self, marker: PendingMarker) -> Row | None:
        """The marked schedule's row as committed now, if this very marker is still set (None:
        another drain did it, the row changed again since, or the row is gone). Read under the
        schedule's writer lock, which the caller holds."""
        row: Row | None = self.db.execute(
            """select s.* from schedule_eventbridge_pending p
               join schedules s on s.id = p.schedule_id
               where p.schedule_id = %s and p.marked_at = %s""",
            (marker.schedule_id, marker.marked_at),
        ).fetchone()
        return row

    def clear_pending(self, marker: PendingMarker) -> None:
        """Remove this marker (not a newer one the row got meanwhile)."""
        self.db.execute(
            "delete from schedule_eventbridge_pending where schedule_id = %s and marked_at = %s",
            (marker.schedule_id, marker.marked_at),
        )
