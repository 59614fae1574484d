"""The SQL of a schedule's exceptions (table `schedule_exceptions`): a `skip` or a `move` of one
fire time (its slot). The API adds, lists and removes them under the schedule's writer lock;
the runner reads the one of its slot with its claim (store.runs); reconcile reads the moves
EventBridge must hold at() schedules for; the missed-fire check reads the moves now due.

Owner scoping is the caller's: the API reads the schedule (owner-scoped) first, under its lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

from scheduler.errors import Conflict, NotFound
from scheduler.store.sql import Queries, Row

_COLUMNS = "id, schedule_id, occurrence, action, move_to, note, created_at, created_by"


class ExceptionNotFound(NotFound):
    def __init__(self, exception_id: object) -> None:
        super().__init__(f"exception {exception_id} not found")


class ExceptionQueries(Queries):
    def list_exceptions(self, schedule_id: UUID, *, since: datetime | None = None) -> list[Row]:
        """The schedule's exceptions by occurrence; with `since`, only those still to come
        (an occurrence, or a move's new time, after it)."""
        return self.db.execute(
            f"""select {_COLUMNS} from schedule_exceptions
                where schedule_id = %(schedule_id)s
                  and (%(since)s::timestamptz is null or occurrence > %(since)s
                       or move_to > %(since)s)
                order by occurrence""",
            {"schedule_id": schedule_id, "since": since},
        ).fetchall()

    def exception_for(self, schedule_id: UUID, occurrence: datetime) -> Row | None:
        """The exception of the occurrence (its slot), if any."""
        return self.db.execute(
            f"""select {_COLUMNS} from schedule_exceptions
                where schedule_id = %s and occurrence = %s""",
            (schedule_id, occurrence),
        ).fetchone()

    def move_to_at(self, schedule_id: UUID, instant: datetime) -> Row | None:
        """The move of the schedule whose new time is `instant`, if any."""
        return self.db.execute(
            f"""select {_COLUMNS} from schedule_exceptions
                where schedule_id = %s and action = 'move' and move_to = %s""",
            (schedule_id, instant),
        ).fetchone()

    def add_exception(
        self,
        schedule_id: UUID,
        *,
        occurrence: datetime,
        action: str,
        move_to: datetime | None,
        note: str | None,
        created_by: str,
    ) -> Row:
        """Insert one; Conflict when the occurrence has one already, or a move goes there
        (a concurrent add the caller's checks could not see)."""
        try:
            with self.db.transaction():  # a savepoint inside the caller's transaction
                row = self.db.execute(
                    f"""insert into schedule_exceptions
                          (schedule_id, occurrence, action, move_to, note, created_by)
                        values (%s, %s, %s, %s, %s, %s)
                        returning {_COLUMNS}""",
                    (schedule_id, occurrence, action, move_to, note, created_by),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(
                "occurrence: it already has an exception, or another move goes to that time;"
                " list the schedule's exceptions and remove that one first"
            ) from exc
        assert row is not None
        return row

    def remove_exception(self, schedule_id: UUID, exception_id: UUID) -> Row:
        """Delete one; the row deleted. ExceptionNotFound if the schedule has no such one."""
        row = self.db.execute(
            f"""delete from schedule_exceptions
                where id = %s and schedule_id = %s
                returning {_COLUMNS}""",
            (exception_id, schedule_id),
        ).fetchone()
        if row is None:
            raise ExceptionNotFound(exception_id)
        return row

    def get_exception(self, exception_id: UUID) -> Row | None:
        return self.db.execute(
            f"select {_COLUMNS} from schedule_exceptions where id = %s", (exception_id,)
        ).fetchone()

    def any_move(self) -> bool:
        """Whether any schedule has a move (an index-only look)."""
        row = self.db.execute(
            "select exists (select 1 from schedule_exceptions where action = 'move') as any"
        ).fetchone()
        return bool(row and row["any"])

    def moves_after(self, since: datetime) -> list[Row]:
        """Every move whose new time is after `since`, with what its at() schedule's target
        needs (the schedule's workflow): the at() schedules EventBridge should hold."""
        return self.db.execute(
            """select e.id, e.schedule_id, e.occurrence, e.move_to, s.workflow_id
               from schedule_exceptions e join schedules s on s.id = e.schedule_id
               where e.action = 'move' and e.move_to > %s
               order by e.move_to""",
            (since,),
        ).fetchall()

    def slot_has_run(self, schedule_id: UUID, slot: datetime) -> bool:
        """Whether the slot has a run row (claimed, run, skipped or recorded missed)."""
        row = self.db.execute(
            """select exists (select 1 from schedule_runs
                              where schedule_id = %s and scheduled_time = %s) as ran""",
            (schedule_id, slot),
        ).fetchone()
        return bool(row and row["ran"])

    def due_exceptions(self, after: datetime, through: datetime, limit: int) -> list[Row]:
        """Exceptions of enabled schedules due in (after, through] whose slot has no run row:
        a skip by its occurrence, a move by its new time; with what the missed-fire check
        decides and alerts with (the schedule's cron, zone, DST policy and flexible window, its
        owner), and the calendar that excludes the occurrence (`excluded_by`, the first by name,
        as the runner's claim reads it), if any."""
        return self.db.execute(
            """select e.schedule_id, s.workflow_id, e.occurrence, e.action, e.move_to, e.note,
                      s.cron, s.timezone, s.dst_policy, s.flexible_window_minutes, w.owner_id,
                      w.name as workflow_name,
                      (select c.name from calendars c
                       where c.id = any(s.exclude_calendars)
                         and c.dates @> (e.occurrence at time zone c.timezone)::date
                       order by c.name limit 1) as excluded_by
               from schedule_exceptions e
               join schedules s on s.id = e.schedule_id
               join workflows w on w.id = s.workflow_id
               where s.enabled and s.cron is not null
                 and ((e.action = 'skip' and e.occurrence > %(after)s
                       and e.occurrence <= %(through)s)
                      or (e.action = 'move' and e.move_to > %(after)s
                          and e.move_to <= %(through)s))
                 and not exists (select 1 from schedule_runs r
                                 where r.schedule_id = e.schedule_id
                                   and r.scheduled_time = e.occurrence)
               order by coalesce(e.move_to, e.occurrence)
               limit %(limit)s""",
            {"after": after, "through": through, "limit": limit},
        ).fetchall()

    def record_skipped_slots(
        self, slots: Sequence[tuple[UUID, UUID, datetime, str]], *, now: datetime
    ) -> int:
        """Write a `skipped` run row (schedule, workflow, slot, reason) for each slot still
        without one; the number written."""
        if not slots:
            return 0
        return self.db.execute(
            """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time,
                                          status, started_at, finished_at, error)
               select m.schedule_id, m.workflow_id, 'schedule', m.scheduled_time, 'skipped',
                      %(now)s, %(now)s, m.error
               from unnest(%(schedule_ids)s::uuid[], %(workflow_ids)s::uuid[],
                           %(times)s::timestamptz[], %(errors)s::text[])
                    as m(schedule_id, workflow_id, scheduled_time, error)
               on conflict (schedule_id, scheduled_time) do nothing""",
            {
                "schedule_ids": [s[0] for s in slots],
                "workflow_ids": [s[1] for s in slots],
                "times": [s[2] for s in slots],
                "errors": [s[3] for s in slots],
                "now": now,
            },
        ).rowcount
