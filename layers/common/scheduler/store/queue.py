"""The SQL of runs that wait for their workflow: `buffered` rows (see scheduler.run.queue).

A buffered row is a claimable slot: the runner claims it like a new one (store.runs), runs it
under the workflow's lease, and records it as any other run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from scheduler.store.sql import Queries, Row

# The order waiting runs are handed on in: a live fire that found its workflow busy first, then
# catch-up, then backfill; within each, the oldest fire time first.
_HAND_ON_ORDER = """case r.trigger when 'catchup' then 1 when 'backfill' then 2 else 0 end,
    r.scheduled_time"""
# After a live fire's run, a waiting catch-up goes before a waiting live fire: under buffer_one a
# workflow whose runs outlast its cron's interval always has a live fire waiting when a run ends,
# and with live fires always first a catch-up queued behind them never ran (simulation seed 123:
# a `latest` catch-up waited 32 minutes, until a pause skipped it). Live fires and catch-ups then
# take turns, so a catch-up waits for at most one live run; backfill still comes last.
_CATCHUP_TURN_ORDER = """case r.trigger when 'catchup' then 0 when 'backfill' then 2 else 1 end,
    r.scheduled_time"""

# A workflow whose last run started this recently has a moving queue: the end of that run hands
# on the next. As long as scheduler.run.queue.QUEUED_PATIENCE (which imports this module's
# QueueQueries), a run of the runner's timeout with its record.
QUEUE_MOVING_WITHIN = timedelta(minutes=10)

# Advisory locks in the two-key space: class 1 is scheduler.store.limits's (schedules per owner),
# this one serialises the backfill requests of one owner (the active-backfills cap).
_OWNER_BACKFILLS_LOCK_CLASS = 2


class QueueQueries(Queries):
    def buffer_busy_run(
        self, run_id: UUID, *, requeue: bool, now: datetime, wait_until: datetime, error: str
    ) -> bool:
        """A claimed run that found its workflow busy goes back to waiting (`buffered`), when
        `requeue` (it is queued work: catch-up, backfill, a buffered fire) or its schedule's
        overlap policy is buffer_one and no other live fire of the schedule waits already.
        True when it waits now; False leaves it claimed, for the caller to record skipped.
        `wait_until` is when the missed-fire check takes it as stalled (its hand-on was lost).
        Never for a disabled schedule: disabling skips the waiting runs it finds (a trigger of
        the migrations), so a run put to wait after that would wait, and then run stale on
        resume. The schedule row is locked (shared) so that a pause committing meanwhile is
        either seen here or sees this run waiting.
        """
        try:
            row = self.db.execute(
                """with s as (
                     select s.id, s.overlap_policy
                     from schedules s join schedule_runs q on q.schedule_id = s.id
                     where q.id = %(run_id)s and s.enabled
                     for share of s
                   )
                   update schedule_runs r
                   set status = 'buffered', fence = null, lease_expires_at = %(wait_until)s,
                       started_at = %(now)s, error = %(error)s
                   from s
                   where r.id = %(run_id)s and s.id = r.schedule_id
                     and r.status = 'running' and r.fence is null
                     and (%(requeue)s or s.overlap_policy = 'buffer_one')
                   returning r.id""",
                {
                    "run_id": run_id,
                    "requeue": requeue,
                    "now": now,
                    "wait_until": wait_until,
                    "error": error,
                },
            ).fetchone()
        except psycopg.errors.UniqueViolation:  # schedule_runs_one_buffered_fire: one waits
            return False
        return row is not None

    def next_buffered_run(self, workflow_id: UUID, *, catchup_first: bool = False) -> Row | None:
        """The workflow's waiting run to hand on next (of an enabled schedule), or None;
        `catchup_first` (the run that ended was a live fire's): a catch-up takes its turn."""
        order = _CATCHUP_TURN_ORDER if catchup_first else _HAND_ON_ORDER
        return self.db.execute(
            f"""select r.schedule_id, r.workflow_id, r.scheduled_time, r.trigger
                from schedule_runs r join schedules s on s.id = r.schedule_id
                where r.workflow_id = %s and r.status = 'buffered' and s.enabled
                order by {order} limit 1""",
            (workflow_id,),
        ).fetchone()

    def queue_head(
        self, workflow_id: UUID, now: datetime, claim_token: str | None = None
    ) -> Row | None:
        """The workflow's queued run (catch-up, backfill) that goes first: waiting, or claimed
        and not started yet (unless that claim's lease expired: its invocation died, and the
        run is settled as abandoned); None when none is queued. Its `status` says which.
        A run claimed under `claim_token` (whatever its status) goes first of all: that
        invocation took its turn already, and Lambda's retry of it must resume its claim, not
        leave it orphaned behind a run queued meanwhile."""
        return self.db.execute(
            f"""select r.schedule_id, r.workflow_id, r.scheduled_time, r.trigger, r.status
                from schedule_runs r join schedules s on s.id = r.schedule_id
                where r.workflow_id = %(workflow_id)s and s.enabled
                  and r.trigger in ('catchup', 'backfill')
                  and (r.status = 'buffered'
                       or (r.status = 'running' and r.fence is null
                           and r.lease_expires_at >= %(now)s)
                       or r.claim_token = %(claim_token)s)
                order by coalesce(r.claim_token = %(claim_token)s, false) desc, {_HAND_ON_ORDER}
                limit 1""",
            {"workflow_id": workflow_id, "now": now, "claim_token": claim_token},
        ).fetchone()

    def newer_fire_unsettled(self, schedule_id: UUID, slot: datetime) -> bool:
        """Under catchupPolicy latest: whether a newer fire of the schedule is claimed and not
        started (its retries may run it, or its claim expires and it is missed too: then it,
        not `slot`, is the outage's latest, and the sweep supersedes `slot`)."""
        row = self.db.execute(
            """select exists (
                 select 1 from schedule_runs n join schedules s on s.id = n.schedule_id
                 where n.schedule_id = %s and s.catchup_policy = 'latest'
                   and n.status = 'running' and n.fence is null and n.trigger = 'schedule'
                   and n.scheduled_time > %s) as unsettled""",
            (schedule_id, slot),
        ).fetchone()
        return bool(row and row["unsettled"])

    def stalled_buffered_runs(self, now: datetime, limit: int) -> list[Row]:
        """For each workflow (at most `limit`) with a waiting run whose hand-on is overdue and
        whose queue is not moving, the run to hand on next: its finishing runner died, or its
        hand-on was lost. Longest overdue first.

        A queue is moving while a run of its workflow holds a live claim, or within
        QUEUE_MOVING_WITHIN of its last run's start: that run's end hands on the next. A long
        backfill's waiting runs are all overdue after QUEUED_PATIENCE while it runs healthily;
        without this they took every place of a pass, each handed on for nothing, and a
        workflow whose hand-on was really lost waited behind them for good.
        """
        return self.db.execute(
            f"""select distinct on (w.workflow_id) r.schedule_id, r.workflow_id,
                       r.scheduled_time, r.trigger
                from (select q.workflow_id, min(q.lease_expires_at) as overdue_since
                      from schedule_runs q
                      join schedules qs on qs.id = q.schedule_id and qs.enabled
                      join workflows qw on qw.id = q.workflow_id
                      where q.status = 'buffered' and q.lease_expires_at < %(now)s
                        and (qw.last_run_at is null or qw.last_run_at < %(moving_since)s)
                        -- once per pass, off schedule_runs_stuck_idx (the runs in progress),
                        -- never a walk of each workflow's history
                        and q.workflow_id not in (
                          select m.workflow_id from schedule_runs m
                          where m.status = 'running' and m.lease_expires_at >= %(now)s)
                      group by q.workflow_id
                      order by overdue_since, q.workflow_id
                      limit %(limit)s) w
                join schedule_runs r on r.workflow_id = w.workflow_id and r.status = 'buffered'
                join schedules s on s.id = r.schedule_id and s.enabled
                order by w.workflow_id, {_HAND_ON_ORDER}""",
            {"now": now, "limit": limit, "moving_since": now - QUEUE_MOVING_WITHIN},
        ).fetchall()

    def lock_and_count_owner_backfills(self, owner_id: UUID | None, workflow_id: UUID) -> int:
        """How many other workflows of `owner_id` (None: workflows without one) have a backfill
        queued or running, under the owner's backfill lock until the transaction ends (waiting
        for it): two backfills at the cap cannot both pass (scheduler.policies.backfill)."""
        self.db.require_transaction("the owner's backfill lock")
        key = int.from_bytes((owner_id or UUID(int=0)).bytes[:4], "big", signed=True)
        self.db.execute("select pg_advisory_xact_lock(%s, %s)", (_OWNER_BACKFILLS_LOCK_CLASS, key))
        owned = "w.owner_id is null" if owner_id is None else "w.owner_id = %(owner)s"
        row = self.db.execute(
            f"""select count(*) as n from workflows w
                where {owned} and w.id <> %(workflow_id)s
                  and exists (select 1 from schedule_runs r
                              where r.workflow_id = w.id and r.trigger = 'backfill'
                                and r.status in ('buffered', 'running'))""",
            {"owner": owner_id, "workflow_id": workflow_id},
        ).fetchone()
        assert row is not None
        return int(row["n"])

    def queue_runs(
        self,
        schedule_id: UUID,
        workflow_id: UUID,
        slots: Sequence[datetime],
        *,
        trigger: str,
        now: datetime,
        wait_until: datetime,
        error: str | None = None,
    ) -> int:
        """Queue a waiting run (`buffered`, `trigger`) for each slot that has not run; the
        count queued. A slot recorded `missed` is queued (it never ran); one with a run of any
        other status keeps it: it is never run twice. Nothing is queued for a disabled schedule
        (its row locked shared, as in buffer_busy_run: a pause never misses a run queued here).
        """
        row = self.db.execute(
            """with queued as (
                 insert into schedule_runs as r (schedule_id, workflow_id, trigger,
                                                 scheduled_time, status, started_at,
                                                 lease_expires_at, error)
                 select %(schedule_id)s, %(workflow_id)s, %(trigger)s, slot, 'buffered',
                        %(now)s, %(wait_until)s, %(error)s
                 from unnest(%(slots)s::timestamptz[]) as slot
                   join schedules s on s.id = %(schedule_id)s and s.enabled
                 for share of s
                 on conflict (schedule_id, scheduled_time) do update
                   set status = 'buffered', trigger = excluded.trigger, finished_at = null,
                       started_at = excluded.started_at,
                       lease_expires_at = excluded.lease_expires_at, error = excluded.error
                   where r.status = 'missed'
                 returning id
               )
               select count(*) as queued from queued""",
            {
                "schedule_id": schedule_id,
                "workflow_id": workflow_id,
                "trigger": trigger,
                "slots": list(slots),
                "now": now,
                "wait_until": wait_until,
                "error": error,
            },
        ).fetchone()
        assert row is not None
        return int(row["queued"])
