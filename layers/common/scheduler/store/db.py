"""The database connection: one per warm Lambda, opened lazily, checked before reuse.

Built for Supabase's transaction poolers (Supavisor, or the dedicated PgBouncer), where two
transactions of one client connection may run on two server connections, so nothing may rest
on session state:

- Timeouts are set per transaction. A startup `options=-c statement_timeout=...` is ignored by
  Supavisor and refused by PgBouncer ("unsupported startup parameter: options"), and a session
  `SET` would stay behind on whichever server connection ran it, for its next client.
  `transaction()` sends `BEGIN; SET LOCAL ...` as one simple query: one round trip, as a bare
  BEGIN is. A statement outside a transaction is pipelined behind a
  `set_config(..., is_local => true)`: both run in one implicit transaction that ends at the
  pipeline's Sync, so the statement is bounded too, still in one round trip.
- No server-side prepared statements (`prepare_threshold=None`).
- A statement cancelled by those timeouts is `DatabaseUnavailable` (retryable) and keeps its
  connection, which is healthy; a connection that broke is dropped and reopened on the next
  call instead of poisoning every later invocation.
- A failed connect (a pooler refusing clients in a top-of-hour burst) is retried with jittered
  exponential backoff while a whole new attempt still fits in the connect budget.

Time bounds, for callers that keep a budget of their own (the runner's recording reserve):
opening a connection takes at most max(connect_budget_s, connect_timeout_s); a statement runs
(lock waits included) at most statement_timeout_ms once connected. So one call, reconnect
included, takes at most their sum. The runner retries a failed call while its own deadline
allows, by time, not by count: the two retry loops add up (its deadline plus one call at most),
they do not multiply.

`database()` is the process's one Database, built from the settings on first use; every query
object of a handler is built over it (scheduler.store.sql).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from scheduler import clients
from scheduler.config import get_settings, secret_setting
from scheduler.errors import DatabaseNotMigrated, DatabaseUnavailable

Connection = psycopg.Connection[DictRow]
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)
# Both are OperationalErrors, but the server cancelled only the statement: the connection is fine.
_TIMED_OUT = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
# libpq (and psycopg) treat a shorter connect_timeout as 2 s.
_MIN_CONNECT_TIMEOUT_S = 2
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 1.0


class Database:
    def __init__(
        self,
        conninfo: str | Callable[[], str],
        *,
        connect_timeout_s: int = 2,
        connect_budget_s: float = 5,
        statement_timeout_ms: int = 3_000,
        lock_timeout_ms: int = 2_000,
        idle_in_transaction_timeout_ms: int = 60_000,
        idle_check_s: float = 60,
    ) -> None:
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._connect_budget_s = connect_budget_s
        self._idle_check_s = idle_check_s
        self._conn: Connection | None = None
        self._last_used = 0.0
        self._transaction_depth = 0
        # Literal text (int() keeps it to digits): no parameters, so one simple query.
        statement_ms, lock_ms = int(statement_timeout_ms), int(lock_timeout_ms)
        idle_ms = int(idle_in_transaction_timeout_ms)
        self._begin = (
            f"BEGIN; SET LOCAL statement_timeout = {statement_ms};"
            f" SET LOCAL lock_timeout = {lock_ms};"
            # a client that stalls (or freezes) inside a transaction does not hold its locks
            # for longer than this: the server ends the session
            f" SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"
        ).encode()
        self._bounds = (
            f"select set_config('statement_timeout', '{statement_ms}', true),"
            f" set_config('lock_timeout', '{lock_ms}', true)"
        ).encode()

    def _open(self) -> Connection:
        conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
        return psycopg.connect(
            conninfo,
            autocommit=True,  # transactions are begun explicitly, with their timeouts
            prepare_threshold=None,  # the transaction pooler cannot keep prepared statements
            row_factory=dict_row,
            connect_timeout=self._connect_timeout_s,
        )

    def _connect(self) -> Connection:
        """A new connection; failed attempts are retried while a whole attempt still fits in
        the connect budget (so this takes at most max(budget, one attempt's timeout))."""
        started = time.monotonic()
        deadline = started + self._connect_budget_s
        attempt_s = max(self._connect_timeout_s, _MIN_CONNECT_TIMEOUT_S)
        backoff, attempts = _FIRST_BACKOFF_S, 0
        while True:
            attempts += 1
            try:
                return self._open()
            except _UNAVAILABLE as exc:
                pause = random.uniform(backoff / 2, backoff)
                if time.monotonic() + pause + attempt_s > deadline:
                    elapsed = time.monotonic() - started
                    raise DatabaseUnavailable(
                        f"cannot connect to the database ({attempts} attempt(s)"
                        f" in {elapsed:.1f} s): {exc}"
                    ) from exc
                time.sleep(pause)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def connection(self) -> Connection:
        """The process's connection, (re)opened when missing, broken or dead after a long idle."""
        conn = self._conn
        if self._transaction_depth:
            # A fresh connection would run the rest of the transaction's statements outside it.
            if conn is None or conn.closed or conn.broken:
                raise DatabaseUnavailable("the database connection broke inside a transaction")
            return conn
        if conn is not None and (conn.closed or conn.broken):
            conn = self._conn = None
        if conn is not None and time.monotonic() - self._last_used > self._idle_check_s:
            try:
                conn.execute("select 1")
            except _UNAVAILABLE:
                self.close()
                conn = None
        if conn is None:
            conn = self._conn = self._connect()
        self._last_used = time.monotonic()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction, bounded by the timeouts; a failure rolls it back. Nested use
        becomes a savepoint."""
        with self.translated_errors():
            conn = self.connection()
            if self._transaction_depth:
                self._transaction_depth += 1
                try:
                    with conn.transaction():  # psycopg sees the open transaction: a savepoint
                        yield conn
                finally:
                    self._transaction_depth -= 1
                return
            self._transaction_depth = 1
            try:
                # Not psycopg's transaction(): its BEGIN would be a round trip of its own.
                conn.cursor().execute(self._begin)
                yield conn
            except BaseException:
                self._transaction_depth = 0
                self._rollback(conn)
                raise
            self._transaction_depth = 0
            conn.commit()

    def require_transaction(self, what: str) -> None:
        """RuntimeError unless a transaction() is open: `what` (a lock) holds only inside one."""
        if self.connection().info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            raise RuntimeError(f"{what} needs a transaction: use transaction()")

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[DictRow]:
        """Run one statement on the connection (inside the open transaction if there is one,
        else in an implicit transaction of its own, bounded by the timeouts)."""
        with self.translated_errors():
            conn = self.connection()
            if self._transaction_depth:
                return conn.execute(query, params)  # bounded by the transaction's SET LOCAL
            with conn.pipeline():  # both sent at once; the block's end is their one Sync
                conn.cursor().execute(self._bounds)
                return conn.execute(query, params)

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        try:
            yield
        except _TIMED_OUT as exc:
            what = "query" if isinstance(exc, psycopg.errors.QueryCanceled) else "lock wait"
            raise DatabaseUnavailable(f"database {what} timed out: {exc}") from exc
        except _UNAVAILABLE as exc:
            self.close()
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
        except psycopg.errors.UndefinedTable as exc:
            # a database the migrations have not reached (make migrate): the operator's to fix
            raise DatabaseNotMigrated(f"database not migrated: {exc}") from exc
        except psycopg.Error as exc:
            # e.g. IdleInTransactionSessionTimeout, an InternalError: the server ended the session
            if self._conn is None or not self._conn.broken:
                raise  # a statement's own error (a constraint, ...): the caller's to handle
            self.close()
            raise DatabaseUnavailable(f"database session ended: {exc}") from exc

    def _rollback(self, conn: Connection) -> None:
        """Roll back after a failure; a connection that cannot even do that is dropped."""
        if conn.closed or conn.broken:
            return
        try:
            conn.rollback()
        except _UNAVAILABLE:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _database_url() -> str:
    settings = get_settings()
    url = secret_setting(settings.database_url, settings.database_secret_name)
    if url is None:
        raise RuntimeError("set DATABASE_URL or DATABASE_SECRET_NAME")
    return url


@cache
def database() -> Database:
    """The process's Database (one connection per warm Lambda), made on first use."""
    settings = get_settings()
    return Database(
        _database_url,
        connect_timeout_s=settings.db_connect_timeout_s,
        connect_budget_s=settings.db_connect_budget_s,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        lock_timeout_ms=settings.db_lock_timeout_ms,
        idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
        idle_check_s=settings.db_idle_check_s,
    )


def _forget_database() -> None:
    """Close and forget the process's Database (clients.reset: tests change the environment)."""
    if database.cache_info().currsize:
        database().close()
    database.cache_clear()


clients.on_reset(_forget_database)
