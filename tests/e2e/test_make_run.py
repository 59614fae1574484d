"""E2E: `python -m devstack` (what `make run` runs) as a process: ready banner, one instance per
data directory, Ctrl-C leaves no process behind, and its output is a readable line per request
and per run while the functions' JSON records go to a file."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from uuid import UUID

import psutil
from scheduler.store.db import Database
from scheduler.store.workflows import WorkflowQueries

from tests.conftest import ROOT
from tests.e2e.conftest import Api

_START_TIMEOUT_S = 180  # a cold machine under load; the banner normally comes within seconds
_STOP_TIMEOUT_S = 60  # the stack stops every part in seconds; this bounds a hang, not load


def _devstack(data_dir: Path, **extra_env: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DEV_DIR": str(data_dir), "PORT": "0", **extra_env}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], text: str) -> list[str]:
    seen: list[str] = []
    while True:
        line = lines.get(timeout=_START_TIMEOUT_S)
        seen.append(line)
        if text in line:
            return seen


def test_make_run_serves_refuses_a_second_start_and_stops_cleanly_on_ctrl_c(
    data_dir: Path,
) -> None:
    # Given a running stack
    stack = _devstack(data_dir)
    try:
        output = _wait_for(_lines(stack), "started in")
        banner = "".join(output)
        state = json.loads((data_dir / "stack.json").read_text())
        assert f"{state['apiUrl']}/api/docs" in banner
        assert state["users"][0]["token"] in banner
        for user in state["users"]:  # a link that signs each demo user in to the dashboard
            assert f"{state['apiUrl']}/dashboard#access_token={user['token']}" in banner
        assert "curl -s -X POST" in banner
        assert state["serviceKey"] in banner  # a backend's credential, ready to paste
        assert state["heartbeatStatusUrl"] in banner  # the check's and reconcile's last passes
        assert "heartbeat: reconcile completed a pass" in banner  # the start-up reconcile
        postgres_pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        family = [*psutil.Process(stack.pid).children(recursive=True), psutil.Process(postgres_pid)]
        assert any("devstack.lambda_runtime" in " ".join(p.cmdline()) for p in family)

        # When a second one starts on the same data directory, it says so and fails
        second = _devstack(data_dir)
        second_output, _ = second.communicate(timeout=_START_TIMEOUT_S)
        assert second.returncode == 1
        assert "already running" in second_output

        # When Ctrl-C reaches the first one's process group
        os.killpg(stack.pid, signal.SIGINT)
        assert stack.wait(timeout=_STOP_TIMEOUT_S) == 0
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)

    # Then nothing it started is left: no Lambda container, no Postgres
    assert [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def _record_of(path: Path, message: str, schedule_id: str) -> dict[str, object]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return next(
        r for r in records if r.get("message") == message and r.get("schedule_id") == schedule_id
    )


def test_make_run_says_a_line_per_request_and_run_and_writes_the_json_records_to_a_file(
    data_dir: Path,
) -> None:
    stack = _devstack(data_dir)
    try:
        lines = _lines(stack)
        banner = "".join(_wait_for(lines, "started in"))
        log_file = data_dir / "logs" / "lambda.jsonl"
        assert f"{data_dir / 'logs'}/" in banner  # where the records are, said up front
        state = json.loads((data_dir / "stack.json").read_text())
        user = state["users"][0]
        api = Api(state["apiUrl"], user["token"])
        # Given demo user 1's workflow and one of theirs whose http step gets a 404 (the host
        # app writes workflows: straight into the database)
        database = Database(state["databaseUrl"])
        step = {"type": "http", "method": "POST", "url": f"{state['apiUrl']}/demo/missing"}
        failing = WorkflowQueries(database).create_workflow(
            UUID(user["sub"]), "fails on purpose", {"steps": [step]}
        )
        database.close()
        demo = api.create_schedule(user["workflowId"], "0 0 1 1 *")  # never due during the test
        broken = api.create_schedule(failing["id"], "0 0 1 1 *")

        # When each runs now, and its history is read
        assert api.request("POST", f"/api/schedules/{demo['id']}/run").status == 202
        output = _wait_for(lines, f"run now  {demo['id'][:8]}  ")
        assert api.request("POST", f"/api/schedules/{broken['id']}/run").status == 202
        output += _wait_for(lines, f"run now  {broken['id'][:8]}  ")
        assert api.request("GET", f"/api/schedules/{demo['id']}/runs").status == 200
        output += _wait_for(lines, "/runs  ")

        # Then each request and each run is one readable line
        shown = [line.rstrip("\n") for line in output]
        clock, ms = r"\d\d:\d\d:\d\d", r"\d+ ms"
        expected = [
            rf"{clock}  POST /api/schedules  201  {ms}",
            rf"{clock}  POST /api/schedules/{demo['id'][:8]}…/run  202  {ms}",
            rf"{clock}  run now  {demo['id'][:8]}  Demo: ping the local stack  succeeded  {ms}",
            rf"{clock}  run now  {broken['id'][:8]}  fails on purpose  failed  {ms}"
            r"  step 1 \(http\): POST 127\.0\.0\.1: HTTP 404",
            rf"{clock}  GET /api/schedules/{demo['id'][:8]}…/runs  200  {ms}",
        ]
        for pattern in expected:
            assert any(re.fullmatch(pattern, line) for line in shown), (pattern, shown)
        # and the failure's warning too, one line, while no JSON record reaches the terminal
        assert any(
            re.fullmatch(
                rf"{clock}  WARNING  RunnerFunction  workflow run failed: .*HTTP 404", line
            )
            for line in shown
        ), shown
        assert [line for line in shown if line.lstrip().startswith("{")] == []
        assert "Traceback" not in "".join(output)

        # and the records are in the file, whole, with what each run was about
        finished = _record_of(log_file, "run finished", demo["id"])
        assert finished["outcome"] == "succeeded"
        assert finished["function_name"] == "RunnerFunction"
        failed = _record_of(log_file, "workflow run failed", broken["id"])
        assert failed["level"] == "WARNING"
        assert failed["error"] == "step 1 (http): POST 127.0.0.1: HTTP 404"
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=_STOP_TIMEOUT_S)
        finally:
            if stack.poll() is None:
                os.killpg(stack.pid, signal.SIGKILL)
