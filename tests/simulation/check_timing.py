"""When the product could first know a fire time missed: the missed-fire check's passes, its
look-back, and the leases of claims that never started (shared by the invariants)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from scheduler.config import get_settings

if TYPE_CHECKING:
    from tests.simulation.world import World

Slot = tuple[UUID, datetime]
# A period must have stayed open this long after a missed fire time was found for its catch-up
# to be owed: a pause meanwhile skips a waiting catch-up, as documented.
CATCHUP_SETTLE = timedelta(minutes=30)


def grace() -> timedelta:
    return timedelta(seconds=get_settings().missed_fire_grace_s)


def look_back(world: World) -> timedelta:
    """How far back a pass of the check looks: at most a week (the longest catch-up window),
    and never further than RunHistoryDays less a day (docs/run-policies.md, "Missed fires":
    past that, retention may have deleted the row of a fire time that ran)."""
    return min(timedelta(days=7), timedelta(days=world.run_history_days - 1))


def beyond_look_back(world: World, slot: datetime, checked: datetime | None) -> bool:
    """A slot already older than the check's look-back when the first pass that could find it
    ran (the check was down longer than that): by design neither recorded nor run
    (docs/run-policies.md, "Missed fires"; MissedFireCheckStoppedAlarm says so)."""
    return checked is not None and slot <= checked - look_back(world)


def first_check(world: World, slot: datetime) -> datetime | None:
    """The first pass of the missed-fire check that could find `slot` missed."""
    due = slot + grace()
    return next((p for p in world.check_passes if p >= due), None)


def found_missed(world: World, schedule_id: UUID, slot: datetime) -> datetime | None:
    """When the product could first know `slot` missed: the first pass of the check after it
    was due; for a claim that never started, the first sweep after its lease expired
    (docs/run-policies.md, "Missed fires": until then a retry of its invocation may still run
    it)."""
    expiry = world.claim_expiries.get((schedule_id, slot))
    if expiry is None:
        return first_check(world, slot)
    return next((p for p in world.check_passes if p > expiry and p >= slot + grace()), None)
