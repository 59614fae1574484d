"""A key issued by a key while an operator revokes that key (issue #23, item 5): whatever the
interleaving, no key issued by a revoked key works afterwards.

The interleavings are made deterministic with a pause inside the database: a trigger that
waits on an advisory lock the test holds, fired in the middle of one side's statement (after
it has taken its row locks), while the other side runs; the test releases the pause once the
other side is blocked on those locks, or done."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

import psycopg
import pytest
from scheduler.auth import api_keys, key_service
from scheduler.auth.principal import Principal
from scheduler.errors import Unauthorized
from scheduler.models.api_keys import ApiKeyCreate, ApiKeyCreated
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.db import Database

PAUSE_LOCK = 2_312_050  # the advisory lock a paused statement waits for
OPERATOR = Principal(owner=None, actor="service_role")
WAIT_S = 30  # generous: how long a side may take to reach its pause; never reached when right


class Pause:
    """Makes statements on api_keys wait, mid-statement, until release()."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.holder = psycopg.connect(url, autocommit=True)
        self.holder.execute("select pg_advisory_lock(%s)", (PAUSE_LOCK,))

    def on(self, event: str, when: str) -> None:
        """A row trigger `before <event>` on the rows matching `when` waits for release()."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                f"""create or replace function test_pause_api_keys() returns trigger
                    language plpgsql as $$ begin perform pg_advisory_xact_lock_shared({PAUSE_LOCK});
                    return new; end $$"""
            )
            conn.execute(
                f"""create trigger test_pause before {event} on api_keys for each row
                    when ({when}) execute function test_pause_api_keys()"""
            )

    def release(self) -> None:
        self.holder.execute("select pg_advisory_unlock(%s)", (PAUSE_LOCK,))

    def close(self) -> None:
        self.holder.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("drop trigger if exists test_pause on api_keys")
            conn.execute("drop function if exists test_pause_api_keys()")

    def wait_until(self, condition: Callable[[psycopg.Connection[Any]], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not condition(conn):
                assert time.monotonic() < deadline, "the interleaving was never reached"
                time.sleep(0.02)


def _waiting_on(conn: psycopg.Connection[Any], locktypes: tuple[str, ...]) -> bool:
    """Whether some backend of this database waits for a lock of these types."""
    row = conn.execute(
        """select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
           where not l.granted and l.locktype = any(%s) and a.datname = current_database()""",
        (list(locktypes),),
    ).fetchone()
    return row is not None and row[0] > 0


ROW_LOCKS = ("transactionid", "tuple")


@pytest.fixture
def pause(clean_db: str, direct_database_url: str) -> Iterator[Pause]:
    # Straight to the server, not through the transaction pooler: the pause is a session's
    # advisory lock, taken and released on one server connection.
    p = Pause(direct_database_url)
    yield p
    p.close()


@pytest.fixture
def key_queries(clean_db: str) -> Iterator[tuple[ApiKeyQueries, ApiKeyQueries]]:
    """The API keys' queries on two connections: the two sides of the race."""
    databases = (Database(clean_db), Database(clean_db))
    yield ApiKeyQueries(databases[0]), ApiKeyQueries(databases[1])
    for database in databases:
        database.close()


def _authenticated(keys: ApiKeyQueries, key: str) -> Principal:
    presented = api_keys.presented(key)
    assert presented is not None
    return key_service.authenticate(keys, presented)


def _live_keys(url: str) -> set[UUID]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select id from api_keys where revoked_at is null").fetchall()
    return {row[0] for row in rows}


def _issue(keys: ApiKeyQueries, name: str) -> ApiKeyCreated:
    return key_service.issue_key(keys, ApiKeyCreate(name=name), created_by="service_role")


def test_a_key_authenticated_before_its_revocation_issues_nothing_after_it(
    key_queries: tuple[ApiKeyQueries, ApiKeyQueries], clean_db: str
) -> None:
    # Given a leaked key whose request to issue a key was authenticated
    keys, _ = key_queries
    leaked = _issue(keys, "leaked")
    principal = _authenticated(keys, leaked.key)

    # When the operator revokes it before the request writes the new key
    key_service.revoke_key(keys, OPERATOR, leaked.id)

    # Then the request is refused and no key was written
    with pytest.raises(Unauthorized):
        key_service.create_key(keys, principal, ApiKeyCreate(name="child"))
    assert _live_keys(clean_db) == set()


def test_a_key_being_issued_when_the_revocation_starts_is_revoked_with_its_issuer(
    key_queries: tuple[ApiKeyQueries, ApiKeyQueries], pause: Pause, clean_db: str
) -> None:
    # Given a leaked key's request to issue a key, paused as it writes the new row
    issuing, revoking = key_queries
    leaked = _issue(issuing, "leaked")
    principal = _authenticated(issuing, leaked.key)
    pause.on("insert", "new.name = 'child'")
    with ThreadPoolExecutor(2) as pool:
        child: Future[ApiKeyCreated] = pool.submit(
            key_service.create_key, issuing, principal, ApiKeyCreate(name="child")
        )
        pause.wait_until(lambda conn: _waiting_on(conn, ("advisory",)))

        # When the operator revokes the leaked key meanwhile (and is held up by the request, or
        # done), and then the request goes on
        revoked = pool.submit(key_service.revoke_key, revoking, OPERATOR, leaked.id)
        pause.wait_until(lambda conn: revoked.done() or _waiting_on(conn, ROW_LOCKS))
        pause.release()
        revoked.result(timeout=WAIT_S)
        issued = child.result(timeout=WAIT_S)

    # Then the key it issued was written, and revoked with its issuer: it does not work
    assert issued.name == "child"
    assert _live_keys(clean_db) == set()
    with pytest.raises(Unauthorized):
        _authenticated(issuing, issued.key)


def test_a_key_asked_for_while_its_issuer_is_being_revoked_is_not_written(
    key_queries: tuple[ApiKeyQueries, ApiKeyQueries], pause: Pause, clean_db: str
) -> None:
    # Given a leaked key (with a key it issued before), and the operator's revocation of it,
    # paused as it revokes the leaked key's row
    issuing, revoking = key_queries
    leaked = _issue(issuing, "leaked")
    principal = _authenticated(issuing, leaked.key)
    earlier = key_service.create_key(issuing, principal, ApiKeyCreate(name="earlier"))
    pause.on("update", "old.name = 'leaked'")
    with ThreadPoolExecutor(2) as pool:
        revoked = pool.submit(key_service.revoke_key, revoking, OPERATOR, leaked.id)
        pause.wait_until(lambda conn: _waiting_on(conn, ("advisory",)))

        # When the leaked key's request to issue a key, authenticated just before, runs
        # meanwhile (and is held up by the revocation, or done), and then the revocation goes on
        child = pool.submit(key_service.create_key, issuing, principal, ApiKeyCreate(name="late"))
        pause.wait_until(lambda conn: child.done() or _waiting_on(conn, ROW_LOCKS))
        pause.release()
        revoked.result(timeout=WAIT_S)

        # Then the request is refused, and no key of the leaked one's works
        with pytest.raises(Unauthorized):
            child.result(timeout=WAIT_S)
    assert _live_keys(clean_db) == set()
    with pytest.raises(Unauthorized):
        _authenticated(issuing, earlier.key)


def test_revoking_a_key_revokes_its_issued_keys_generation_by_generation(
    key_queries: tuple[ApiKeyQueries, ApiKeyQueries], clean_db: str
) -> None:
    # Given a leaked key, a key it issued, and one that one issued; and a bystander
    keys, _ = key_queries
    leaked = _issue(keys, "leaked")
    bystander = _issue(keys, "bystander")
    child = key_service.create_key(
        keys, _authenticated(keys, leaked.key), ApiKeyCreate(name="child")
    )
    grandchild = key_service.create_key(
        keys, _authenticated(keys, child.key), ApiKeyCreate(name="grandchild")
    )

    # When the leaked key is revoked twice
    key_service.revoke_key(keys, OPERATOR, leaked.id)
    with psycopg.connect(clean_db) as conn:
        first = conn.execute("select id, revoked_at from api_keys order by id").fetchall()
    key_service.revoke_key(keys, OPERATOR, leaked.id)

    # Then all three are revoked, once (the first time stays), and the bystander works
    assert _live_keys(clean_db) == {bystander.id}
    with psycopg.connect(clean_db) as conn:
        again = conn.execute("select id, revoked_at from api_keys order by id").fetchall()
    assert again == first
    assert {leaked.id, child.id, grandchild.id} == {
        key_id for key_id, revoked_at in first if revoked_at is not None
    }
