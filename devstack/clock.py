"""The time the local EventBridge engine fires by: the wall clock, or a manual one tests advance."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A long sleep is cut into slices so a wall-clock jump (NTP, suspend) is noticed soon.
_MAX_SLICE_S = 5.0


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def sleep_until(self, moment: datetime, wake: threading.Event) -> None:
        """Return once `moment` has come or `wake` is set, whichever is first."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_until(self, moment: datetime, wake: threading.Event) -> None:
        while not wake.is_set():
            remaining = (moment - self.now()).total_seconds()
            if remaining <= 0:
                return
            wake.wait(min(remaining, _MAX_SLICE_S))


class ManualClock:
    """Time stands still until `advance()`; every sleeper is woken to look at the new time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._sleepers: set[threading.Event] = set()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now, sleepers = self._now, list(self._sleepers)
        for wake in sleepers:
            wake.set()
        return now

    def sleep_until(self, moment: datetime, wake: threading.Event) -> None:
        with self._lock:
            if self._now >= moment:
                return
            self._sleepers.add(wake)
        try:
            wake.wait()
        finally:
            with self._lock:
                self._sleepers.discard(wake)
