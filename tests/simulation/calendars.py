"""Exclusion calendars in the simulation (scheduler.api.calendars; docs/calendars.md): create a
calendar of dates near the simulated clock, make a schedule exclude it (PATCH
excludeCalendars), edit its dates.

The model keeps every version, with the moment its write committed: the calendars' dates and
zones, and each schedule's excludeCalendars. The runner decides at a fire's claim, the check at
its pass, both at or after the fire time (a moved occurrence's at its new time, maybe before),
against what is committed then. So a fire time is judged by the states in effect from just before
it (or its new time) until now:
- excluded under every one of them: it never runs (but a run now), its row, if any, is
  `skipped` naming a calendar (or an exception), it is never reported missed nor caught up;
- excluded under none: the other invariants judge it as any fire time;
- excluded under some (an edit raced it): only "at most once" and the rest of the step
  invariants hold for it (which state its claim saw is a race).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from scheduler.api.calendars import CalendarService
from scheduler.models.calendars import CalendarCreate, CalendarUpdate
from scheduler.run.exceptions import SKIPPED
from scheduler.store.runs import CALENDAR_SKIP_REASON

from tests.simulation.model import SimSchedule, iso

if TYPE_CHECKING:
    from tests.simulation.world import World

# A claim may come this long before a fire time's state is read (none does: a margin).
RACE = timedelta(seconds=1)
Ranges = list[tuple[date, date]]


@dataclass
class SimCalendar:
    id: UUID
    name: str
    timezone: str
    # (since, ranges): the dates as each write left them
    versions: list[tuple[datetime, Ranges]] = field(default_factory=list)


@dataclass
class Calendars:
    world: World
    # whose calendars (the owner of the simulated schedules' workflows)
    owner: UUID
    calendars: list[SimCalendar] = field(default_factory=list)
    # schedule -> [(since, calendar ids)]: its excludeCalendars as each PATCH left them
    excludes: dict[UUID, list[tuple[datetime, list[UUID]]]] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)

    def service(self) -> CalendarService:
        service = CalendarService.over(self.world.api_db)
        return CalendarService(service.db, service.calendars, service.audit, self.world.clock.now)

    def _ranges(self, zone: str, days: list[list[int]]) -> Ranges:
        """Day offsets from today in `zone` ([start, end] each) as dates."""
        today = self.world.clock.now().astimezone(ZoneInfo(zone)).date()
        return [(today + timedelta(days=a), today + timedelta(days=b)) for a, b in days]

    def create(self, op: dict[str, Any]) -> None:
        name = f"cal{len(self.calendars) + 1}"
        ranges = self._ranges(op["timezone"], op["days"])
        request = CalendarCreate.model_validate(
            {
                "name": name,
                "timezone": op["timezone"],
                "dates": [{"start": a, "end": b} for a, b in ranges],
                "ownerId": str(self.owner),
            }
        )
        created = self.service().create(None, request)
        calendar = SimCalendar(created.id, name, op["timezone"])
        calendar.versions.append((self.world.clock.now(), ranges))
        self.calendars.append(calendar)
        self.stats["calendars created"] += 1

    def edit(self, op: dict[str, Any]) -> None:
        if not self.calendars:
            return
        calendar = self.calendars[op["calendar"] % len(self.calendars)]
        ranges = self._ranges(calendar.timezone, op["days"])
        request = CalendarUpdate.model_validate(
            {"dates": [{"start": a, "end": b} for a, b in ranges]}
        )
        self.service().update(None, calendar.id, request)
        calendar.versions.append((self.world.clock.now(), ranges))
        self.stats["calendars edited"] += 1

    def exclude(self, schedule: SimSchedule, op: dict[str, Any]) -> None:
        """PATCH the schedule's excludeCalendars: the op's calendars (none: [])."""
        if not self.calendars:
            return
        ids = list(
            dict.fromkeys(self.calendars[i % len(self.calendars)].id for i in op["calendars"])
        )
        self.world.update(schedule, {"excludeCalendars": [str(i) for i in ids]})
        self.excludes.setdefault(schedule.id, []).append((self.world.clock.now(), ids))
        self.stats["schedules excluding"] += bool(ids)

    # --- what the invariants ask

    def _excluded_as_of(self, schedule_id: UUID, slot: datetime, moment: datetime) -> bool:
        """Whether the state committed at `moment` (writes at it included) excludes `slot`."""
        ids = [v for since, v in self.excludes.get(schedule_id, []) if since <= moment]
        if not ids:
            return False
        for calendar in self.calendars:
            if calendar.id not in ids[-1]:
                continue
            ranges = [r for since, r in calendar.versions if since <= moment]
            day = slot.astimezone(ZoneInfo(calendar.timezone)).date()
            if ranges and any(a <= day <= b for a, b in ranges[-1]):
                return True
        return False

    def judged(self, schedule_id: UUID, slot: datetime, earliest: datetime) -> set[bool]:
        """Whether `slot` is excluded, under each state in effect from just before `earliest`
        (the slot, or its move's new time if earlier) until now."""
        start = min(slot, earliest) - RACE
        moments = {start}
        moments |= {since for since, _ in self.excludes.get(schedule_id, []) if since > start}
        for calendar in self.calendars:
            moments |= {since for since, _ in calendar.versions if since > start}
        return {self._excluded_as_of(schedule_id, slot, m) for m in moments}

    def touched(self, schedule_id: UUID) -> bool:
        return schedule_id in self.excludes


def calendar_step_violations(world: World) -> list[str]:
    """Never run, recorded skipped naming a calendar, never missed nor caught up: each fire
    time that every state since it excluded."""
    calendars: Calendars = world.calendars
    found: list[str] = []
    schedules = {s.id: s for s in world.model.schedules}

    def always(schedule_id: UUID, slot: datetime) -> bool:
        if not calendars.touched(schedule_id):
            return False
        earliest = world.excepted.due_at(schedule_id, slot)
        return calendars.judged(schedule_id, slot, earliest) == {True}

    for visit in world.target.visits:
        if visit.trigger != "manual" and always(visit.schedule_id, visit.slot):
            found.append(
                f"[a fire on an excluded date never runs] "
                f"{schedules[visit.schedule_id].describe()} slot {iso(visit.slot)}: the target "
                f"ran it at {iso(visit.started)} ({visit.trigger})"
            )
    for row in world.rows():
        key = (row["schedule_id"], row["scheduled_time"])
        if row["trigger"] == "manual" or row["status"] == "buffered" or not always(*key):
            continue
        error = row["error"] or ""
        named = error.startswith(CALENDAR_SKIP_REASON) or error.startswith(SKIPPED)
        where = f"{schedules[key[0]].describe()} slot {iso(key[1])}"
        if row["status"] != "skipped" or not named:
            found.append(
                f"[a fire on an excluded date is recorded skipped, naming the calendar] {where}: "
                f"{row['status']} ({error}, trigger {row['trigger']})"
            )
        if row["trigger"] == "catchup":
            found.append(f"[a fire on an excluded date is never caught up] {where}: a catch-up row")
    for alert in world.alerts:
        if alert.kind == "Run Missed" and always(alert.schedule_id, alert.slot):
            found.append(
                f"[a fire on an excluded date is never reported missed] "
                f"{schedules[alert.schedule_id].describe()} slot {iso(alert.slot)}: alerted"
            )
    return found
