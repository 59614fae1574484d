"""The local stack started in-process on free ports, driven over real HTTP with a manual clock.

Time moves only when a test says so: `advance_to_next_minute()` moves the engine's clock past
the next minute boundary and returns once every fire time up to then has been delivered and
every runner invocation it caused has finished. Nothing here sleeps.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.clock import ManualClock
from devstack.stack import Stack, StackUser

# How long a test waits for the stack to get somewhere (the engine to poll or fire, the runner
# invocations to finish): each wait ends as soon as it has, so only a hang runs this out, never
# a busy machine (fifty runner invocations on cold Lambda containers take a while).
WAIT_S = 120.0


@dataclass
class Response:
    status: int
    body: Any


class Api:
    """A client of the gateway acting as one caller (one bearer token)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> Response:
        data = None if body is None else json.dumps(body).encode()
        url = f"{self.base_url}{path}"
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return Response(status, json.loads(raw) if raw else None)

    def create_schedule(self, workflow_id: object, cron: str, **fields: Any) -> dict[str, Any]:
        response = self.request(
            "POST", "/api/schedules", {"workflowId": str(workflow_id), "cron": cron, **fields}
        )
        assert response.status == 201, response.body
        return dict(response.body)

    def runs(self, schedule_id: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"/api/schedules/{schedule_id}/runs")
        assert response.status == 200, response.body
        return list(response.body["items"])


def manual_clock_start() -> datetime:
    """Near real time (run records use the real clock), half a minute before a minute boundary."""
    return datetime.now(UTC).replace(second=30, microsecond=0)


def start_stack(
    data_dir: Path, clock: ManualClock, port: int = 0, missed_check_interval_s: float | None = None
) -> Stack:
    """Port 0: the gateway binds a free port and the stack reports it in api_url. The
    missed-fire check runs only when a test asks (stack.check_missed_fires) unless an interval
    is given: tests move the clock by minutes, and a pass of their own would race their runs."""
    return Stack(
        data_dir,
        port=port,
        clock=clock,
        poll_interval_s=0.5,
        missed_check_interval_s=missed_check_interval_s,
    ).start()


@contextmanager
def data_directory() -> Iterator[Path]:
    """A stack's data directory outside pytest's basetemp: a concurrent pytest run resets that
    to mode 0700, locking out the `pgserver` user Postgres runs as when tests run as root."""
    path = Path(tempfile.mkdtemp(prefix="devstack-e2e-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with data_directory() as path:
        yield path


# Package scope: the stack (and the environment it sets) is gone before tests outside e2e run.
@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    with data_directory() as path:
        running = start_stack(path, ManualClock(manual_clock_start()))
        yield running
        running.stop()


def clock_of(stack: Stack) -> ManualClock:
    assert isinstance(stack.clock, ManualClock)
    return stack.clock


def sync_engine(stack: Stack) -> None:
    """Let the engine see the Scheduler API as it is now (it polls every half second)."""
    assert stack.engine is not None
    stack.engine.refresh(WAIT_S)


def advance(stack: Stack, seconds: float) -> datetime:
    """Move the clock; return when every fire up to then ran to its end."""
    assert stack.engine is not None
    assert stack.lambdas is not None
    now = clock_of(stack).advance(seconds)
    stack.engine.wait_until_processed(now, WAIT_S)
    stack.lambdas.wait_in_flight(0, WAIT_S)
    return now


def next_minute(stack: Stack) -> datetime:
    now = clock_of(stack).now()
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def advance_to_next_minute(stack: Stack) -> datetime:
    """Advance one second past the next minute boundary; returns that boundary (the fire time)."""
    boundary = next_minute(stack)
    advance(stack, (boundary - clock_of(stack).now()).total_seconds() + 1)
    return boundary


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def user1(stack: Stack) -> StackUser:
    return stack.users[0]


@pytest.fixture
def api1(stack: Stack) -> Api:
    return Api(stack.api_url, stack.users[0].token)


@pytest.fixture
def api2(stack: Stack) -> Api:
    return Api(stack.api_url, stack.users[1].token)


@pytest.fixture(autouse=True)
def no_schedules_left(stack: Stack) -> Iterator[None]:
    """Each test's schedules are deleted afterwards, so later tests' clock moves fire nothing."""
    yield
    service = Api(stack.api_url, stack.service_token)
    for item in service.request("GET", "/api/schedules?limit=100").body["items"]:
        assert service.request("DELETE", f"/api/schedules/{item['id']}").status == 204
    sync_engine(stack)


@dataclass(frozen=True)
class TestWorkflow:
    id: uuid.UUID
    marker: str


MakeWorkflow = Callable[..., TestWorkflow]


@pytest.fixture
def make_workflow(stack: Stack, user1: StackUser) -> Iterator[MakeWorkflow]:
    """A workflow of user 1 whose http step calls the demo endpoint with a marker of its own."""
    from scheduler.store.db import Database

    from tests.queries import AllQueries

    database = Database(stack.database_url)
    queries = AllQueries.over(database)

    def make(path: str = "/demo/hook", timeout_s: float = 10) -> TestWorkflow:
        marker = uuid.uuid4().hex
        step = {
            "type": "http",
            "method": "POST",
            "url": f"{stack.api_url}{path}",
            "body": {"marker": marker},
            "timeoutSeconds": timeout_s,
        }
        row = queries.workflows.create_workflow(user1.sub, f"e2e {marker}", {"steps": [step]})
        return TestWorkflow(row["id"], marker)

    yield make
    database.close()


def hits_with(stack: Stack, marker: str) -> list[dict[str, Any]]:
    return [
        hit
        for hit in stack.demo.hits()
        if isinstance(hit["body"], dict) and hit["body"].get("marker") == marker
    ]
