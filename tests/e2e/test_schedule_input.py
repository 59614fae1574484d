"""E2E: one workflow, 1,000 schedules each with its own input; every run gets its own.

Not a few seconds: the runs of one workflow never overlap (its lease), so with `buffer_one`
the 999 fires that find it busy wait and are handed on one run after another (about 80 ms a run
on a loaded 2-core machine, 1.5 minutes in all), and the 1,000 creates and deletes go through
the API (about 35 s with 8 callers). With `skip`, 999 of them would be skipped.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devstack.stack import Stack
from tests.e2e.conftest import Api, clock_of, next_minute, sync_engine

SCHEDULES = 1000
ALL_RUNS_S = 600  # a bound for a hang, not a timing assertion


class Recorder:
    """A loopback HTTP endpoint keeping every request body it receives."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder.changed:
                    recorder.bodies.append({"path": self.path, **json.loads(raw)})
                    recorder.changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float) -> list[Any]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.bodies) >= count, timeout_s)
            return list(self.bodies)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    endpoint = Recorder()
    yield endpoint
    endpoint.server.shutdown()


def test_a_thousand_schedules_of_one_workflow_each_run_with_its_own_input(
    stack: Stack, recorder: Recorder
) -> None:
    from scheduler.store.db import Database

    from tests.queries import AllQueries

    # Given one workflow (of an owner of its own: 1,000 is the per-owner schedule limit) whose
    # http step sends the schedule's input and id
    database = Database(stack.database_url)
    queries = AllQueries.over(database)
    step = {
        "type": "http",
        "url": f"{recorder.url}/customers/{{{{input.customer}}}}",
        "body": {"n": "{{input.n}}", "scheduleId": "{{scheduleId}}", "at": "{{scheduledTime}}"},
    }
    workflow = queries.workflows.create_workflow(uuid.uuid4(), "per customer", {"steps": [step]})
    service = Api(stack.api_url, stack.service_token)

    def create(n: int) -> tuple[int, str]:
        schedule = service.create_schedule(
            workflow["id"],
            "* * * * *",
            input={"n": n, "customer": f"c-{n}"},
            overlapPolicy="buffer_one",
        )
        return n, schedule["id"]

    # and 1,000 schedules of it, each with its own input
    with ThreadPoolExecutor(max_workers=8) as pool:
        schedule_of = dict(pool.map(create, range(SCHEDULES)))
    try:
        sync_engine(stack)

        # When they all fire in the same minute
        fire_time = next_minute(stack)
        clock_of(stack).advance((fire_time - clock_of(stack).now()).total_seconds() + 1)
        bodies = recorder.wait_for(SCHEDULES, ALL_RUNS_S)
        assert stack.lambdas is not None
        stack.lambdas.wait_in_flight(0, ALL_RUNS_S)  # the last run records after its request

        # Then each schedule's run received its own input, once
        expected = {
            (n, schedule_id, fire_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for n, schedule_id in schedule_of.items()
        }
        received = [(body["n"], body["scheduleId"], body["at"]) for body in bodies]
        assert len(received) == SCHEDULES
        assert set(received) == expected
        assert all(body["path"] == f"/customers/c-{body['n']}" for body in bodies)
        statuses = database.execute(
            "select status, count(*) from schedule_runs where workflow_id = %s group by status",
            (workflow["id"],),
        ).fetchall()
        assert statuses == [{"status": "succeeded", "count": SCHEDULES}]
    finally:
        with ThreadPoolExecutor(max_workers=8) as pool:
            deleted = list(
                pool.map(
                    lambda schedule_id: (
                        service.request("DELETE", f"/api/schedules/{schedule_id}").status
                    ),
                    schedule_of.values(),
                )
            )
        assert set(deleted) == {204}
        sync_engine(stack)
        database.close()
