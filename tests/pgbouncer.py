"""A PgBouncer in transaction mode in front of a Postgres, as Supabase's poolers stand in front
of the project's database: the tests' database traffic goes through it, so what breaks under
transaction pooling (session state, prepared statements, session advisory locks) breaks here.

Debian's `pgbouncer` package (`make test` installs it). Each instance has its own temporary
directory (ini, auth file, log), listens on a free loopback port and on no unix socket, and runs
in the foreground as a child in its own process group (a Ctrl-C reaches pytest, whose finaliser
stops it). It is stopped by `stop()`, at interpreter exit, and by the kernel when the process
that started it dies (PR_SET_PDEATHSIG), so even a killed pytest leaves no PgBouncer behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Debian installs it outside a normal user's PATH.
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# PgBouncer refuses to run as root; as root, it runs as the owner of the server's unix socket
# directory (pgserver's own user), or as this user for a server reached over TCP.
UNPRIVILEGED_USER = "nobody"
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT_S = 15


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec (and after the user switch, which would clear it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class PgBouncer:
    """One PgBouncer: `url()` is a client URL through it, `admin_url` its admin console."""

    def __init__(self, server_url: str, *, pool_size: int = 20, port: int | None = None) -> None:
        if not Path(PGBOUNCER).exists():
            raise RuntimeError(f"{PGBOUNCER} not found: apt-get install pgbouncer (make test does)")
        self.server = conninfo_to_dict(server_url)
        self.user = str(self.server.get("user") or pwd.getpwuid(os.getuid()).pw_name)
        self.password = secrets.token_hex(12)  # the clients' password (PgBouncer checks it)
        self.pool_size = pool_size
        self.port = port or _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scheduler-tests-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def url(self, dbname: str | None = None) -> str:
        return make_conninfo(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.server.get("dbname") or "postgres",
        )

    @property
    def admin_url(self) -> str:
        """The admin console (SHOW POOLS, SHOW CONFIG, ...): simple queries only."""
        return self.url("pgbouncer")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> PgBouncer:
        """Start it and wait until it accepts connections."""
        ini = self._write_config()
        account = self._unprivileged_account() if os.geteuid() == 0 else None
        if account is not None:
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._process = subprocess.Popen(
            [PGBOUNCER, str(ini)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=_die_with_parent,  # safe: no other thread forks or holds locks here
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen within {_START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM: PgBouncer's immediate shutdown (its clients' connections are closed)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.stop)

    def _unprivileged_account(self) -> pwd.struct_passwd:
        host = str(self.server.get("host") or "")
        if host.startswith("/") and Path(host).is_dir():
            return pwd.getpwuid(Path(host).stat().st_uid)
        return pwd.getpwnam(UNPRIVILEGED_USER)

    def log(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def _write_config(self) -> Path:
        server = self.server
        target = {
            # a unix socket directory (pgserver) or a host name
            "host": server.get("host") or "/var/run/postgresql",
            "port": server.get("port") or "5432",
            "user": self.user,
        }
        if server.get("password"):
            target["password"] = server["password"]
        # every database name goes to the same name on the server (tests create databases)
        databases = "* = " + " ".join(f"{key}={value}" for key, value in target.items())
        tls = f"server_tls_sslmode = {server['sslmode']}\n" if server.get("sslmode") else ""
        (self.dir / "userlist.txt").write_text(f'"{self.user}" "{self.password}"\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
{databases}

[pgbouncer]
pool_mode = transaction
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.dir}/userlist.txt
admin_users = {self.user}
default_pool_size = {self.pool_size}
max_client_conn = 500
logfile = {self.dir}/pgbouncer.log
log_connections = 0
log_disconnections = 0
# a test that exhausts the pool fails within this instead of hanging
query_wait_timeout = 30
{tls}"""
        )
        return ini
