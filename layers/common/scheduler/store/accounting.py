"""The SQL of a schedule's accounting (scheduler.policies.accounting): its runs of an interval,
the audit events that paused or resumed it, and how far the missed-fire check has looked.

Three short reads, each on an index: schedule_runs' unique (schedule_id, scheduled_time),
audit_events_subject_idx, schedule_fire_checks' primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from scheduler.store.sql import Queries, Row

# The audit actions that set whether a schedule fires. Other events (created, updated) say it
# by their `enabled` change when they carry one.
PAUSING_ACTIONS = ("paused", "bulk_paused", "auto_paused", "disabled")
RESUMING_ACTIONS = ("resumed", "bulk_resumed")


class AccountingQueries(Queries):
    def runs_between(
        self, schedule_id: UUID, after: datetime, until: datetime, limit: int
    ) -> list[Row]:
        """The schedule's runs with a fire time in (after, until], oldest first, at most
        `limit`."""
        return self.db.execute(
            """select id, trigger, scheduled_time, status, error, started_at, finished_at
               from schedule_runs
               where schedule_id = %(id)s
                 and scheduled_time > %(after)s and scheduled_time <= %(until)s
               order by scheduled_time limit %(limit)s""",
            {"id": schedule_id, "after": after, "until": until, "limit": limit},
        ).fetchall()

    def enabled_changes(
        self, schedule_id: UUID, after: datetime, until: datetime, limit: int
    ) -> list[Row]:
        """The schedule's audit events that set `enabled` (occurred_at, action, actor, the
        value it had after, `enabled`, and before, `enabled_before`: null for a creation): the
        last one at or before `after`, then those up to `until` (at most `limit`), oldest
        first."""
        return self.db.execute(
            """with changes as (
                 select occurred_at, id, action, actor,
                        case when action = any(%(pausing)s) then false
                             when action = any(%(resuming)s) then true
                             else (changes -> 'enabled' ->> 'after')::boolean end as enabled,
                        case when action = any(%(pausing)s) then true
                             when action = any(%(resuming)s) then false
                             else (changes -> 'enabled' ->> 'before')::boolean
                        end as enabled_before
                 from audit_events
                 where subject_id = %(id)s and subject_type = 'schedule'
                   and (action = any(%(pausing)s) or action = any(%(resuming)s)
                        or jsonb_typeof(changes -> 'enabled' -> 'after') = 'boolean')
               )
               select occurred_at, action, actor, enabled, enabled_before from (
                 (select * from changes where occurred_at <= %(after)s
                  order by occurred_at desc, id desc limit 1)
                 union all
                 (select * from changes where occurred_at > %(after)s
                    and occurred_at <= %(until)s
                  order by occurred_at, id limit %(limit)s)
               ) e order by occurred_at, id""",
            {
                "id": schedule_id,
                "after": after,
                "until": until,
                "limit": limit,
                "pausing": list(PAUSING_ACTIONS),
                "resuming": list(RESUMING_ACTIONS),
            },
        ).fetchall()

    def definition_changes(
        self, schedule_id: UUID, after: datetime, fields: Sequence[str], limit: int
    ) -> list[Row]:
        """The schedule's audit events after `after` that changed one of `fields` (API names),
        its creation's aside (occurred_at, changes), oldest first, at most `limit`."""
        return self.db.execute(
            """select occurred_at, changes from audit_events
               where subject_id = %(id)s and subject_type = 'schedule'
                 and occurred_at > %(after)s and action <> 'created'
                 and changes ?| %(fields)s
               order by occurred_at, id limit %(limit)s""",
            {"id": schedule_id, "after": after, "fields": list(fields), "limit": limit},
        ).fetchall()

    def fire_check_progress(self, schedule_id: UUID) -> Row | None:
        """How far the missed-fire check has looked at the schedule's fire times (fires_from,
        checked_through, next_check_at), or None."""
        row: Row | None = self.db.execute(
            """select fires_from, checked_through, next_check_at, disabled_at
               from schedule_fire_checks where schedule_id = %s""",
            (schedule_id,),
        ).fetchone()
        return row
