"""The runner's SQL: claim a slot, start, record (its statement in run_outcome.py), and fail
abandoned runs (see runner.py).

The service itself runs these (no owner scoping); timestamps come from the runner's clock. Every
statement is one round trip and safe to repeat, so the runner can retry it after a lost answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from scheduler.errors import ScheduleNotFound
from scheduler.store.fire_checks import MissedRow
from scheduler.store.run_outcome import RunOutcomeQueries
from scheduler.store.sql import Row

# One message for a run whose lease expired unrecorded: its runner crashed or outlived the lease.
ABANDONED_RUN_ERROR = "abandoned: its lease expired before it recorded a result"
# A newer lease started while this run's own lease was still live: two holders at once, which
# only a lock fault or clock skew beyond the tolerance can cause. Said as it is, not as expired.
SUPERSEDED_RUN_ERROR = "superseded: a newer lease of its workflow started while its lease was live"
# A fire on a date of a calendar its schedule excludes: the calendar's name follows.
CALENDAR_SKIP_REASON = "skipped by calendar "


@dataclass(frozen=True)
class SettledClaim:
    """What becomes of an expired claim that never started (scheduler.policies.abandoned_runs)."""

    run_id: UUID
    row: MissedRow  # its status (`missed`, `failed`, or `buffered` to run again) and error
    trigger: str  # the trigger it keeps, or `catchup` when a missed slot is caught up
    alert: bool  # a `Run Missed` alert is due: left pending until EventBridge accepts it


class RunQueries(RunOutcomeQueries):
    def claim_run_slot(
        self,
        schedule_id: UUID,
        workflow_id: UUID,
        scheduled_time: datetime,
        *,
        trigger: str,
        attempt: int,
        claim_token: str,
        started_at: datetime,
        lease_expires_at: datetime,
        moved_to: datetime | None = None,
    ) -> Row:
        """Read the schedule with its workflow and claim the (schedule, scheduled time) slot.

        One statement, safe to repeat. The slot is claimed when it has no run yet, or when its
        run was claimed but never started, either by this `claim_token` (a retry of the same
        invocation, whose earlier attempt ended) or by a claim whose lease has expired.
        A `buffered` run (waiting for its workflow: scheduler.run.queue) is claimed by whoever
        comes for it, and keeps the trigger it was queued with; it was admitted when it fired,
        so a window changed while it waited does not strand it. A queued one (catch-up,
        backfill) only by its hand-on (trigger `catchup`/`backfill`), which checks the queue's
        order first: a late EventBridge delivery of its slot is a duplicate, never a jump.
        A scheduled fire (`trigger` "schedule") is claimed only inside the schedule's window
        [start_at, end_at]; a manual run is the user's own call, whatever the window.
        Returns the schedule (`cron` or `run_at`, `timezone`, `dst_policy`, `enabled`,
        `in_window`, `note`,
        `input_json`: its input's text, loaded by the runner within bounds, `external_id`,
        `consecutive_failures`: for the record's retry, see record_run_outcome), the workflow
        (`workflow_name`, `owner_id`, `definition_json`: the definition's text, loaded by the
        runner), `run_id` (the claimed run; None when the schedule is disabled, the fire is
        outside its window or the slot is held) and `existing`, the slot's run as it was before
        this statement (None if it had none).
        With them, the slot's exception (scheduler.api.schedule_exceptions): `exception_action`
        (`skip`, `move` or None), `exception_move_to`, `exception_note`. A scheduled fire of a
        moved slot is claimed only by the delivery whose `moved_to` is the move's (its at()).
        A fire other than a manual run whose instant falls on a date of a calendar the schedule
        excludes (read in the calendar's timezone) is claimed already `skipped` (`run_status`),
        with the reason naming the calendar (`excluded_by`, the first by name), and the
        schedule's last_run_status is `skipped`: the calendar as committed when the claim is
        made decides. A claim resumed (a retry's, or one taken over after its lease expired)
        keeps the decision it was made with; a waiting (`buffered`) run is decided at its turn.
        ScheduleNotFound if the schedule is gone or is not the workflow's.
        """
        try:
            row = self.db.execute(
                """with target as (
                     select s.id as schedule_id, s.workflow_id, s.cron, s.run_at, s.timezone,
                            s.enabled, s.dst_policy,
                            s.note, s.overlap_policy, s.input::text as input_json,
                            s.external_id, s.consecutive_failures,
                            (%(trigger)s <> 'schedule'
                             or ((s.start_at is null or s.start_at <= %(scheduled_time)s)
                                 and (s.end_at is null or %(scheduled_time)s <= s.end_at)))
                              as in_window,
                            w.name as workflow_name, w.owner_id,
                            w.definition::text as definition_json,
                            (select c.name from calendars c
                             where %(trigger)s <> 'manual'
                               and c.id = any(s.exclude_calendars)
                               and c.dates @> (%(scheduled_time)s::timestamptz
                                               at time zone c.timezone)::date
                             order by c.name limit 1) as excluded_by
                     from schedules s join workflows w on w.id = s.workflow_id
                     where s.id = %(schedule_id)s and s.workflow_id = %(workflow_id)s
                   ), existing as (
                     select to_jsonb(r) as run from schedule_runs r
                     where r.schedule_id = %(schedule_id)s
                       and r.scheduled_time = %(scheduled_time)s
                   ), exception as (
                     select action, move_to, note from schedule_exceptions
                     where schedule_id = %(schedule_id)s and occurrence = %(scheduled_time)s
                   ), claimed as (
                     insert into schedule_runs as r (schedule_id, workflow_id, trigger,
                                                     scheduled_time, attempt, claim_token,
                                                     started_at, lease_expires_at, status,
                                                     finished_at, error)
                     select schedule_id, workflow_id, %(trigger)s, %(scheduled_time)s,
                            %(attempt)s, %(claim_token)s, %(started_at)s, %(lease_expires_at)s,
                            case when excluded_by is null then 'running' else 'skipped' end,
                            case when excluded_by is not null then %(started_at)s end,
                            %(calendar_reason)s::text || excluded_by
                     from target
                     where enabled
                       and (in_window
                            or (select run->>'status' from existing) = 'buffered')
                       -- a moved slot is claimed by its at()'s delivery, not the cron's
                       and (%(trigger)s <> 'schedule'
                            or (select run->>'status' from existing) = 'buffered'
                            or (select move_to from exception where action = 'move')
                               is not distinct from %(moved_to)s::timestamptz)
                     on conflict (schedule_id, scheduled_time) do update
                       -- a claim resumed (running, never started) was decided when it was
                       -- made; a waiting run is decided now, at its turn
                       set status = case when r.status = 'running' then 'running'
                                         else excluded.status end,
                           error = case when r.status = 'running' then null
                                        else excluded.error end,
                           finished_at = case when r.status = 'running' then null
                                              else excluded.finished_at end,
                           attempt = excluded.attempt, claim_token = excluded.claim_token,
                           started_at = excluded.started_at,
                           lease_expires_at = excluded.lease_expires_at
                       where (r.status = 'buffered'
                              and (r.trigger in ('catchup', 'backfill'))
                                  = (excluded.trigger in ('catchup', 'backfill')))
                          or (r.status = 'running' and r.fence is null
                              and (r.claim_token = excluded.claim_token
                                   or r.lease_expires_at < excluded.started_at))
                     returning id, status
                   ), skipped as (
                     -- a calendar's skip is the schedule's last outcome, as record_skipped_run
                     update schedules s
                     set last_run_status = 'skipped', last_run_scheduled_time = %(scheduled_time)s
                     where s.id = %(schedule_id)s
                       and exists (select 1 from claimed where status = 'skipped')
                       and (s.last_run_scheduled_time is null
                            or %(scheduled_time)s >= s.last_run_scheduled_time)
                   )
                   select target.*, (select id from claimed) as run_id,
                          (select status from claimed) as run_status,
                          (select run from existing) as existing,
                          (select action from exception) as exception_action,
                          (select move_to from exception) as exception_move_to,
                          (select note from exception) as exception_note
                   from target""",
                {
                    "schedule_id": schedule_id,
                    "workflow_id": workflow_id,
                    "trigger": trigger,
                    "scheduled_time": scheduled_time,
                    "attempt": attempt,
                    "claim_token": claim_token,
                    "started_at": started_at,
                    "lease_expires_at": lease_expires_at,
                    "moved_to": moved_to,
                    "calendar_reason": CALENDAR_SKIP_REASON,
                },
            ).fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:  # deleted while we claimed
            raise ScheduleNotFound(schedule_id) from exc
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def unclaim_run_slot(self, run_id: UUID) -> None:
        """Delete a claim that never started (a stale fire, or one re-claimed under its slot).
        A calendar's skip the claim made it the schedule's last outcome (claim_run_slot): given
        back, the last outcome is again the newest finished run's (none: null), as ever."""
        self.db.execute(
            # `skipped`: the claim's own calendar skip, given back to be claimed under its slot
            """with gone as (
                 delete from schedule_runs
                 where id = %s and status in ('running', 'skipped') and fence is null
                 returning schedule_id, scheduled_time, status
               )
               update schedules s
               set (last_run_status, last_run_scheduled_time) = (
                     select r.status, r.scheduled_time
                     from (select 1) as one left join lateral (
                       -- the statement's snapshot still holds the deleted row: left out
                       select status, scheduled_time from schedule_runs
                       where schedule_id = s.id and scheduled_time <> gone.scheduled_time
                         and status in ('succeeded', 'failed', 'skipped')
                       order by scheduled_time desc, id desc limit 1
                     ) r on true)
               from gone
               where s.id = gone.schedule_id and gone.status = 'skipped'
                 and s.last_run_scheduled_time = gone.scheduled_time""",
            (run_id,),
        )

    def start_run(
        self,
        run_id: UUID,
        workflow_id: UUID,
        *,
        claim_token: str,
        fence: int,
        lease_expires_at: datetime,
        now: datetime,
        fenced_error: str,
    ) -> Row:
        """Mark the workflow running under lease `fence`, in one statement, safe to repeat.

        Only the run's current claimant (`claim_token`) may start it, and only with a fence no
        older than the workflow's (the same fence again is this start repeated); then every
        other run of the workflow still `running` from an older lease is failed as abandoned
        (a claim that never started is the sweep's: its slot is missed, see
        scheduler.policies.abandoned_runs). A rejected fence fails this run instead. Returns
        `claimed` (the run is still this claimant's), `run_token` (its claimant's token), `started`
        and `abandoned_runs`: the runs failed here (id, schedule_id, scheduled_time, trigger,
        attempt, error), for the runner to alert.
        """
        row = self.db.execute(
            """with mine as (
                 select id from schedule_runs
                 where id = %(run_id)s and claim_token = %(claim_token)s
                   and status = 'running' and (fence is null or fence = %(fence)s)
                 for update
               ), workflow as (
                 update workflows set status = 'running', lease_fence = %(fence)s
                 where id = %(workflow_id)s and lease_fence <= %(fence)s
                   and exists (select 1 from mine)
                 returning id
               ), abandoned as (
                 update schedule_runs
                 set status = 'failed', finished_at = %(now)s,
                     error = case when lease_expires_at >= %(now)s then %(superseded_error)s
                                  else %(abandoned_error)s end
                 where workflow_id = %(workflow_id)s and status = 'running' and id <> %(run_id)s
                   and fence < %(fence)s
                   and exists (select 1 from workflow)
                 returning id, schedule_id, scheduled_time, trigger, attempt, error
               ), run as (
                 update schedule_runs set
                   fence = %(fence)s,
                   lease_expires_at = %(lease_expires_at)s,
                   status = case when exists (select 1 from workflow)
                                 then 'running' else 'failed' end,
                   finished_at = case when exists (select 1 from workflow)
                                      then null else %(now)s::timestamptz end,
                   error = case when exists (select 1 from workflow)
                                then null else %(fenced_error)s end
                 where id in (select id from mine)
                 returning id
               )
               select exists (select 1 from mine) as claimed,
                      (select claim_token from schedule_runs where id = %(run_id)s) as run_token,
                      exists (select 1 from workflow) as started,
                      (select coalesce(jsonb_agg(to_jsonb(a)), '[]'::jsonb)
                       from abandoned a) as abandoned_runs,
                      (select count(*) from run) as runs""",
            {
                "run_id": run_id,
                "workflow_id": workflow_id,
                "claim_token": claim_token,
                "fence": fence,
                "lease_expires_at": lease_expires_at,
                "now": now,
                "abandoned_error": ABANDONED_RUN_ERROR,
                "superseded_error": SUPERSEDED_RUN_ERROR,
                "fenced_error": fenced_error,
            },
        ).fetchone()
        assert row is not None
        return row

    def record_skipped_run(self, run_id: UUID, *, now: datetime, reason: str) -> None:
        """Finish a claimed run that did not start because the workflow was busy; its schedule's
        `last_run_status` (the list's filter) becomes `skipped` unless a newer slot's outcome is
        already there (an older slot recorded late), in the same statement."""
        self.db.execute(
            """with run as (
                 update schedule_runs set status = 'skipped', finished_at = %(now)s,
                                          error = %(reason)s
                 where id = %(run_id)s and status = 'running' and fence is null
                 returning schedule_id, scheduled_time
               )
               update schedules s
               set last_run_status = 'skipped', last_run_scheduled_time = run.scheduled_time
               from run
               where s.id = run.schedule_id
                 and (s.last_run_scheduled_time is null
                      or run.scheduled_time >= s.last_run_scheduled_time)""",
            {"now": now, "reason": reason, "run_id": run_id},
        )

    def fail_abandoned_runs(self, now: datetime) -> list[Row]:
        """Fail every started run still `running` whose lease expired before `now` (its runner
        died, or the start's answer was lost); its workflow goes back to idle unless another
        run of it is live, and its schedule's `last_run_status` is `failed` (unless a newer
        slot's outcome is there). The runs failed (with what their Run Failed alert says). A
        claim that never started is not failed here: see `settle_unstarted_claims`."""
        return self.db.execute(
            """with failed as (
                 update schedule_runs
                 set status = 'failed', finished_at = %(now)s, error = %(error)s
                 where status = 'running' and fence is not null and lease_expires_at < %(now)s
                 returning id, schedule_id, workflow_id, scheduled_time, trigger, attempt, error
               ), idle as (
                 update workflows w set status = 'idle'
                 where w.status = 'running' and w.id in (select workflow_id from failed)
                   and not exists (
                     select 1 from schedule_runs r
                     where r.workflow_id = w.id and r.status = 'running'
                       and not (r.fence is null and r.lease_expires_at < %(now)s)
                       and r.id not in (select id from failed))
                 returning w.id
               ), outcome as (
                 -- the list's lastRunStatus, as the runner's record would have written it: the
                 -- newest failed slot per schedule, unless a newer outcome is already there
                 update schedules s
                 set last_run_status = 'failed', last_run_scheduled_time = f.scheduled_time
                 from (select distinct on (schedule_id) schedule_id, scheduled_time
                       from failed order by schedule_id, scheduled_time desc) f
                 where s.id = f.schedule_id
                   and (s.last_run_scheduled_time is null
                        or f.scheduled_time >= s.last_run_scheduled_time)
               )
               select f.*, w.owner_id, w.name as workflow_name
               from failed f join workflows w on w.id = f.workflow_id""",
            {"now": now, "error": ABANDONED_RUN_ERROR},
        ).fetchall()

    def expired_unstarted_claims(self, now: datetime, limit: int) -> list[Row]:
        """Up to `limit` claims whose lease expired before `now` without a start (no fence):
        every attempt of their invocation failed before the workflow ran. Each with its
        schedule's catch-up policy, what an alert about it says, and its slot's exception
        (`exception_action`, `exception_note`, `exception_move_to`), by schedule and slot."""
        return self.db.execute(
            """select r.id, r.schedule_id, r.workflow_id, r.scheduled_time, r.trigger,
                      r.lease_expires_at, s.enabled, s.catchup_policy,
                      s.catchup_window_seconds, s.timezone, s.dst_policy,
                      s.flexible_window_minutes, w.owner_id, w.name as workflow_name,
                      e.action as exception_action, e.note as exception_note,
                      e.move_to as exception_move_to
               from schedule_runs r
               join schedules s on s.id = r.schedule_id
               join workflows w on w.id = r.workflow_id
               left join schedule_exceptions e
                 on e.schedule_id = r.schedule_id and e.occurrence = r.scheduled_time
               where r.status = 'running' and r.fence is null and r.lease_expires_at < %(now)s
               order by r.schedule_id, r.scheduled_time
               limit %(limit)s""",
            {"now": now, "limit": limit},
        ).fetchall()

    def settle_unstarted_claims(
        self, claims: Sequence[SettledClaim], *, now: datetime, wait_until: datetime
    ) -> list[Row]:
        """Settle each expired claim that never started as decided
        (scheduler.policies.abandoned_runs): `missed` or `failed` (finished now), or `buffered` to
        run again (taken as stalled after `wait_until`), with its trigger; a `Run Missed` alert is
        left pending where asked. Only claims still unstarted and expired change (a retry that
        resumed one meanwhile keeps it), and none waits for a disabled schedule (locked shared, as
        store.queue does: a pause committing meanwhile is seen; such a claim stays for the next
        sweep, which finds the schedule disabled). The rows settled."""
        if not claims:
            return []
        return self.db.execute(
            """with s as (
                 select id from schedules
                 where id = any(%(schedule_ids)s::uuid[]) and enabled
                 for share
               )
               update schedule_runs r
               set status = m.status,
                   trigger = m.trigger,
                   finished_at = case m.status when 'buffered' then null
                                 else %(now)s::timestamptz end,
                   lease_expires_at = case m.status when 'buffered'
                                      then %(wait_until)s::timestamptz end,
                   error = m.error,
                   missed_alert_pending = case when m.alert then true end
               from unnest(%(ids)s::uuid[], %(statuses)s::text[], %(triggers)s::text[],
                           %(errors)s::text[], %(alerts)s::boolean[])
                    as m(id, status, trigger, error, alert)
               where r.id = m.id and r.status = 'running' and r.fence is null
                 and r.lease_expires_at < %(now)s
                 and (m.status <> 'buffered' or r.schedule_id in (select id from s))
               returning r.id, r.schedule_id, r.workflow_id, r.scheduled_time, r.status,
                         r.trigger, r.error, r.missed_alert_pending""",
            {
                "schedule_ids": list({claim.row.schedule_id for claim in claims}),
                "ids": [claim.run_id for claim in claims],
                "statuses": [claim.row.status for claim in claims],
                "triggers": [claim.trigger for claim in claims],
                "errors": [claim.row.error for claim in claims],
                "alerts": [claim.alert for claim in claims],
                "now": now,
                "wait_until": wait_until,
            },
        ).fetchall()
