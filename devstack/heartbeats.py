"""The local stack's heartbeats: the last completed pass of the missed-fire check and of reconcile.

In AWS, each pass emits a CloudWatch heartbeat (RunMissed, ReconcileCompleted) and alarms watch
for its absence (docs/operations.md); here the stack keeps the same facts in memory, answers them
at GET /demo/heartbeat, and says on the terminal when a part starts passing, fails, or passes
again (a line per change, not per pass: the check runs every minute).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MISSED_FIRE_CHECK = "missedFireCheck"
RECONCILE = "reconcile"
_NAMES = {MISSED_FIRE_CHECK: "missed-fire check", RECONCILE: "reconcile"}


@dataclass
class _Part:
    last_pass_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    failing: bool = False


def _text(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="seconds")


class Heartbeats:
    def __init__(self, say: Callable[[str], None], check_interval_s: float | None) -> None:
        """`check_interval_s`: how often the check's loop runs (None: only when a test asks)."""
        self._say = say
        self._check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._parts = {name: _Part() for name in _NAMES}

    def completed(self, part: str, at: datetime) -> None:
        with self._lock:
            state = self._parts[part]
            first, recovered = state.last_pass_at is None, state.failing
            state.last_pass_at, state.failing = at, False
        if first or recovered:
            again = " again" if recovered else ""
            self._say(f"  heartbeat: {_NAMES[part]} completed a pass{again} ({_text(at)})")

    def failed(self, part: str, at: datetime, error: BaseException) -> None:
        with self._lock:
            state = self._parts[part]
            newly = not state.failing
            state.last_failure_at, state.failing = at, True
            state.last_error = f"{type(error).__name__}: {error}"
        if newly:
            self._say(f"  heartbeat: {_NAMES[part]} FAILED ({_text(at)}): {state.last_error}")

    def as_json(self) -> dict[str, Any]:
        """What GET /demo/heartbeat answers."""
        with self._lock:
            body: dict[str, Any] = {
                part: {
                    "lastPassAt": _text(state.last_pass_at),
                    "lastFailureAt": _text(state.last_failure_at),
                    "lastError": state.last_error,
                    "failing": state.failing,
                }
                for part, state in self._parts.items()
            }
        # the local stack reconciles at start-up only (moto forgets its schedules on restart;
        # nothing else writes them out of band here); the check runs on its loop
        body[RECONCILE]["runs"] = "at start-up"
        body[MISSED_FIRE_CHECK]["runs"] = (
            f"every {self._check_interval_s:g} s" if self._check_interval_s else "on demand"
        )
        return body
