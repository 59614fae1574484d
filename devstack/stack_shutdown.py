"""How the local stack stops: every part in the reverse order of its start, each one's failure
kept from leaving the others running; safe to call twice and after a failed start."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("devstack")
# how long a stopped PostgreSQL may take before it is killed
_STOP_GRACE_S = 3.0


class StackShutdown:
    """Stack's stop(); the parts it stops are Stack's attributes."""

    _lock_file: Any
    missed_fires: Any
    engine: Any
    _gateway: Any
    demo: Any
    lambdas: Any
    _lambda_server: Any
    alert_log: Any
    console: Any
    _moto: Any
    _pg: Any

    def stop(self) -> None:
        """Stop every part; safe to call twice and after a failed start."""
        for step in (
            self._stop_missed_fires,
            self._stop_engine,
            self._stop_gateway,
            self._stop_lambdas,
            self._stop_alert_log,
            self._stop_console,
            self._stop_moto,
            self._stop_clients,
            self._stop_postgres,
        ):
            try:
                step()
            except Exception:  # one part failing to stop must not leave the others running
                log.exception("stopping the stack: %s failed", step.__name__)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _stop_missed_fires(self) -> None:
        if self.missed_fires is not None:
            self.missed_fires.stop()
            self.missed_fires = None

    def _stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def _stop_gateway(self) -> None:
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        self.demo.release_slow()

    def _stop_lambdas(self) -> None:
        if self.lambdas is not None:
            self.lambdas.close(_STOP_GRACE_S)
            self.lambdas = None
        if self._lambda_server is not None:
            self._lambda_server.stop()
            self._lambda_server = None

    def _stop_alert_log(self) -> None:
        if self.alert_log is not None:
            self.alert_log.stop()
            self.alert_log = None

    def _stop_console(self) -> None:
        self._restore_product_log()
        if self.console is not None:
            self.console.close()
            self.console = None

    def _stop_moto(self) -> None:
        if self._moto is not None:
            self._moto.stop()
            server = getattr(self._moto, "_server", None)
            if server is not None:
                server.server_close()
            self._moto = None

    def _stop_clients(self) -> None:
        from scheduler import clients

        clients.reset()  # closes our database connection before Postgres goes
        self._restore_environment()
        clients.reset()

    def _stop_postgres(self) -> None:
        if self._pg is None:
            return
        pid = self._pg.get_pid()
        self._pg.cleanup()
        self._pg = None
        # pgserver keeps Postgres up while another handle's pid is listed, also a dead one
        # (a killed earlier run); we hold the data dir's lock, so no one else uses it.
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGINT)  # Postgres' fast shutdown
            _wait_gone(pid, 5.0)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child is gone for our purposes
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
