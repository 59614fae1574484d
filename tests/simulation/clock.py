"""The virtual clock every part of the simulation reads, and the time seams it patches.

The product reads `time.monotonic()` for an invocation's deadlines and `time.sleep()` between
in-process retries (scheduler.run.fire, scheduler.run.runner, scheduler.steps.engine). In the
simulation both follow the virtual clock: a retry's pause parks the invocation until the
virtual clock reaches its end (tests.simulation.tasks), instead of stalling in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

# Modules whose `time` is the virtual one (each imports `time` and calls time.monotonic/sleep).
TIMED_MODULES = ("scheduler.run.fire", "scheduler.run.runner", "scheduler.steps.engine")


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


def patch_time(
    monkeypatch: pytest.MonkeyPatch, clock: VirtualClock, sleep: Callable[[float], None]
) -> None:
    """Make the product's monotonic time the virtual clock's, and its sleeps `sleep`."""
    import importlib

    shim = SimpleNamespace(monotonic=clock.monotonic, sleep=sleep, time=clock.monotonic)
    for name in TIMED_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "time", shim)
