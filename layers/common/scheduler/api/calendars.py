"""The Calendars API's use cases (issue #26): an owner's exclusion calendars, what they remove
from the schedules that use them, and the check of a schedule write's `excludeCalendars`.

A calendar changes no EventBridge schedule: EventBridge still delivers every fire, and the
runner's claim skips the excluded ones (scheduler.store.runs). So an edit applies to the fires
claimed after it commits, and a run already claimed or running is not affected.

Deleting a calendar that schedules use is refused (409 naming them) unless the caller asks to
detach it: a schedule would otherwise start firing on the dates its owner excluded without
anyone having said so. Detaching changes each schedule in the delete's transaction, each with
its audit event, so no schedule is left pointing at a calendar that is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from scheduler.api.audit_changes import record_change
from scheduler.api.calendar_views import removed_by
from scheduler.errors import CalendarInUse, InvalidInput
from scheduler.models.calendars import (
    MAX_CALENDARS_PER_OWNER,
    Calendar,
    CalendarCreate,
    CalendarPage,
    CalendarPreview,
    CalendarUpdate,
    DateRange,
)
from scheduler.store import pagination
from scheduler.store.audit import IN_PROCESS, AuditContext, AuditQueries
from scheduler.store.calendars import CalendarQueries
from scheduler.store.db import Database

# How many of the schedules using a calendar a refused delete names.
IN_USE_NAMED = 5
# How many of the schedules using a calendar its preview shows (the oldest first).
PREVIEW_SCHEDULES = 100


def _pairs(ranges: Sequence[DateRange]) -> list[tuple[Any, Any]]:
    return [(r.start, r.end) for r in ranges]


@dataclass(frozen=True)
class CalendarService:
    db: Database
    calendars: CalendarQueries
    audit: AuditQueries
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def over(cls, db: Database) -> CalendarService:
        return cls(db, CalendarQueries(db), AuditQueries(db))

    def create(self, owner: UUID | None, request: CalendarCreate) -> Calendar:
        """A user's calendar is theirs; service credentials name the owner (`ownerId`)."""
        if owner is not None and request.owner_id not in (None, owner):
            raise InvalidInput("ownerId: only service credentials may create another's calendar")
        row = self.calendars.create_calendar(
            owner if owner is not None else request.owner_id,
            name=request.name,
            timezone=request.timezone,
            note=request.note,
            dates=_pairs(request.dates),
            max_per_owner=MAX_CALENDARS_PER_OWNER,
        )
        return Calendar.model_validate(row)

    def get(self, owner: UUID | None, calendar_id: UUID) -> Calendar:
        return Calendar.model_validate(self.calendars.get_calendar(calendar_id, owner))

    def list(self, owner: UUID | None, *, limit: int, cursor: str | None) -> CalendarPage:
        rows = self.calendars.list_calendars(
            owner, limit=limit + 1, after=pagination.decode_cursor(cursor)
        )
        items, next_cursor = pagination.page(rows, limit, "created_at")
        return CalendarPage(
            items=[Calendar.model_validate(row) for row in items], next_cursor=next_cursor
        )

    def update(self, owner: UUID | None, calendar_id: UUID, request: CalendarUpdate) -> Calendar:
        changes = request.model_dump(include=request.model_fields_set, by_alias=False)
        if "dates" in changes:
            changes["dates"] = _pairs(request.dates or [])
        return Calendar.model_validate(self.calendars.update_calendar(calendar_id, owner, changes))

    def delete(
        self,
        owner: UUID | None,
        calendar_id: UUID,
        *,
        detach: bool,
        audit: AuditContext = IN_PROCESS,
    ) -> None:
        """Delete the calendar; CalendarInUse when schedules use it, unless `detach`, which
        removes it from each of them first (an audit event each), in the same transaction."""
        with self.db.transaction():
            # FOR UPDATE first: a schedule write referencing it commits before we look, or
            # waits and then finds it gone (scheduler.store.calendars)
            self.calendars.lock_calendar(calendar_id, owner)
            if not detach:
                users = self.calendars.schedules_using(calendar_id, IN_USE_NAMED)
                if users:
                    count = self.calendars.count_schedules_using(calendar_id)
                    raise CalendarInUse(
                        count,
                        [{"scheduleId": str(s["id"]), "name": s["name"]} for s in users],
                    )
            else:
                # Row locks, not the schedules' writer locks: a detach touches no EventBridge
                # schedule, and a writer holds its writer lock while it waits for this calendar
                # (FOR KEY SHARE), so taking writer locks here could deadlock with it.
                old_rows = self.calendars.lock_schedules_using(calendar_id)
                new_rows = {
                    row["id"]: row
                    for row in self.calendars.detach_calendar(
                        calendar_id, [row["id"] for row in old_rows]
                    )
                }
                for old in old_rows:
                    record_change(self.audit, audit, old, new_rows[old["id"]])
            self.calendars.delete_calendar(calendar_id)

    def preview(self, owner: UUID | None, calendar_id: UUID) -> CalendarPreview:
        """Per schedule that uses the calendar, the next fire times it removes."""
        self.calendars.get_calendar(calendar_id, owner)  # CalendarNotFound if not theirs
        calendar = self.calendars.exclusions_of([calendar_id])[calendar_id]
        now = self.clock()
        return CalendarPreview.model_validate(
            {
                "calendar_id": calendar_id,
                "schedules": [
                    {
                        "schedule_id": s["id"],
                        "schedule_name": s["name"],
                        "excluded_run_times": removed_by(calendar, s, now),
                    }
                    for s in self.calendars.schedules_using(calendar_id, PREVIEW_SCHEDULES)
                ],
            }
        )


def ensure_usable_calendars(
    calendars: CalendarQueries, owner: UUID | None, calendar_ids: Sequence[UUID] | None
) -> None:
    """InvalidInput naming the first id that is not a calendar of the schedule's owner; the
    others are locked until the write commits (CalendarQueries.lock_usable_calendars)."""
    if not calendar_ids:
        return
    usable = calendars.lock_usable_calendars(owner, calendar_ids)
    for calendar_id in calendar_ids:
        if calendar_id not in usable:
            raise InvalidInput(
                f"excludeCalendars: no calendar {calendar_id} (unknown or not the owner's)"
            )
