"""Concurrent invocations on one virtual clock: each Lambda invocation is a thread, and exactly
one thread runs at a time (the event loop's, or one invocation's).

An invocation runs until it waits (a retry's pause, its workflow's step): then it parks, with an
event to resume it at the moment its wait ends, and the loop goes on with everything else that
happens meanwhile: other deliveries, other invocations, the check. So runs overlap in virtual
time as they would in AWS, while the simulation stays deterministic (one thread at a time, in
event order), and no invocation's waiting moves another's time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from tests.simulation.clock import VirtualClock
from tests.simulation.faults import SimulatedCrash

# A parked task not resumed in this long (real seconds) means the simulation itself hangs.
HANDOFF_TIMEOUT_S = 120


class _Task:
    def __init__(self, name: str, body: Callable[[], None]) -> None:
        self._body = body
        self._go = threading.Semaphore(0)
        self._back = threading.Semaphore(0)
        self.cancelled = False
        self.done = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        self._go.acquire()
        try:
            if not self.cancelled:
                self._body()
        finally:
            self.done = True
            self._back.release()

    def resume(self) -> None:
        """From the loop's thread: let the task run until it parks again or ends."""
        if not self.thread.is_alive() and not self.done:
            self.thread.start()
        self._go.release()
        if not self._back.acquire(timeout=HANDOFF_TIMEOUT_S):
            raise RuntimeError(f"simulated invocation {self.thread.name} never handed back")

    def park(self) -> None:
        """From the task's thread: hand control back to the loop until resumed."""
        self._back.release()
        self._go.acquire()
        if self.cancelled:
            raise SimulatedCrash("the simulation ended while this invocation waited")


class Tasks:
    def __init__(
        self, clock: VirtualClock, at: Callable[[datetime, str, Callable[[], None]], None]
    ):
        self._clock = clock
        self._at = at
        self._current: _Task | None = None
        self._parked: set[_Task] = set()

    def in_task(self) -> bool:
        return self._current is not None and threading.current_thread() is self._current.thread

    def start(self, name: str, body: Callable[[], None]) -> None:
        """Run `body` as a new task, from now until it first waits (called by the loop)."""
        self._switch(_Task(name, body))

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time: parked if in a task, else the clock moves on."""
        if not self.in_task():
            self._clock.advance(max(seconds, 0.0))
            return
        task = self._current
        assert task is not None
        wake = self._clock.now() + timedelta(seconds=max(seconds, 0.0))
        self._parked.add(task)
        self._at(wake, f"resume {task.thread.name}", partial(self._switch, task))
        task.park()

    def _switch(self, task: _Task) -> None:
        self._parked.discard(task)
        if task.done:
            return
        self._current = task
        try:
            task.resume()
        finally:
            self._current = None

    def cancel_all(self) -> None:
        """End every parked task (the simulation is over): each dies where it waits."""
        for task in list(self._parked):
            task.cancelled = True
            self._switch(task)
