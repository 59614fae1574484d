"""Apply Supabase-style SQL migrations (`YYYYMMDDHHMMSS_name.sql`) in order, once each.

Applied versions are recorded in `supabase_migrations.schema_migrations` exactly where the
Supabase CLI records them, so `supabase db push` and this command never re-apply each other's
work. Each migration runs in its own transaction, which takes a transaction-scoped advisory lock
and checks again that the version is not applied yet: concurrent runs apply each migration once.
Nothing rests on the session (a session advisory lock could be taken on one server connection
and released on another), so migrating through a transaction pooler is as safe as directly.

A file whose first line is `-- migrate: no-transaction` holds one statement that cannot run in a
transaction (`create index concurrently`: it builds an index without locking out writes). It runs
on its own, then is recorded; it must be safe to run again (`if not exists`), as a run that dies
in between runs it again. An index such a build leaves invalid (the build died, or another run's
build is still going) fails the run, unrecorded, instead of passing for built.

Usage: python -m scheduler.migrate [MIGRATIONS_DIR]   (connects to $DATABASE_URL)
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

_FILENAME = re.compile(r"^(\d{14})_(\w+)\.sql$")
_LOCK_KEY = 7_202_611_270  # any constant shared by every migrate run
NO_TRANSACTION = "-- migrate: no-transaction"

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
            applied = (_apply_in_transaction if migration.in_transaction else _apply_alone)(
                conn, migration
            )
            if applied:
                applied_now.append(migration.version)
    return applied_now


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


def _apply_alone(conn: psycopg.Connection[Any], migration: Migration) -> bool:
    """Run a no-transaction migration's statement by itself, then record it. No lock spans the
    statement (only a transaction's could, and the statement cannot run in one), so it may run
    twice: it is written to be harmless then. False if another run had applied it."""
    with conn.transaction():
        _lock(conn)
        if migration.version in _applied(conn):
            return False
    sql = migration.sql()
    conn.execute(sql.encode())  # autocommit, one statement: no transaction block around it
    with conn.transaction():
        _lock(conn)
        if migration.version in _applied(conn):
            return False
        invalid = _invalid_indexes_named_in(conn, sql)
        if invalid:
            raise MigrationError(
                f"{migration.path.name}: index {', '.join(invalid)} is not valid: its build"
                " failed or is still running in another migrate run; if none is running, drop"
                " it (drop index concurrently ...) and migrate again"
            )
        _record(conn, migration, sql)
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
    """Wait for other migrate runs; held until this transaction ends, on its server connection."""
    conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))


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
