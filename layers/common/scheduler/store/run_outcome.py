"""The runner's record of a finished run: one statement for the run row, its workflow's state,
and its schedule (last success, a critical error's disable, the count of consecutive failed
runs and the pause it may reach). RunQueries (store/runs.py) is these queries and the rest of
the runner's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from scheduler.store.sql import Queries

# The reason a schedule paused by its failures is disabled with (format: the threshold).
PAUSED_REASON = "paused after %s consecutive failed runs"


@dataclass(frozen=True)
class RecordedOutcome:
    """What record_run_outcome wrote: `result` (`recorded`, `gone`, `superseded`), and for a
    run written now, its schedule's count of consecutive failures after it, the reason the
    schedule was paused if this record paused it, and the count this success reset (None
    when it reset nothing)."""

    result: str
    consecutive_failures: int | None = None
    paused_reason: str | None = None
    recovered_from: int | None = None


class RunOutcomeQueries(Queries):
    def record_run_outcome(
        self,
        run_id: UUID,
        *,
        schedule_id: UUID,
        workflow_id: UUID,
        fence: int,
        status: str,
        error: str | None,
        output: dict[str, Any] | None,
        started_at: datetime,
        finished_at: datetime,
        disabled_reason: str | None = None,
    ) -> RecordedOutcome:
        """Record a finished run in one statement, safe to repeat: the run row, the workflow's
        state, and the schedule (`last_run_at` on success; disabled with the reason on a
        critical error; its count of consecutive failed runs, and the pause it may reach;
        `last_run_status`, the list's filter, unless a newer slot's outcome is already there).

        Fenced: nothing is written unless the run is still `running` under `fence`, and the
        workflow only while it is still `running` under `fence`, so a run whose lease a newer
        run took over cannot overwrite it. `result` is `recorded` (written now, or by an earlier
        try of this same call), `gone` (the run row was deleted with its schedule: only the
        workflow's state was written) or `superseded` (a newer lease took over: nothing).

        The failure count (docs/run-policies.md, "Pause after failures"): a `failed` record
        adds one, a `succeeded` one resets it; when a failure brings it to the schedule's
        `pause_after_failures` the schedule is disabled with PAUSED_REASON (a critical error's
        reason goes first). The count is read under the row's lock (`prior ... for update`), so
        two runs of the schedule recording at once each add theirs, and what this record
        changed (`paused`, `recovered_from`) is said only to the record that changed it. A
        retry of a record whose answer was lost changes nothing and says nothing new.
        """
        row = self.db.execute(
            """with current_run as (
                 select status, fence from schedule_runs where id = %(run_id)s
               ), run as (
                 update schedule_runs
                 set status = %(status)s, finished_at = %(finished_at)s, error = %(error)s,
                     output = %(output)s::jsonb
                 where id = %(run_id)s and status = 'running' and fence = %(fence)s
                 returning id, scheduled_time
               ), workflow as (
                 update workflows
                 set status = 'idle', run_count = run_count + 1, last_run_at = %(started_at)s,
                     last_run_status = %(status)s
                 where id = %(workflow_id)s and lease_fence = %(fence)s and status = 'running'
                   and (exists (select 1 from run) or not exists (select 1 from current_run))
                 returning id
               ), prior as (
                 -- the schedule as committed last (read committed: a row locked by another
                 -- record is read once that one commits), locked until this one commits
                 select enabled, consecutive_failures, pause_after_failures,
                        last_run_scheduled_time
                 from schedules
                 where id = %(schedule_id)s and exists (select 1 from run)
                 for update
               ), pausing as (
                 -- null pause_after_failures: never due (coalesce: not null, which would
                 -- write enabled = null)
                 select coalesce(%(disabled_reason)s::text is null and not %(succeeded)s
                                 and enabled
                                 and consecutive_failures + 1 >= pause_after_failures,
                                 false) as due,
                        format(%(paused_reason)s, pause_after_failures) as reason
                 from prior
               ), schedule as (
                 update schedules set
                   last_run_at = case when %(succeeded)s
                                      then greatest(last_run_at, %(started_at)s::timestamptz)
                                      else last_run_at end,
                   consecutive_failures = case when %(succeeded)s then 0
                                               else prior.consecutive_failures + 1 end,
                   enabled = schedules.enabled and %(disabled_reason)s::text is null
                             and not pausing.due,
                   disabled_reason = case when pausing.due then pausing.reason
                                          else coalesce(%(disabled_reason)s::text,
                                                        schedules.disabled_reason) end,
                   -- the newest slot's outcome: an older slot recorded late changes neither
                   last_run_status = case when newest.is_newest then %(status)s
                                          else schedules.last_run_status end,
                   last_run_scheduled_time = case when newest.is_newest then run.scheduled_time
                                                  else schedules.last_run_scheduled_time end
                 from prior, pausing, run,
                      lateral (select prior.last_run_scheduled_time is null
                                      or run.scheduled_time >= prior.last_run_scheduled_time
                                      as is_newest) as newest
                 where schedules.id = %(schedule_id)s
                 returning schedules.consecutive_failures, pausing.due as paused,
                           pausing.reason as paused_reason,
                           prior.consecutive_failures as failures_before
               )
               select case
                        when exists (select 1 from run) then 'recorded'
                        when exists (select 1 from current_run
                                     where fence = %(fence)s and status = %(status)s)
                          then 'recorded'
                        when not exists (select 1 from current_run) then 'gone'
                        else 'superseded'
                      end as result,
                      (select count(*) from workflow) as workflows,
                      schedule.*
               from (select 1) as one left join schedule on true""",
            {
                "run_id": run_id,
                "schedule_id": schedule_id,
                "workflow_id": workflow_id,
                "fence": fence,
                "status": status,
                "succeeded": status == "succeeded",
                "error": error,
                "output": None if output is None else json.dumps(output, default=str),
                "started_at": started_at,
                "finished_at": finished_at,
                "disabled_reason": disabled_reason,
                "paused_reason": PAUSED_REASON,
            },
        ).fetchone()
        assert row is not None
        failures_before = row["failures_before"]
        return RecordedOutcome(
            result=str(row["result"]),
            consecutive_failures=row["consecutive_failures"],
            paused_reason=row["paused_reason"] if row["paused"] else None,
            recovered_from=(failures_before if status == "succeeded" and failures_before else None),
        )
