"""E2E: `python -m devstack` (what `make run` runs) as a process: ready banner, one instance per
data directory, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from tests.conftest import ROOT

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
