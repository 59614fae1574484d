"""Apply Supabase-style SQL migrations (`YYYYMMDDHHMMSS_name.sql`) in order, once each.

Applied versions are recorded in `supabase_migrations.schema_migrations` exactly where the
Supabase CLI records them, so `supabase db push` and this command never re-apply each other's
work. Each migration runs in its own transaction, which takes a transaction-scoped advisory lock
and checks again that the version is not applied yet: concurrent runs apply each migration once.
Nothing rests on the session (a session advisory lock could be taken on one server connection
and released on another), so migrating through a transaction pooler is as safe as directly.

A file whose first line is `-- migrate: no-transaction` holds one statement that cannot run in a
transaction (`create index concurrently`: it builds an index without locking out writes). It runs
on its own while a second connection's transaction holds the lock, then is recorded there; it
must be safe to run again (`if not exists`), as a run that dies in between runs it again. An
index such a build leaves invalid (the build died) fails the run, unrecorded, instead of passing
for built.

The lock is taken by polling (`pg_try_advisory_xact_lock`), never by waiting inside a statement:
a concurrent index build waits for every transaction holding an older snapshot, and a run
blocked in a statement holds one, so a blocking wait for the lock its build's holder has would
deadlock them (as two builds on one table do, which the lock keeps apart).

A migration that locks a table the service writes sets a short `lock_timeout` (a lock request
waiting behind a long transaction would queue every write to that table behind it). One that
gives up on its lock, or is chosen to end a deadlock, is rolled back and tried again, up to
LOCK_ATTEMPTS times with a growing pause, each retry said on stderr: the migration's lock comes
between the service's transactions, which are short.

Usage: python -m scheduler.store.migrate [MIGRATIONS_DIR]   (connects to $DATABASE_URL)
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

_FILENAME = re.compile(r"^(\d{14})_(\w+)\.sql$")
_LOCK_KEY = 7_202_611_270  # any constant shared by every migrate run
# The key written into the statement, not bound: a bound parameter (the extended protocol) leaves
# the transaction holding a snapshot while it idles between polls, which a concurrent index build
# then waits for (see the module).
_TRY_LOCK = f"select pg_try_advisory_xact_lock({_LOCK_KEY})"
NO_TRANSACTION = "-- migrate: no-transaction"
# Tries of a migration that cannot get its locks (lock_timeout, deadlock), and the pause before
# the first retry, doubled at each (with jitter, so concurrent runs do not retry in step): about
# two minutes in all before the run fails.
LOCK_ATTEMPTS = 8
FIRST_RETRY_S = 1.0

_BOOKKEEPING = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text primary key);
alter table supabase_migrations.schema_migrations
  add column if not exists statements text[],
  add column if not exists name text;
"""


class MigrationError(RuntimeError):
    """A migration that ran but cannot be recorded as applied."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def in_transaction(self) -> bool:
        first_line = self.sql().partition("\n")[0]
        return first_line.strip().lower() != NO_TRANSACTION


def discover(directory: Path) -> list[Migration]:
    """The migration files of a directory, oldest first; other files are an error, not ignored."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: migration names must be YYYYMMDDHHMMSS_name.sql")
        migrations.append(Migration(match[1], match[2], path))
    return migrations


def apply_migrations(conninfo: str, directory: Path) -> list[str]:
    """Apply every pending migration; returns the versions applied (empty when up to date)."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
        with conn.transaction():
            _lock(conn)
            conn.execute(_BOOKKEEPING)
            done = _applied(conn)
        for migration in migrations:
            if migration.version in done:
                continue
            if migration.in_transaction:
                applied = _apply_retrying_locks(conn, migration)
            else:
                applied = _apply_alone(conninfo, conn, migration)
            if applied:
                applied_now.append(migration.version)
    return applied_now


def _apply_retrying_locks(conn: psycopg.Connection[Any], migration: Migration) -> bool:
    """`_apply_in_transaction`, tried again (see the module) while it cannot get its locks."""
    for attempt in range(1, LOCK_ATTEMPTS):
        try:
            return _apply_in_transaction(conn, migration)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
            pause = FIRST_RETRY_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            print(
                f"{migration.path.name}: could not take its locks ({type(exc).__name__},"
                f" attempt {attempt} of {LOCK_ATTEMPTS}): retrying in {pause:.1f} s",
                file=sys.stderr,
            )
            time.sleep(pause)
    return _apply_in_transaction(conn, migration)  # the last try: its failure is the run's


def _apply_in_transaction(conn: psycopg.Connection[Any], migration: Migration) -> bool:
    """Run the migration and record it, all or nothing; False if another run applied it."""
    sql = migration.sql()
    with conn.transaction():
        _lock(conn)
        if migration.version in _applied(conn):  # another run applied it meanwhile
            return False
        conn.execute(sql.encode())  # bytes: run the file as one multi-statement script
        _record(conn, migration, sql)
    return True


def _apply_alone(conninfo: str, conn: psycopg.Connection[Any], migration: Migration) -> bool:
    """Run a no-transaction migration's statement by itself, then record it, while a second
    connection's transaction holds the lock, so no other run builds beside it. False if another
    run had applied it."""
    sql = migration.sql()
    with (
        psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as holder,
        holder.transaction(),
    ):
        _lock(holder)
        if migration.version in _applied(holder):
            return False
        # autocommit, one statement: no transaction block around it. The holder, idle in its
        # transaction, holds no snapshot (read committed), so the build does not wait for it.
        conn.execute(sql.encode())
        invalid = _invalid_indexes_named_in(holder, sql)
        if invalid:
            raise MigrationError(
                f"{migration.path.name}: index {', '.join(invalid)} is not valid: its build"
                " failed; drop it (drop index concurrently ...) and migrate again"
            )
        _record(holder, migration, sql)
    return True


def _invalid_indexes_named_in(conn: psycopg.Connection[Any], sql: str) -> list[str]:
    rows = conn.execute(
        """select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
           where not i.indisvalid and c.relnamespace = 'public'::regnamespace"""
    ).fetchall()
    return sorted(row[0] for row in rows if re.search(rf"\b{re.escape(row[0])}\b", sql))


def _record(conn: psycopg.Connection[Any], migration: Migration, sql: str) -> None:
    conn.execute(
        "insert into supabase_migrations.schema_migrations (version, statements, name)"
        " values (%s, %s, %s)",
        (migration.version, [sql], migration.name),
    )


def _lock(conn: psycopg.Connection[Any]) -> None:
    """Wait for other migrate runs; held until this transaction ends, on its server connection.
    Called first in its transaction, which holds nothing while it polls (see the module)."""
    while True:
        row = conn.execute(_TRY_LOCK).fetchone()
        if row is not None and row[0]:
            return
        time.sleep(random.uniform(0.02, 0.1))


def _applied(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {row[0] for row in rows}


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "migrations")
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    applied = apply_migrations(url, directory)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'database is up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
