"""The Idempotency-Key records' SQL (see scheduler.policies.idempotency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from scheduler.errors import Conflict, DatabaseUnavailable
from scheduler.store.sql import Queries, Row


class IdempotencyQueries(Queries):
    def claim(self, scope: str, key: str, operation: str, fingerprint: str) -> Row | None:
        """Claim the key for this transaction: None if it was free (the caller does the work
        and `record_answer`s it before the commit), else the committed record.

        A record another transaction claimed and has not committed yet is waited for (its
        insert holds the key): it commits (its record is returned) or rolls back (the key is
        claimed here). A wait past the lock timeout is Conflict: that request is still going.
        """
        self.db.require_transaction("an idempotency key's claim")
        try:
            claimed = self.db.execute(
                """insert into idempotency_keys (scope, key, operation, request_fingerprint)
                   values (%s, %s, %s, %s) on conflict do nothing returning true as claimed""",
                (scope, key, operation, fingerprint),
            ).fetchone()
        except DatabaseUnavailable as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise Conflict(
                    "Idempotency-Key: a request with this key is still in progress; retry"
                ) from exc
            raise
        if claimed is not None:
            return None
        return self.db.execute(
            """select operation, request_fingerprint, response_status, response_body
               from idempotency_keys where scope = %s and key = %s and operation = %s""",
            (scope, key, operation),
        ).fetchone()

    def other_operation(self, scope: str, key: str, operation: str) -> str | None:
        """The operation another record of the caller's key answered, if there is one."""
        row = self.db.execute(
            """select operation from idempotency_keys
               where scope = %s and key = %s and operation <> %s limit 1""",
            (scope, key, operation),
        ).fetchone()
        return None if row is None else str(row["operation"])

    def record_answer(self, scope: str, key: str, operation: str, status: int, body: Any) -> None:
        """Store the answer of the claimed key, in the transaction of its effect."""
        self.db.execute(
            """update idempotency_keys set response_status = %s, response_body = %s
               where scope = %s and key = %s and operation = %s""",
            (status, Jsonb(body), scope, key, operation),
        )

    def delete_expired(self, *, cutoff: datetime, batch_size: int) -> int:
        """Delete at most `batch_size` records created before `cutoff`, oldest first; one short
        statement that skips a record another transaction holds (a retry reading it)."""
        row = self.db.execute(
            """with expired as (
                 select scope, key, operation from idempotency_keys
                 where created_at < %(cutoff)s order by created_at limit %(batch_size)s
                 for update skip locked
               ), deleted as (
                 delete from idempotency_keys i using expired e
                 where (i.scope, i.key, i.operation) = (e.scope, e.key, e.operation)
                 returning 1
               )
               select count(*) as deleted from deleted""",
            {"cutoff": cutoff, "batch_size": batch_size},
        ).fetchone()
        assert row is not None
        return int(row["deleted"])
