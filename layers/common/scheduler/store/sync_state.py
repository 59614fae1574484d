"""What was last written to EventBridge for each schedule row (table `schedule_eventbridge_state`),
and the reads reconcile streams by id range.

A record is (fingerprint of the requests the row mapped to, when they were written). Writers
record it in the transaction that changes the row, so it commits, or rolls back, with the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from scheduler.store.sql import Queries, Row


class Written(NamedTuple):
    """What one apply sent to EventBridge, and when it was done (see eventbridge.fingerprint)."""

    fingerprint: str
    written_at: datetime


class SyncStateQueries(Queries):
    def record_eventbridge_state(self, schedule_id: UUID, written: Written) -> None:
        """What the caller just wrote for the row; the newer record wins (a repair that read the
        schedule before an API write committed never replaces what the API recorded)."""
        self.record_eventbridge_states([(schedule_id, written)])

    def record_eventbridge_states(self, states: Iterable[tuple[UUID, Written]]) -> None:
        """Many records in one statement; rows deleted meanwhile are skipped."""
        ids, fingerprints, times = [], [], []
        for schedule_id, written in states:
            ids.append(schedule_id)
            fingerprints.append(written.fingerprint)
            times.append(written.written_at)
        if not ids:
            return
        self.db.execute(
            """insert into schedule_eventbridge_state as st (schedule_id, fingerprint, written_at)
               select r.id, r.fingerprint, r.written_at
               from unnest(%s::uuid[], %s::text[], %s::timestamptz[])
                 as r (id, fingerprint, written_at)
               join schedules s on s.id = r.id
               on conflict (schedule_id) do update
                 set fingerprint = excluded.fingerprint, written_at = excluded.written_at
                 where st.written_at <= excluded.written_at""",
            (ids, fingerprints, times),
        )

    def forget_eventbridge_state(self, schedule_id: UUID) -> None:
        """The row has no EventBridge schedule any more (a pause of an unmappable row)."""
        self.db.execute(
            "delete from schedule_eventbridge_state where schedule_id = %s", (schedule_id,)
        )

    def count_schedules_between(self, low: UUID, high: UUID) -> int:
        row = self.db.execute(
            "select count(*) as n from schedules where id between %s and %s", (low, high)
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def schedule_batches_with_state(
        self, low: UUID, high: UUID, *, after: UUID | None = None, batch: int = 500
    ) -> Iterator[list[Row]]:
        """Rows with ids in [low, high] (and > after), in id order, a batch per query, each with
        its recorded `sync_fingerprint` and `sync_written_at` (None when it has none)."""
        last = after
        while True:
            rows = self.db.execute(
                """select s.*, st.fingerprint as sync_fingerprint,
                          st.written_at as sync_written_at
                   from schedules s
                   left join schedule_eventbridge_state st on st.schedule_id = s.id
                   where s.id between %(low)s and %(high)s
                     and (%(last)s::uuid is null or s.id > %(last)s::uuid)
                   order by s.id limit %(batch)s""",
                {"low": low, "high": high, "last": last, "batch": batch},
            ).fetchall()
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = rows[-1]["id"]
