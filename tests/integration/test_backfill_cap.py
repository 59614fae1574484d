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

from tests.queries import AllQueries

SLOT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


@pytest.fixture(name="other_store")
def other_store_fixture(clean_db: str) -> Iterator[AllQueries]:
    database = Database(clean_db)
    yield AllQueries.over(database)
    database.close()


def _workflow(queries: AllQueries, owner: UUID) -> tuple[UUID, UUID]:
    workflow = queries.workflows.create_workflow(owner, "report", {"steps": []})["id"]
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 * * * *", timezone="UTC", enabled=True
    )["id"]
    return schedule, workflow


def _waiting_for_an_advisory_lock(queries: AllQueries) -> bool:
    row = queries.db.execute(
        "select count(*) as n from pg_locks where locktype = 'advisory' and not granted"
    ).fetchone()
    assert row is not None
    return int(row["n"]) > 0


def test_a_second_backfill_of_the_owner_counts_the_first_once_it_has_committed(
    queries: AllQueries, other_store: AllQueries, clean_db: str
) -> None:
    owner = uuid4()
    (first_schedule, first), (_, second) = _workflow(queries, owner), _workflow(queries, owner)
    counted: list[int] = []

    def second_request() -> None:
        with other_store.db.transaction():
            counted.append(other_store.queue.lock_and_count_owner_backfills(owner, second))

    # Given the first request counted (none backfilling) and queued, not yet committed
    with queries.db.transaction():
        assert queries.queue.lock_and_count_owner_backfills(owner, first) == 0
        queries.queue.queue_runs(
            first_schedule, first, [SLOT], trigger="backfill", now=SLOT, wait_until=SLOT
        )
        # When the second one counts meanwhile
        thread = threading.Thread(target=second_request)
        thread.start()
        watcher = AllQueries.over(Database(clean_db))
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
