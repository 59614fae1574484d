"""Expected versus actual: each fire time a schedule should have had in (from, to], what became
of it, and why (GET /api/schedules/{id}/accounting).

The expected fire times are scheduler.policies.expected's (the one definition the missed-fire
check, backfill and the previews walk), of the schedule as it was at each instant: before a
change of its cron, timezone or window, the old one's (scheduler.policies.schedule_versions, from
the audit log). Each is matched to its run row (the slot's unique key) and, without one,
explained from what the service knows:
- a calendar of the schedule or the slot's exception skips it: `skipped` (a moved slot is due
  at its new time);
- the schedule was paused at that instant (its audit log's pause and resume events): `paused`;
- it is older than the run history kept (RunHistoryDays): `outsideRetention`, its row may be gone;
- it is not due yet (its last occurrence plus the grace and the flexible window): `upcoming`;
- else `noRecord`, the cause comparing it with the missed-fire check's progress: not checked yet,
  before the schedule last started firing anew (fires_from: not counted), or lost.
Runs at no expected fire time are listed apart, with their trigger: a run now, a backfill at
another instant, a fire time the audit log does not account for.

Bounded: `to - from` at most ACCOUNTING_MAX_DAYS, at most ACCOUNTING_MAX_FIRES expected fire
times (InvalidInput beyond: 422), so one answer is four short reads and a walk of at most 5,000
fire times: a few hundred ms at the bound (docs/performance.md).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from scheduler.config import get_settings
from scheduler.cron.exclusions import Exclusion
from scheduler.cron.timezones import iso_utc
from scheduler.errors import InvalidInput
from scheduler.models.accounting import (
    ACCOUNTING_MAX_DAYS,
    ACCOUNTING_MAX_FIRES,
    AccountingTotals,
    ExpectedFire,
    OtherRun,
    ScheduleAccounting,
)
from scheduler.policies.expected import SlotExceptions, expected_fires, skip_kind
from scheduler.policies.fire_times import dst_policy, last_occurrence
from scheduler.policies.schedule_versions import WHEN_FIELDS, Version, versions
from scheduler.store.accounting import AccountingQueries
from scheduler.store.calendars import CalendarQueries
from scheduler.store.db import Database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sql import Row

DEFAULT_SPAN = timedelta(hours=24)
# Runs read at most: every expected slot's, and as many again at other instants (run now,
# backfills); an interval with more is refused (a narrower one answers).
MAX_RUNS = 2 * ACCOUNTING_MAX_FIRES
# Fire times computed per step of the walk: each step's answer is remembered by
# scheduler.policies.fire_times, whose long answers stay this size (the missed-fire check's).
WALK_CHUNK = 500
# Changes of when the schedule fires read at most (since the interval's start).
MAX_DEFINITION_CHANGES = 1000
# Pause and resume events read at most in one interval.
MAX_ENABLED_CHANGES = 1000

_TRIGGER_CAUSES = {
    "manual": "run now (manual): not a fire time of the schedule",
    "backfill": "backfill at an instant that was no fire time of the schedule",
    "catchup": "a catch-up of a fire time the audit log does not account for",
    "schedule": (
        "not a fire time of the schedule as its audit log has it then (a change the log no"
        " longer holds, or a write that bypassed the API)"
    ),
}


@dataclass(frozen=True)
class AccountingQueryset:
    schedules: ScheduleQueries
    accounting: AccountingQueries
    exceptions: ExceptionQueries
    calendars: CalendarQueries

    @classmethod
    def over(cls, db: Database) -> AccountingQueryset:
        return cls(
            ScheduleQueries(db), AccountingQueries(db), ExceptionQueries(db), CalendarQueries(db)
        )


def interval(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """(from, to) with their defaults (the 24 hours up to now, or before `to`); InvalidInput
    for an empty or reversed interval, or one longer than ACCOUNTING_MAX_DAYS."""
    try:
        end = now if end is None else end.astimezone(UTC)
        start = end - DEFAULT_SPAN if start is None else start.astimezone(UTC)
    except OverflowError:  # an offset that moves an instant past year 9999 or before year 1
        raise InvalidInput("from, to: out of range (years 1 to 9999 in UTC)") from None
    if end <= start:
        raise InvalidInput("to must be after from")
    if end - start > timedelta(days=ACCOUNTING_MAX_DAYS):
        raise InvalidInput(
            f"from, to: at most {ACCOUNTING_MAX_DAYS} days apart (this is"
            f" {(end - start) / timedelta(days=1):.1f}): ask for a narrower interval"
        )
    return start, end


def schedule_accounting(
    queries: AccountingQueryset,
    owner: UUID | None,
    schedule_id: UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ScheduleAccounting:
    """The schedule's accounting over (start, end]; ScheduleNotFound (404) when it is not the
    caller's, InvalidInput (422) beyond the bounds."""
    start, end = interval(start, end, now)
    row = queries.schedules.get_schedule(schedule_id, owner)
    changes = queries.accounting.definition_changes(
        schedule_id, start, list(WHEN_FIELDS), MAX_DEFINITION_CHANGES
    )
    if len(changes) >= MAX_DEFINITION_CHANGES:  # the versions before would be wrong
        raise InvalidInput(
            f"the schedule was changed {MAX_DEFINITION_CHANGES} times or more since from:"
            " ask for a later interval"
        )
    slots = _expected(versions(row, changes), start, end)
    runs = queries.accounting.runs_between(schedule_id, start, end, MAX_RUNS + 1)
    if len(runs) > MAX_RUNS:
        raise InvalidInput(
            f"the interval holds more than {MAX_RUNS} runs of this schedule: ask for a narrower"
            " interval"
        )
    pauses = _Pauses(
        queries.accounting.enabled_changes(schedule_id, start, end, MAX_ENABLED_CHANGES),
        row["enabled"],
    )
    # the exceptions and calendars as they are now: a past slot without a run is explained by
    # them (a calendar edited since says what it says today)
    excepted = SlotExceptions(
        {e["occurrence"]: e for e in queries.exceptions.list_exceptions(schedule_id)},
        [
            Exclusion.of(calendar)
            for calendar in queries.calendars.exclusions_of(row["exclude_calendars"]).values()
        ],
    )
    context = _Context(now, queries.accounting.fire_check_progress(schedule_id), pauses, excepted)
    by_time = {run["scheduled_time"]: run for run in runs}
    items = [context.account(slot, then, by_time.pop(slot, None)) for slot, then in slots]
    others = [
        OtherRun(
            run_id=run["id"],
            scheduled_time=run["scheduled_time"],
            trigger=run["trigger"],
            status=run["status"],
            cause=_TRIGGER_CAUSES[run["trigger"]],
            error=run["error"],
        )
        for run in by_time.values()
    ]
    counts = Counter(item.outcome for item in items)
    # the outcomes are the totals' JSON names
    totals = AccountingTotals.model_validate(
        {**counts, "expected": len(items), "otherRuns": len(others)}
    )
    return ScheduleAccounting(
        schedule_id=schedule_id,
        from_=start,
        to=end,
        generated_at=now,
        items=items,
        other_runs=others,
        totals=totals,
    )


def _expected(history: list[Version], start: datetime, end: datetime) -> list[tuple[datetime, Row]]:
    """The expected fire times in (start, end], each with the schedule as it was then (its
    version: the walk is that version's); InvalidInput past ACCOUNTING_MAX_FIRES, or when the
    schedule as it is now cannot be evaluated (an older version that cannot be is left out)."""
    slots: list[tuple[datetime, Row]] = []
    for version in history:
        low = start if version.since is None else max(start, version.since)
        high = end if version.until is None else min(end, version.until)
        if high <= low:
            continue
        wanted = ACCOUNTING_MAX_FIRES + 1 - len(slots)
        then = dict(version.row)  # one per version, shared by its fire times
        try:
            fires = expected_fires(then, low, high, most=WALK_CHUNK)
            slots.extend((fire, then) for fire in itertools.islice(fires, wanted))
        except OverflowError as exc:  # an interval at the ends of the calendar
            raise InvalidInput("from, to: out of range for this schedule's timezone") from exc
        except ValueError as exc:  # a cron or timezone that cannot be scheduled (any more)
            if version.until is None:
                raise InvalidInput(f"the schedule cannot be evaluated: {exc}") from exc
        if len(slots) > ACCOUNTING_MAX_FIRES:
            raise InvalidInput(
                f"the interval holds more than {ACCOUNTING_MAX_FIRES} fire times of this"
                f" schedule (the first after {iso_utc(start)} are up to"
                f" {iso_utc(slots[-2][0])}): ask for a narrower interval"
            )
    return slots


class _Pauses:
    """Whether the schedule was enabled at an instant, from the audit events that set it."""

    def __init__(self, changes: list[Row], enabled_now: bool) -> None:
        self._at = [c["occurred_at"] for c in changes]
        self._changes = changes
        self._enabled_now = enabled_now

    def paused_by(self, moment: datetime) -> Row | None:
        """The event that paused the schedule, when it was paused at `moment`; None when it
        was enabled (or nothing says otherwise)."""
        index = bisect.bisect_right(self._at, moment)
        if index:
            change = self._changes[index - 1]
            return None if change["enabled"] else change
        if self._changes:  # before the first event read: what that event changed from
            first = self._changes[0]  # (a creation changed from nothing: not a pause)
            paused = first["enabled_before"] is False
            return {**first, "action": "paused_before"} if paused else None
        return None if self._enabled_now else {"action": "paused", "occurred_at": None}


@dataclass(frozen=True)
class _Context:
    now: datetime
    check: Row | None
    pauses: _Pauses
    excepted: SlotExceptions

    def account(self, slot: datetime, row: Row, run: Row | None) -> ExpectedFire:
        """What became of `slot`, a fire time of the schedule as it was then (`row`)."""
        if run is not None:
            return _ran(slot, run)
        outcome, cause = self._without_run(slot, row)
        return ExpectedFire(scheduled_time=slot, outcome=outcome, cause=cause)

    def _without_run(self, slot: datetime, row: Row) -> tuple[Any, str]:
        excluded = self.excepted.skip_reason(slot)
        if excluded is not None:
            return "skipped", excluded
        moved_to = self.excepted.moved_to(slot)
        # a moved slot fires (its at()) at its new time: a pause then is what kept it from running
        paused = self.pauses.paused_by(moved_to or slot)
        if paused is not None:
            return "paused", _paused_cause(paused)
        settings = get_settings()
        kept_from = self.now - timedelta(days=settings.run_history_days)
        if slot < kept_from:
            return "outsideRetention", (
                f"older than the run history kept (RunHistoryDays {settings.run_history_days}):"
                " its run, if it had one, is deleted"
            )
        wait = timedelta(
            seconds=settings.missed_fire_grace_s, minutes=row["flexible_window_minutes"]
        )
        try:
            # a moved slot runs at its new time (its at()), whatever its wall time; else the
            # last instant its DST policy may deliver it at (as the missed-fire check has it)
            last = moved_to or last_occurrence(slot, row["timezone"], dst_policy(row))
        except ValueError:  # a one-time schedule's zone no longer known: the instant itself
            last = slot
        try:
            due = last + wait
        except OverflowError:  # due after year 9999: not yet, whatever now is
            due = datetime.max.replace(tzinfo=UTC)
        if due > self.now:
            moved = "" if moved_to is None else f"moved to {iso_utc(moved_to)}; "
            return "upcoming", f"{moved}no run yet; not due before {iso_utc(due)}"
        return "noRecord", self._unrecorded_cause(slot)

    def _unrecorded_cause(self, slot: datetime) -> str:
        check = self.check
        if check is None:
            return "no run, and the missed-fire check has no record of this schedule"
        if slot <= check["fires_from"]:
            return (
                f"no run: before {iso_utc(check['fires_from'])}, when the schedule was last"
                " created, enabled or changed in when it fires; the missed-fire check started"
                " again then, and does not look at earlier fire times"
            )
        if slot > check["checked_through"]:
            return (
                "no run yet, not checked yet: the missed-fire check has checked this schedule"
                f" through {iso_utc(check['checked_through'])}"
            )
        return (
            "no run, lost: the missed-fire check passed this fire time (checked through"
            f" {iso_utc(check['checked_through'])}) when it had a run row, which is gone"
        )


def _ran(slot: datetime, run: Row) -> ExpectedFire:
    status, error, trigger = run["status"], run["error"], run["trigger"]
    late = "" if trigger == "schedule" else f" ({trigger})"
    if status == "succeeded":
        cause = f"ran{late} and succeeded"
    elif status == "failed":
        cause = f"ran{late} and failed: {error}" if error else f"ran{late} and failed"
    elif status == "running":
        cause = f"running{late} since {iso_utc(run['started_at'])}"
    elif status == "buffered":
        cause = f"waiting to run{late}: behind a run of its workflow"
    elif status == "skipped":
        cause = f"skipped ({skip_kind(error)}): {error}" if error else "skipped"
    else:  # missed
        cause = error or "missed"
    return ExpectedFire(
        scheduled_time=slot,
        outcome=status,
        cause=cause,
        run_id=run["id"],
        status=status,
        trigger=trigger,
        error=error,
    )


def _paused_cause(event: Row) -> str:
    if event["occurred_at"] is None:
        return "the schedule is paused, and no audit event says since when"
    if event["action"] == "paused_before":
        return f"the schedule was paused until {iso_utc(event['occurred_at'])}"
    by = f" by {event['actor']}" if event.get("actor") else ""
    return f"the schedule was paused ({event['action']}{by} at {iso_utc(event['occurred_at'])})"
