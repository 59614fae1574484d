"""The active-backfills cap under concurrency (scheduler.policies.backfill): two backfill requests
of one owner at the cap cannot both pass, as each counts under the owner's backfill lock and the
second waits for the first to commit its queued runs. Real Postgres behind PgBouncer, two
sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from scheduler.store.db import Database
from scheduler.store.schedules import Store

SLOT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


@pytest.fixture(name="other_store")
def other_store_fixture(clean_db: str) -> Iterator[Store]:
    database = Database(clean_db)
    yield Store(database)
    database.close()


def _workflow(store: Store, owner: UUID) -> tuple[UUID, UUID]:
    workflow = store.create_workflow(owner, "report", {"steps": []})["id"]
    schedule = store.create_schedule(
        None, workflow_id=workflow, cron="0 * * * *", timezone="UTC", enabled=True
    )["id"]
    return schedule, workflow


def _waiting_for_an_advisory_lock(store: Store) -> bool:
    row = store.db.execute(
        "select count(*) as n from pg_locks where locktype = 'advisory' and not granted"
    ).fetchone()
    assert row is not None
    return int(row["n"]) > 0


def test_a_second_backfill_of_the_owner_counts_the_first_once_it_has_committed(
    store: Store, other_store: Store, clean_db: str
) -> None:
    owner = uuid4()
    (first_schedule, first), (_, second) = _workflow(store, owner), _workflow(store, owner)
    counted: list[int] = []

    def second_request() -> None:
        with other_store.transaction():
            counted.append(other_store.lock_and_count_owner_backfills(owner, second))

    # Given the first request counted (none backfilling) and queued, not yet committed
    with store.transaction():
        assert store.lock_and_count_owner_backfills(owner, first) == 0
        store.queue_runs(
            first_schedule, first, [SLOT], trigger="backfill", now=SLOT, wait_until=SLOT
        )
        # When the second one counts meanwhile
        thread = threading.Thread(target=second_request)
        thread.start()
        watcher = Store(Database(clean_db))
        try:
            deadline = time.monotonic() + 10
            while not _waiting_for_an_advisory_lock(watcher):
                assert time.monotonic() < deadline, "the second request never waited"
                time.sleep(0.01)
        finally:
            watcher.db.close()
        assert counted == []  # it waits for the owner's lock
    thread.join(timeout=10)

    # Then it counted the first workflow's backfill, committed before its count
    assert counted == [1]
