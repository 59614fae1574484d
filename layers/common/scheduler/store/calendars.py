"""Exclusion calendars' SQL (issue #26): an owner's calendars, the schedules that use them, and
the calendars a schedule write may reference.

A calendar's dates are one datemultirange (migrations/20261210000200): written from inclusive
(start, end) pairs, read back merged as [{start, end}] (inclusive again). `owner` scopes a query
to one owner's calendars; None is the service, which sees them all.

Schedules hold the ids they exclude in `schedules.exclude_calendars` (no foreign key can point
from an array). What a foreign key would do is done by row locks: a schedule write locks the
calendars it references FOR KEY SHARE (`lock_usable_calendars`), a delete locks its calendar FOR
UPDATE (`lock_calendar`) before it looks for the schedules that use it, so whichever commits
second sees the first's work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from scheduler.errors import CalendarNameTaken, CalendarNotFound, InvalidInput, LimitExceeded
from scheduler.store.sql import Cursor, Queries, Row, integrity_errors, page

_NAME_KEY = "calendars_owner_name_key"
CALENDAR_OWNED = "(%(owner)s::uuid is null or c.owner_id = %(owner)s::uuid)"
# What a read of a calendar returns: its columns, its dates as inclusive JSON ranges, its users.
_CALENDAR_COLUMNS = """c.id, c.owner_id, c.name, c.timezone, c.note, c.created_at, c.updated_at,
    (select coalesce(jsonb_agg(jsonb_build_object('start', lower(r), 'end', upper(r) - 1)
                               order by lower(r)), '[]'::jsonb)
     from unnest(c.dates) r) as dates,
    (select count(*) from schedules s where s.exclude_calendars @> array[c.id]) as schedule_count"""
_UPDATABLE = frozenset({"name", "timezone", "note", "dates"})

DateRanges = Sequence[tuple[date, date]]


def _multirange(ranges: DateRanges) -> str:
    """The datemultirange literal of inclusive (start, end) pairs (Postgres merges them)."""
    return "{" + ",".join(f"[{start.isoformat()},{end.isoformat()}]" for start, end in ranges) + "}"


class CalendarQueries(Queries):
    def create_calendar(
        self,
        owner: UUID | None,
        *,
        name: str,
        timezone: str,
        note: str | None,
        dates: DateRanges,
        max_per_owner: int,
    ) -> Row:
        """Insert a calendar of `owner`; CalendarNameTaken on a name the owner has,
        LimitExceeded when the owner has `max_per_owner` calendars already."""
        with _calendar_errors(name):
            row = self.db.execute(
                f"""with checked as (
                      -- an unknown zone raises here, before anything is written
                      select (now() at time zone %(timezone)s) is not null as zone_known
                    ), inserted as (
                      insert into calendars as c (owner_id, name, timezone, note, dates)
                      select %(owner)s, %(name)s, %(timezone)s, %(note)s,
                             %(dates)s::datemultirange
                      from checked
                      where zone_known and (select count(*) from calendars
                             where owner_id is not distinct from %(owner)s::uuid)
                            < %(max)s
                      returning *
                    )
                    select {_CALENDAR_COLUMNS} from inserted c""",
                {
                    "owner": owner,
                    "name": name,
                    "timezone": timezone,
                    "note": note,
                    "dates": _multirange(dates),
                    "max": max_per_owner,
                },
            ).fetchone()
        if row is None:
            raise LimitExceeded(f"at most {max_per_owner} calendars per owner: delete one first")
        return row

    def get_calendar(self, calendar_id: UUID, owner: UUID | None) -> Row:
        row = self.db.execute(
            f"select {_CALENDAR_COLUMNS} from calendars c where c.id = %(id)s and {CALENDAR_OWNED}",
            {"id": calendar_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise CalendarNotFound(calendar_id)
        return row

    def list_calendars(
        self, owner: UUID | None, *, limit: int, after: Cursor | None = None
    ) -> list[Row]:
        """The owner's calendars, newest first, keyset-paginated on (created_at, id)."""
        return self.db.execute(
            f"""select {_CALENDAR_COLUMNS} from calendars c
                where {CALENDAR_OWNED}
                  and (%(after_at)s::timestamptz is null
                       or (c.created_at, c.id) < (%(after_at)s, %(after_id)s::uuid))
                order by c.created_at desc, c.id desc limit %(limit)s""",
            page({"owner": owner, "limit": limit}, after),
        ).fetchall()

    def lock_calendar(self, calendar_id: UUID, owner: UUID | None) -> Row:
        """Lock the calendar's row FOR UPDATE until the transaction ends (a schedule write that
        references it waits, see the module) and return its owner and name."""
        self.db.require_transaction("a calendar's lock")
        row = self.db.execute(
            f"""select c.id, c.owner_id, c.name from calendars c
                where c.id = %(id)s and {CALENDAR_OWNED} for update""",
            {"id": calendar_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise CalendarNotFound(calendar_id)
        return row

    def update_calendar(
        self, calendar_id: UUID, owner: UUID | None, changes: dict[str, Any]
    ) -> Row:
        """Apply `changes` (name, timezone, note, dates as inclusive pairs) and return the
        calendar as read after."""
        unknown = set(changes) - _UPDATABLE
        if unknown or not changes:
            raise InvalidInput(f"cannot update calendar fields {sorted(unknown) or '(none)'}")
        values = {**changes}
        if "dates" in values:
            values["dates"] = _multirange(values["dates"])
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}{}").format(
                sql.Identifier(column),
                sql.Placeholder(column),
                sql.SQL("::datemultirange" if column == "dates" else ""),
            )
            for column in sorted(values)
        )
        zone_check = sql.SQL(
            "and (now() at time zone %(timezone)s) is not null " if "timezone" in values else ""
        )
        query = sql.SQL(
            "with updated as (update calendars c set {assignments} where c.id = %(id)s and "
            + CALENDAR_OWNED
            + " {zone_check}returning c.*) select "
            + _CALENDAR_COLUMNS
            + " from updated c"
        ).format(assignments=assignments, zone_check=zone_check)
        with _calendar_errors(changes.get("name")):
            row = self.db.execute(query, {**values, "id": calendar_id, "owner": owner}).fetchone()
        if row is None:
            raise CalendarNotFound(calendar_id)
        return row

    def delete_calendar(self, calendar_id: UUID) -> None:
        self.db.execute("delete from calendars where id = %s", (calendar_id,))

    # --- the schedules that use a calendar

    def schedules_using(self, calendar_id: UUID, limit: int | None = None) -> list[Row]:
        """The schedules that exclude the calendar, oldest first (None: all of them)."""
        return self.db.execute(
            """select s.id, s.name, s.cron, s.run_at, s.timezone, s.enabled, s.start_at,
                      s.end_at, s.exclude_calendars
               from schedules s where s.exclude_calendars @> array[%(id)s::uuid]
               order by s.created_at, s.id limit %(limit)s""",
            {"id": calendar_id, "limit": limit},
        ).fetchall()

    def count_schedules_using(self, calendar_id: UUID) -> int:
        row = self.db.execute(
            "select count(*) as n from schedules where exclude_calendars @> array[%s::uuid]",
            (calendar_id,),
        ).fetchone()
        return int(row["n"]) if row else 0

    def lock_schedules_using(self, calendar_id: UUID) -> list[Row]:
        """Every schedule that excludes the calendar, its row locked FOR UPDATE, in id order
        (the order every multi-schedule write locks in)."""
        return self.db.execute(
            """select * from schedules where exclude_calendars @> array[%s::uuid]
               order by id for update""",
            (calendar_id,),
        ).fetchall()

    def detach_calendar(self, calendar_id: UUID, schedule_ids: Sequence[UUID]) -> list[Row]:
        """Remove the calendar from these schedules; their rows as they are after."""
        return self.db.execute(
            """update schedules set exclude_calendars = array_remove(exclude_calendars, %s)
               where id = any(%s) returning *""",
            (calendar_id, list(schedule_ids)),
        ).fetchall()

    # --- what a schedule write references, and what the reads and the check need

    def lock_usable_calendars(self, owner: UUID | None, calendar_ids: Sequence[UUID]) -> set[UUID]:
        """Of these ids, the calendars of `owner` (the schedule's: None is the service's own
        calendars), locked FOR KEY SHARE until the transaction ends, so none of them can be
        deleted before the write that references them commits."""
        rows = self.db.execute(
            """select id from calendars
               where id = any(%s) and owner_id is not distinct from %s::uuid
               for key share""",
            (list(calendar_ids), owner),
        ).fetchall()
        return {row["id"] for row in rows}

    def exclusions_of(self, calendar_ids: Sequence[UUID]) -> dict[UUID, Row]:
        """The calendars with these ids: name, timezone and dates (inclusive pairs), by id."""
        if not calendar_ids:
            return {}
        rows = self.db.execute(
            """select c.id, c.name, c.timezone,
                      (select coalesce(jsonb_agg(jsonb_build_array(lower(r), upper(r) - 1)
                                                 order by lower(r)), '[]'::jsonb)
                       from unnest(c.dates) r) as dates
               from calendars c where c.id = any(%s)""",
            (list(set(calendar_ids)),),
        ).fetchall()
        return {row["id"]: row for row in rows}


@contextmanager
def _calendar_errors(name: str | None) -> Iterator[None]:
    """A name clash is CalendarNameTaken; a zone the database does not know, InvalidInput."""
    try:
        with integrity_errors():
            yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != _NAME_KEY or name is None:
            raise
        raise CalendarNameTaken(name) from exc
    except psycopg.errors.InvalidParameterValue as exc:
        raise InvalidInput("timezone: not a zone the database knows") from exc
