"""The local Lambda service's warm "containers": processes running `devstack.lambda_runtime` that
import the handler once and then serve one invocation at a time, as Lambda's execution
environments do, and one function's pool of them with its running count and its queue of Event
invocations (kept by devstack.lambda_endpoint.LocalLambda under its lock).

A container that timed out or crashed is discarded, as in Lambda; a new one replaces it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.lambda_invocations import FunctionConfig, InvocationResult
from devstack.lambda_runtime import error_payload

_ROOT = Path(__file__).resolve().parents[1]
_PYTHONPATH = [str(_ROOT / "layers" / "common"), str(_ROOT)]  # as /opt/python and the task root
_INIT_TIMEOUT_S = 60.0  # a cold start imports the handler; generous for a busy 2-core machine


@dataclass(order=True)
class _Event:
    """An Event invocation in its function's queue: ordered by when it may run next."""

    not_before: float
    seq: int
    payload: bytes = field(compare=False)
    request_id: str = field(compare=False)
    received_at: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class _Container:
    """One process running `devstack.lambda_runtime`, talking over a socket pair."""

    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self._conn, child_conn = multiprocessing.Pipe()
        child_fd = child_conn.fileno()
        env = {**env, "PYTHONPATH": os.pathsep.join(_PYTHONPATH)}
        command = [
            sys.executable,
            "-m",
            "devstack.lambda_runtime",
            str(child_fd),
            config.name,
            config.handler,
            str(config.timeout_s),
            str(config.memory_mb),
        ]
        self.process = subprocess.Popen(command, pass_fds=[child_fd], env=env, cwd=_ROOT)  # noqa: S603
        child_conn.close()
        self._ready = False
        self._logs: list[str] = []  # written since the last invocation's result was taken

    def _receive(self, deadline: float) -> tuple[Any, ...] | None:
        """The container's next message that is not a log line (those are kept), or None
        when the deadline passed first."""
        while True:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                return None
            message = self._conn.recv()
            if message[0] != "log":
                return tuple(message)
            self._logs.append(message[1])

    def _taking_logs(self, payload: bytes, error: str | None) -> InvocationResult:
        logs, self._logs = tuple(self._logs), []
        return InvocationResult(payload, error, logs)

    def wait_ready(self, timeout_s: float = _INIT_TIMEOUT_S) -> bool:
        if not self._ready:
            try:
                message = self._receive(time.monotonic() + timeout_s)
                self._ready = message == ("ready",)
            except (EOFError, OSError):  # died while importing the handler
                self._ready = False
        return self._ready

    def invoke(
        self, payload: bytes, timeout_s: float, request_id: str
    ) -> tuple[InvocationResult, bool]:
        """The result, and whether this container can serve again."""
        if not self.wait_ready():
            failed = error_payload("Runtime.InitError", "the runtime failed to start")
            return self._taking_logs(failed, "Unhandled"), False
        try:
            self._conn.send((request_id, payload))
            message = self._receive(time.monotonic() + timeout_s)
            if message is None:
                text = f"{request_id} Task timed out after {timeout_s:.2f} seconds"
                return self._taking_logs(error_payload("TimeoutError", text), "Unhandled"), False
            _, error, body = message
        except (EOFError, OSError):
            text = "the runtime exited before returning a result"
            return self._taking_logs(error_payload("Runtime.ExitError", text), "Unhandled"), False
        return self._taking_logs(body, error), True

    def ask_to_exit(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)

    def close(self, grace_s: float) -> None:
        self.ask_to_exit()
        for end in (self.process.terminate, self.process.kill):
            try:
                self.process.wait(grace_s)
                break
            except subprocess.TimeoutExpired:
                end()
                grace_s = 1.0
        self._conn.close()


class _Function:
    """One function's warm containers, and its concurrency and async queue (kept by
    LocalLambda under its lock)."""

    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self.config = config
        self._env = env
        self._idle: list[_Container] = []
        self._all: list[_Container] = []
        self._lock = threading.Lock()
        self._closed = False
        self.running = 0
        self.peak_running = 0
        self.queue: list[_Event] = []  # a heap

    def warm_up(self) -> _Container:
        container = _Container(self.config, self._env)
        with self._lock:
            self._all.append(container)
            self._idle.append(container)
        return container

    def run(self, payload: bytes, request_id: str) -> InvocationResult:
        """Run one invocation in an idle (or a new) container; the caller holds a slot."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.config.name} is shut down")
            container = self._idle.pop() if self._idle else None
        if container is None:
            container = _Container(self.config, self._env)
            with self._lock:
                self._all.append(container)
        result, reusable = container.invoke(payload, self.config.timeout_s, request_id)
        with self._lock:
            if reusable and not self._closed:
                self._idle.append(container)
                container = None
            elif container in self._all:
                self._all.remove(container)
        if container is not None:
            container.close(0)  # a timed-out or crashed container is discarded, as in Lambda
        return result

    def close(self, grace_s: float) -> None:
        with self._lock:
            self._closed = True
            containers, self._all, self._idle = self._all, [], []
        for container in containers:
            container.ask_to_exit()  # all at once: they wind down in parallel
        deadline = time.monotonic() + grace_s
        for container in containers:
            container.close(max(0.0, deadline - time.monotonic()))
