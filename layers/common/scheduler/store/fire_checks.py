"""The SQL of the missed-fire check (scheduler.policies.missed_fires): a batch at a time, a few
statements per batch whatever its size.

`schedule_fire_checks` holds, per schedule, how far its fire times have been checked and when the
next one is due; a schedule whose fire times start anew (created, enabled, changed) is reset to
"due now, from now" by a trigger (migrations/20261206000000_run_policies.sql).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from scheduler.store.sql import Queries, Row


@dataclass(frozen=True)
class MissedRow:
    """A run row the check writes for a fire time that did not run."""

    schedule_id: UUID
    workflow_id: UUID
    scheduled_time: datetime
    status: str  # `missed`, or `buffered` to be caught up (trigger `catchup`)
    error: str


@dataclass(frozen=True)
class CheckedThrough:
    """How far a schedule's fire times are checked now, and when the next one is due."""

    schedule_id: UUID
    fires_from: datetime  # the one the check read: a newer one (a change meanwhile) wins
    checked_through: datetime
    next_check_at: datetime | None
    # the pass that first found the fire times still to check after checked_through; None
    # once none is left (see schedule_fire_checks.backlog_found_at)
    backlog_found_at: datetime | None = None
    # under `latest`, the backlog's newest missed slot within the window found so far, left
    # without a row for the batch that reaches its newest due slot (see
    # schedule_fire_checks.backlog_latest_slot); None once written
    backlog_latest_slot: datetime | None = None


@dataclass(frozen=True)
class CheckPass:
    """The check's heartbeat (missed_fire_check_passes): its latest pass that got to its end,
    and the first pass after its latest outage."""

    last_pass_at: datetime
    up_since: datetime


class FireCheckQueries(Queries):
    def last_fire_check_pass(self) -> CheckPass | None:
        """The check's heartbeat; None before its first pass."""
        row = self.db.execute(
            "select last_pass_at, up_since from missed_fire_check_passes"
        ).fetchone()
        return None if row is None else CheckPass(row["last_pass_at"], row["up_since"])

    def record_fire_check_pass(self, done: CheckPass) -> None:
        """A pass got to its end; a pass that started later and ended first keeps its own."""
        self.db.execute(
            """insert into missed_fire_check_passes (last_pass_at, up_since) values (%s, %s)
               on conflict (singleton) do update
               set last_pass_at = excluded.last_pass_at, up_since = excluded.up_since
               where missed_fire_check_passes.last_pass_at < excluded.last_pass_at""",
            (done.last_pass_at, done.up_since),
        )

    def due_fire_checks(self, now: datetime, limit: int) -> list[Row]:
        """Up to `limit` schedules with a fire time due to have a run row by `now`, most
        overdue first, with what deciding about their missed fire times needs (and when
        EventBridge was last written for the schedule)."""
        return self.db.execute(
            """select c.schedule_id, c.fires_from, c.checked_through, c.backlog_found_at,
                      c.backlog_latest_slot, c.disabled_at, s.workflow_id, s.cron,
                      s.run_at, s.timezone, s.dst_policy, s.enabled, s.start_at, s.end_at,
                      s.flexible_window_minutes, s.catchup_policy, s.catchup_window_seconds,
                      w.owner_id,
                      w.name as workflow_name, st.written_at as eventbridge_written_at,
                      -- the calendars it excludes: [{name, timezone, dates: [[start, end]]}]
                      (select jsonb_agg(jsonb_build_object(
                                'name', cal.name, 'timezone', cal.timezone,
                                'dates', (select coalesce(jsonb_agg(
                                                 jsonb_build_array(lower(r), upper(r) - 1)),
                                                 '[]'::jsonb)
                                          from unnest(cal.dates) r)))
                       from calendars cal where cal.id = any(s.exclude_calendars)) as exclusions
               from schedule_fire_checks c
               join schedules s on s.id = c.schedule_id
               join workflows w on w.id = s.workflow_id
               left join schedule_eventbridge_state st on st.schedule_id = c.schedule_id
               where c.next_check_at <= %s
               order by c.next_check_at
               limit %s""",
            (now, limit),
        ).fetchall()

    def slots_with_runs(self, slots: Sequence[tuple[UUID, datetime]]) -> set[tuple[UUID, datetime]]:
        """Which of these (schedule, fire time) slots have a run row, of any status, or an
        exception: a skipped or moved slot is never missed here (a skip is recorded, a move
        checked at its new time, by scheduler.policies.excepted_fires)."""
        if not slots:
            return set()
        rows = self.db.execute(
            """select r.schedule_id, r.scheduled_time
               from unnest(%(ids)b::uuid[], %(times)b::timestamptz[])
                    as slot(schedule_id, scheduled_time)
               join schedule_runs r using (schedule_id, scheduled_time)
               union
               select e.schedule_id, e.occurrence
               from unnest(%(ids)b::uuid[], %(times)b::timestamptz[])
                    as slot(schedule_id, scheduled_time)
               join schedule_exceptions e
                 on e.schedule_id = slot.schedule_id and e.occurrence = slot.scheduled_time""",
            {"ids": [s for s, _ in slots], "times": [t for _, t in slots]},
        ).fetchall()
        return {(row["schedule_id"], row["scheduled_time"]) for row in rows}

    def record_missed(
        self,
        rows: Sequence[MissedRow],
        *,
        now: datetime,
        wait_until: datetime,
        paused_error: str,
    ) -> list[Row]:
        """Write the rows (a slot that got a run meanwhile keeps it); the rows written, with
        their ids. A `missed` row is finished at `now`; a `buffered` one waits, trigger
        `catchup`, taken as stalled after `wait_until` if its hand-on is lost. Each one's
        `Run Missed` alert is pending until `missed_alerts_sent`. A schedule disabled since the
        rows were decided (its row locked shared: a pause committing meanwhile is seen) gets
        every row `missed`, error `paused_error`, none `buffered`: the slots are still recorded
        and alerted (the check moves past them), and no run waits to run stale when it is
        enabled again."""
        if not rows:
            return []
        return self.db.execute(
            """insert into schedule_runs as r (schedule_id, workflow_id, trigger, scheduled_time,
                                               status, started_at, finished_at,
                                               lease_expires_at, error,
                                               missed_alert_pending)
               select d.schedule_id, d.workflow_id,
                      case d.status when 'buffered' then 'catchup' else 'schedule' end,
                      d.scheduled_time, d.status, %(now)s,
                      case d.status when 'buffered' then null else %(now)s::timestamptz end,
                      case d.status when 'buffered' then %(wait_until)s::timestamptz end,
                      d.error, true
               from (select m.schedule_id, m.workflow_id, m.scheduled_time,
                            case when s.enabled then m.status else 'missed' end as status,
                            case when s.enabled then m.error else %(paused_error)s end as error
                     from unnest(%(schedule_ids)b::uuid[], %(workflow_ids)b::uuid[],
                                 %(times)b::timestamptz[], %(statuses)b::text[],
                                 %(errors)b::text[])
                          as m(schedule_id, workflow_id, scheduled_time, status, error)
                     join schedules s on s.id = m.schedule_id
                     for share of s) as d
               on conflict (schedule_id, scheduled_time) do nothing
               returning r.id, r.schedule_id, r.workflow_id, r.scheduled_time, r.status,
                         r.trigger, r.error""",
            {
                "schedule_ids": [m.schedule_id for m in rows],
                "workflow_ids": [m.workflow_id for m in rows],
                "times": [m.scheduled_time for m in rows],
                "statuses": [m.status for m in rows],
                "errors": [m.error for m in rows],
                "now": now,
                "wait_until": wait_until,
                "paused_error": paused_error,
            },
        ).fetchall()

    def supersede_catchups(
        self, latest: Sequence[tuple[UUID, datetime]], *, now: datetime, error: str
    ) -> int:
        """For each (schedule, slot) just queued as its latest catch-up, record the schedule's
        older catch-up runs still waiting `missed` instead, and the slot itself if the schedule
        has a newer catch-up (any status: the missed-fire check and the sweep of unstarted
        claims each queue one, in either order) or a newer missed slot (the outage went on past
        it: only the newest missed slot is caught up); the count."""
        if not latest:
            return 0
        row = self.db.execute(
            """with l as (
                 select * from unnest(%s::uuid[], %s::timestamptz[]) as l(schedule_id, slot)
               ), superseded as (
                 update schedule_runs r
                 set status = 'missed', finished_at = %s, lease_expires_at = null, error = %s
                 where r.status = 'buffered' and r.trigger = 'catchup'
                   and r.schedule_id in (select schedule_id from l)
                   and (exists (select 1 from l
                                where l.schedule_id = r.schedule_id and r.scheduled_time < l.slot)
                        or exists (select 1 from schedule_runs n
                                   where n.schedule_id = r.schedule_id
                                     and (n.trigger = 'catchup' or n.status = 'missed')
                                     and n.scheduled_time > r.scheduled_time))
                 returning r.id
               )
               select count(*) as superseded from superseded""",
            ([s for s, _ in latest], [t for _, t in latest], now, error),
        ).fetchone()
        assert row is not None
        return int(row["superseded"])

    def advance_fire_checks(self, checks: Sequence[CheckedThrough]) -> None:
        """Move each schedule's check on, unless its fire times started anew meanwhile."""
        if not checks:
            return
        self.db.execute(
            """update schedule_fire_checks c
               set checked_through = u.checked_through, next_check_at = u.next_check_at,
                   backlog_found_at = u.backlog_found_at,
                   backlog_latest_slot = u.backlog_latest_slot
               from unnest(%b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[],
                           %b::timestamptz[], %b::timestamptz[])
                    as u(schedule_id, fires_from, checked_through, next_check_at,
                         backlog_found_at, backlog_latest_slot)
               where c.schedule_id = u.schedule_id and c.fires_from = u.fires_from""",
            (
                [c.schedule_id for c in checks],
                [c.fires_from for c in checks],
                [c.checked_through for c in checks],
                [c.next_check_at for c in checks],
                [c.backlog_found_at for c in checks],
                [c.backlog_latest_slot for c in checks],
            ),
        )

    def pending_missed_alerts(self, limit: int) -> list[Row]:
        """Up to `limit` runs whose `Run Missed` alert EventBridge has not accepted yet, oldest
        fire time first, with what the alert says."""
        return self.db.execute(
            """select r.id, r.schedule_id, r.workflow_id, r.scheduled_time, r.trigger, r.error,
                      w.owner_id, w.name as workflow_name
               from schedule_runs r
               join workflows w on w.id = r.workflow_id
               where r.missed_alert_pending
               order by r.scheduled_time
               limit %s""",
            (limit,),
        ).fetchall()

    def missed_alerts_sent(self, run_ids: Sequence[UUID]) -> None:
        """EventBridge accepted these runs' `Run Missed` alerts: none is sent again."""
        if run_ids:
            self.db.execute(
                """update schedule_runs set missed_alert_pending = null
                   where id = any(%b::uuid[]) and missed_alert_pending""",
                (list(run_ids),),
            )
