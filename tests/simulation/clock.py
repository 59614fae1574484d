"""The virtual clock every part of the simulation reads, and the time seams it patches.

The product reads `time.monotonic()` for an invocation's deadlines and `time.sleep()` between
in-process retries (scheduler.runner_fire, scheduler.runner, scheduler.workflows). In the
simulation both follow the virtual clock: a retry's pause moves time on, as it would in a
Lambda, instead of stalling the test in real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

# Modules whose `time` is the virtual one (each imports `time` and calls time.monotonic/sleep).
TIMED_MODULES = ("scheduler.runner_fire", "scheduler.runner", "scheduler.workflows")


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

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))

    def as_time_module(self) -> Any:
        return SimpleNamespace(monotonic=self.monotonic, sleep=self.sleep, time=self.monotonic)


def patch_time(monkeypatch: pytest.MonkeyPatch, clock: VirtualClock) -> None:
    """Make the product's monotonic time and sleeps the virtual clock's."""
    import importlib

    shim = clock.as_time_module()
    for name in TIMED_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "time", shim)
