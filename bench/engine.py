"""The local EventBridge engine at rest: CPU seconds its threads use in 10 s of wall time with
1,000 enabled schedules, none of them due.

The engine runs as `make run` runs it (the same Scheduler client, the default poll interval)
against moto's server on loopback. Only the engine's own threads are measured, by their
kernel CPU counters (psutil), so moto answering the engine's requests does not count.
Start-up (the first poll, which describes every schedule) is outside the window.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench import backends

SCHEDULES = backends.sized(1_000, 20)
# the engine lists every 5 s: a window that holds at least one listing
WINDOW_S = float(backends.sized(10, 6))
_ENGINE_THREADS = ("engine-poller", "engine-firer")


def measure() -> dict[str, float]:
    backends.configure_environment()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    previous = os.environ.get("AWS_ENDPOINT_URL_SCHEDULER")
    os.environ["AWS_ENDPOINT_URL_SCHEDULER"] = f"http://{host}:{port}"
    try:
        return _measure()
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL_SCHEDULER", None)
        else:
            os.environ["AWS_ENDPOINT_URL_SCHEDULER"] = previous
        server.stop()


def _thread_cpu_s(native_ids: set[int]) -> float:
    import psutil

    return sum(
        t.user_time + t.system_time for t in psutil.Process().threads() if t.id in native_ids
    )


def _measure() -> dict[str, float]:
    import boto3
    from scheduler.config import get_settings
    from scheduler.sync.eventbridge import desired_schedules

    from devstack.clock import SystemClock
    from devstack.engine import SchedulerEngine
    from devstack.local_functions import engine_scheduler_client

    get_settings.cache_clear()
    group = "bench-engine"
    seeder = boto3.client("scheduler")
    seeder.create_schedule_group(Name=group)
    # Daily, twelve hours from now: enabled, and not due while we watch.
    hour = (datetime.now(UTC).hour + 12) % 24
    for _ in range(SCHEDULES):
        row = {
            "id": uuid.uuid4(),
            "workflow_id": uuid.uuid4(),
            "cron": f"0 {hour} * * *",
            "timezone": "UTC",
            "enabled": True,
        }
        for kwargs in desired_schedules(row).values():
            seeder.create_schedule(**{**kwargs, "GroupName": group})

    fired: list[tuple[str, bytes]] = []

    def invoke(arn: str, payload: bytes) -> None:
        fired.append((arn, payload))

    client = engine_scheduler_client()
    listings = 0

    def count_listing(**_: Any) -> None:
        nonlocal listings
        listings += 1

    client.meta.events.register("before-call.scheduler.ListSchedules", count_listing)
    engine = SchedulerEngine(client, group, invoke, SystemClock())
    engine.start()
    try:
        threads = {t.native_id for t in threading.enumerate() if t.name in _ENGINE_THREADS}
        if len(threads) != len(_ENGINE_THREADS) or None in threads:
            raise RuntimeError(f"expected the engine's threads {_ENGINE_THREADS}")
        native_ids: set[int] = {t for t in threads if t is not None}
        listings_before, cpu_before = listings, _thread_cpu_s(native_ids)
        time.sleep(WINDOW_S)
        cpu = _thread_cpu_s(native_ids) - cpu_before
        window_listings = listings - listings_before
    finally:
        engine.stop()
    if fired:
        raise RuntimeError(f"{len(fired)} schedule(s) fired: the window was not idle")
    if window_listings < 1:
        raise RuntimeError("the engine did not poll during the window: nothing was measured")
    return {"engine.idle_cpu_s": cpu, "engine.list_calls": window_listings}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
