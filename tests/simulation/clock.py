"""The virtual clock every part of the simulation reads, and the time seams it patches.

The product reads `time.monotonic()` for an invocation's deadlines and `time.sleep()` between
in-process retries (scheduler.run.fire, scheduler.run.runner, scheduler.steps.engine). In the
simulation both follow the virtual clock: a retry's pause parks the invocation until the
virtual clock reaches its end (tests.simulation.tasks), instead of stalling in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from types import SimpleNamespace

import pytest

# Modules whose `time` is the virtual one (each imports `time` and calls time.monotonic/sleep).
TIMED_MODULES = (
    "scheduler.run.fire",
    "scheduler.run.runner",
    "scheduler.steps.engine",
    # a bulk change's EventBridge budget, the drain's pacing
    "scheduler.api.bulk_changes",
    "scheduler.sync.pending",
)
# Modules whose `datetime.now` is the virtual clock: a create's check that `at` is in the future
# (the model's validator), and what EventBridge is sent for a one-time schedule (nothing once
# `at` is past: sync.eventbridge.desired_schedules, keeps_leftover).
DATED_MODULES = ("scheduler.models.schedules", "scheduler.sync.eventbridge")


class VirtualClock:
    """UTC time that moves only when the simulation moves it, never backwards."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def advance_to(self, moment: datetime) -> None:
        if moment > self.current:
            self.current = moment

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return self.current.timestamp()


class _AnyDatetime(type):
    """isinstance/issubclass of the virtual datetime answer as for datetime itself."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, datetime)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, datetime)


def virtual_datetime(clock: VirtualClock) -> type[datetime]:
    """`datetime` whose now() is the virtual clock's (everything else is datetime's)."""

    class VirtualDatetime(datetime, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            now = clock.now()
            return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)

    return VirtualDatetime


def patch_time(
    monkeypatch: pytest.MonkeyPatch, clock: VirtualClock, sleep: Callable[[float], None]
) -> None:
    """Make the product's monotonic time the virtual clock's, and its sleeps `sleep`; and its
    datetime.now() where the simulation depends on it (DATED_MODULES)."""
    import importlib

    shim = SimpleNamespace(monotonic=clock.monotonic, sleep=sleep, time=clock.monotonic)
    for name in TIMED_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "time", shim)
    dated = virtual_datetime(clock)
    for name in DATED_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "datetime", dated)
