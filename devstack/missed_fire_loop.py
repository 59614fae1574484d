"""The local stack's missed-fire check: at start-up and every `interval_s` of the stack's clock.

In AWS the check runs on ReconcileFunction's schedule (scheduler.policies.missed_fires); here a
thread runs the same function against the same database, handing catch-up runs to the local
RunnerFunction exactly as the Lambda does (an asynchronous invocation).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from devstack.clock import Clock
from devstack.heartbeats import MISSED_FIRE_CHECK, Heartbeats
from devstack.lambda_endpoint import LocalLambda

log = logging.getLogger("devstack")


class MissedFireLoop:
    def __init__(
        self,
        lambdas: LocalLambda,
        runner: str,
        clock: Clock,
        interval_s: float,
        engine_started_at: datetime,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        """`engine_started_at`: the local engine fires only what comes after it, so a fire time
        before it (the stack was down) is missed at once, without the grace. `heartbeats`: told
        of each pass that completed or failed."""
        self._engine_started_at = engine_started_at
        self._heartbeats = heartbeats
        self._lambdas = lambdas
        self._runner = runner
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._passes = 0
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="missed-fires", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def check_now(self) -> dict[str, int]:
        """One pass now, in the caller's thread (what the loop does at each tick)."""
        try:
            summary = self._check()
        except Exception as exc:
            if self._heartbeats is not None:
                self._heartbeats.failed(MISSED_FIRE_CHECK, self._clock.now(), exc)
            raise
        if self._heartbeats is not None:
            self._heartbeats.completed(MISSED_FIRE_CHECK, self._clock.now())
        return summary

    def _check(self) -> dict[str, int]:
        from scheduler.policies.abandoned_runs import AbandonedRunQueries, settle_abandoned_runs
        from scheduler.policies.missed_fires import MissedFireQueries, check_missed_fires
        from scheduler.store.db import database

        # as ReconcileFunction's coordinator does each pass: expired claims first, then the check
        db = database()
        settle_abandoned_runs(
            AbandonedRunQueries.over(db), self._clock.now(), hand_on=self._hand_on
        )
        summary = check_missed_fires(
            MissedFireQueries.over(db),
            hand_on=self._hand_on,
            now=self._clock.now,
            undeliverable_before=self._engine_started_at,
            interval=self._interval,  # a pass later than two of these follows an outage
        ).as_dict()
        found = summary["missed_fires"] + summary["catchup_queued"]
        if found or summary["handed_on"]:
            log.info(
                "missed-fire check: %d missed, %d to catch up, %d handed on",
                summary["missed_fires"],
                summary["catchup_queued"],
                summary["handed_on"],
            )
        return summary

    def wait_for_passes(self, count: int, timeout_s: float) -> bool:
        """True once the loop has finished `count` passes in all."""
        with self._done:
            return self._done.wait_for(lambda: self._passes >= count, timeout_s)

    def _hand_on(self, event: dict[str, Any]) -> None:
        self._lambdas.invoke_async(self._runner, json.dumps(event).encode())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_now()
            except Exception:  # the next tick tries again; the stack keeps serving
                log.exception("missed-fire check failed")
            with self._done:
                self._passes += 1
                self._done.notify_all()
            self._wake.clear()
            self._clock.sleep_until(self._clock.now() + self._interval, self._wake)
