"""The TypeScript example client (clients/typescript/src/example.ts), compiled with tsc and run
on Node against the local stack: its typed calls do what they print, and an API error stops it
with the API's message."""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from collections.abc import Iterator
from subprocess import CompletedProcess

import pytest

from devstack.stack import Stack, StackUser
from tests.conftest import ROOT
from tests.e2e.conftest import Api
from tests.typescript_client import CLIENT, npm_tool, run

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def example() -> str:
    """example.ts compiled for Node (tsconfig.build.json: into the client's ignored dist/)."""
    built = run(npm_tool("tsc"), "--pretty", "false", "-p", CLIENT / "tsconfig.build.json")
    assert built.returncode == 0, built.stdout + built.stderr
    return str(CLIENT / "dist" / "example.js")


def run_example(example: str, stack: Stack, token: str) -> CompletedProcess[str]:
    return run(
        "node",
        example,
        env={**os.environ, "SCHEDULER_URL": stack.api_url, "SCHEDULER_TOKEN": token},
    )


@pytest.fixture
def read_only_key(stack: Stack, user1: StackUser) -> Iterator[str]:
    service = Api(stack.api_url, stack.service_key)
    issued = service.request(
        "POST", "/api/keys", {"name": "e2e ts reader", "ownerId": str(user1.sub), "readOnly": True}
    )
    assert issued.status == 201, issued.body
    yield issued.body["key"]
    assert service.request("DELETE", f"/api/keys/{issued.body['id']}").status == 204


def test_the_types_come_from_the_document_the_running_api_serves(stack: Stack) -> None:
    url = f"{stack.api_url}/api/openapi.json"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (http only)
        served = response.read().decode("utf-8")

    printed = run(
        sys.executable,
        ROOT / "tools" / "openapi_document.py",
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}"},
    )

    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == served  # what generate.sh reads is what clients get, byte for byte


def test_the_example_lists_creates_pauses_and_deletes_a_schedule(
    example: str, stack: Stack, api1: Api
) -> None:
    before = api1.request("GET", "/api/schedules?limit=100")
    assert before.status == 200

    result = run_example(example, stack, api1.token)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5, result.stdout
    workflow_id = re.fullmatch(rf"workflow ({UUID}) \(.+\)", lines[0])
    assert workflow_id, lines[0]
    workflows = api1.request("GET", "/api/workflows?limit=100").body["items"]
    assert workflow_id[1] in {workflow["id"] for workflow in workflows}  # one of the caller's
    assert lines[1] == f"listed {len(before.body['items'])} schedule(s)"
    created = re.fullmatch(
        rf"created ({UUID}): At 07:00 AM, Monday through Friday \(Europe/Berlin\), next run \S+",
        lines[2],
    )
    assert created, lines[2]
    schedule_id = created[1]
    assert lines[3:] == [f"paused {schedule_id}: enabled false", f"deleted {schedule_id}"]
    # It is gone, and nothing else changed
    gone = api1.request("GET", f"/api/schedules/{schedule_id}")
    assert gone.status == 404
    assert gone.body["error"]["code"] == "not_found"
    assert api1.request("GET", "/api/schedules?limit=100").body == before.body


def test_the_example_stops_at_an_api_error_with_the_apis_message(
    example: str, stack: Stack, api1: Api, read_only_key: str
) -> None:
    before = api1.request("GET", "/api/schedules?limit=100").body

    result = run_example(example, stack, read_only_key)

    assert result.returncode == 1, result.stdout + result.stderr
    # The reads went through; the first write was refused, and the example went no further
    assert [line.split(" ", 1)[0] for line in result.stdout.splitlines()] == ["workflow", "listed"]
    assert result.stderr.strip() == (
        "error: create schedule: 403 forbidden: this API key is read-only"
    )
    assert api1.request("GET", "/api/schedules?limit=100").body == before
