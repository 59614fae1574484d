"""The database connection: one per warm Lambda, opened lazily, checked before reuse.

Built for Supabase's Supavisor transaction pooler: no server-side prepared statements
(`prepare_threshold=None`), short connect and statement timeouts, and a connection that broke
is dropped and reopened on the next call instead of poisoning every later invocation.
Driver errors that mean "the database is not there" become `DatabaseUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from scheduler.errors import DatabaseUnavailable

Connection = psycopg.Connection[DictRow]
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)


class Database:
    def __init__(
        self,
        conninfo: str | Callable[[], str],
        *,
        connect_timeout_s: int = 5,
        statement_timeout_ms: int = 15_000,
        idle_check_s: float = 60,
    ) -> None:
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = statement_timeout_ms
        self._idle_check_s = idle_check_s
        self._conn: Connection | None = None
        self._last_used = 0.0
        self._transaction_depth = 0

    def _open(self) -> Connection:
        conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
        return psycopg.connect(
            conninfo,
            autocommit=True,  # a statement outside `transaction()` commits on its own
            prepare_threshold=None,  # the transaction pooler cannot keep prepared statements
            row_factory=dict_row,
            connect_timeout=self._connect_timeout_s,
            options=f"-c statement_timeout={self._statement_timeout_ms}",
        )

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
            try:
                conn = self._conn = self._open()
            except _UNAVAILABLE as exc:
                raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc
        self._last_used = time.monotonic()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; a failure rolls it back. Nested use becomes a savepoint."""
        with self.translated_errors():
            conn = self.connection()
            self._transaction_depth += 1
            try:
                with conn.transaction():
                    yield conn
            finally:
                self._transaction_depth -= 1

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[DictRow]:
        """Run one statement on the connection (inside the open transaction if there is one)."""
        with self.translated_errors():
            return self.connection().execute(query, params)

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.QueryCanceled as exc:  # statement_timeout; the connection is fine
            raise DatabaseUnavailable(f"database query timed out: {exc}") from exc
        except _UNAVAILABLE as exc:
            self.close()
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
