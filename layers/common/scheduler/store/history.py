"""The run history's retention SQL (see scheduler.policies.retention). The service itself runs
it: no owner scoping."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from scheduler.store.sql import Queries


class HistoryPosition(NamedTuple):
    """Where a walk of the history by (scheduled_time, id) stands: the last entry it read."""

    scheduled_time: datetime
    id: UUID


class ExpiredRunBatch(NamedTuple):
    scanned: int  # index entries read, at most the batch size
    deleted: int
    last: HistoryPosition | None  # None: nothing older than the cutoff after `after`


class HistoryQueries(Queries):
    def delete_expired_run_batch(
        self, *, cutoff: datetime, after: HistoryPosition, batch_size: int
    ) -> ExpiredRunBatch:
        """Read the next `batch_size` runs scheduled before `cutoff`, after `after` in
        (scheduled_time, id) order, and delete those that may go; one statement.

        A run may go when it is finished and a newer finished run of its schedule exists, so
        each schedule keeps its latest finished run (and any later one still running) however
        old. Finished runs never change again, and the newest one is never deleted, so that
        holds even against a concurrent pass. A row another transaction has locked (a runner
        recording, a schedule's delete) is skipped, not waited for: the next pass takes it.
        At most `batch_size` rows are read and deleted, so the statement stays short.
        """
        row = self.db.execute(
            """with candidates as materialized (
                 select r.id, r.scheduled_time from schedule_runs r
                 where r.scheduled_time < %(cutoff)s
                   and (r.scheduled_time, r.id) > (%(after_time)s, %(after_id)s::uuid)
                 order by r.scheduled_time, r.id
                 limit %(batch_size)s
               ), expired as (
                 select r.id from schedule_runs r join candidates c on c.id = r.id
                 where r.status not in ('running', 'buffered')
                   and exists (select 1 from schedule_runs newer
                               where newer.schedule_id = r.schedule_id
                                 and newer.scheduled_time > r.scheduled_time
                                 and newer.status not in ('running', 'buffered'))
                 for update of r skip locked
               ), deleted as (
                 delete from schedule_runs r using expired e where r.id = e.id returning 1
               ), last as (
                 select scheduled_time, id from candidates
                 order by scheduled_time desc, id desc limit 1
               )
               select (select count(*) from candidates) as scanned,
                      (select count(*) from deleted) as deleted,
                      last.scheduled_time as last_time, last.id as last_id
               from (select 1) one left join last on true""",
            {
                "cutoff": cutoff,
                "after_time": after.scheduled_time,
                "after_id": after.id,
                "batch_size": batch_size,
            },
        ).fetchone()
        assert row is not None
        last = None
        if row["last_id"] is not None:
            last = HistoryPosition(row["last_time"], row["last_id"])
        return ExpiredRunBatch(int(row["scanned"]), int(row["deleted"]), last)
