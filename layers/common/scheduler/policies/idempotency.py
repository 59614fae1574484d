"""Idempotency-Key: a retried write answers as its first success did, without doing it again.

`POST /api/schedules`, run now and backfill take an `Idempotency-Key` header (1 to 255
printable ASCII characters). The first request with a key claims it (inserts its record) in the
transaction of its effect, and stores its answer (status and body) there before the commit: so
the record and the effect commit together, and a failure before the commit leaves neither. A
retry with the same key and the same request (path and canonical body) gets the stored answer
back and changes nothing; the same key with another request, or for another operation, is a
422. A retry that arrives while the first request's transaction is still open waits for it
(the claim's insert waits on the first one's) and then answers as above; a wait past the
database's lock timeout is a 409 asking to retry.

Keys are scoped per caller (the principal's actor: a user, an API key, the service role), and
kept `KEEP` after their first use (the retention pass deletes them in bounded batches). Only a
success is stored: a request refused (404, 409, 422, 429) or failed (503) leaves no record and
may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from scheduler.errors import InvalidInput
from scheduler.store.idempotency import IdempotencyQueries

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
# Records deleted per statement of the retention pass (each a short transaction).
BATCH_SIZE = 2_000
_MAX_KEY_LENGTH = 255
Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True)
class IdempotentRequest:
    """One request with an Idempotency-Key: whose, which operation, and what it asked."""

    scope: str
    key: str
    operation: str
    fingerprint: str

    @classmethod
    def of(
        cls, scope: str, key: str | None, operation: str, path: str, body: Any
    ) -> IdempotentRequest | None:
        """The request's record key, None without a key; InvalidInput for a malformed key.

        `body` is the validated request (a model, or None): its canonical JSON (every field,
        sorted keys) is what is compared, so spacing, key order and defaults spelled out or
        left out do not make two requests differ.
        """
        if key is None:
            return None
        if not 1 <= len(key) <= _MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
            raise InvalidInput(
                f"{HEADER}: must be 1 to {_MAX_KEY_LENGTH} printable ASCII characters"
            )
        if isinstance(body, BaseModel):
            body = body.model_dump(mode="json", by_alias=True)
        canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"))
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        return cls(scope, key, operation, fingerprint)


class Idempotency:
    """The claim and record of one request's key, inside the transaction of its effect."""

    def __init__(self, queries: IdempotencyQueries, request: IdempotentRequest | None) -> None:
        self.queries = queries
        self.request = request

    def stored_answer(self, answer_type: type[Answer]) -> Answer | None:
        """Claim the key (the transaction must be open): None to go on and do the work, or the
        answer stored by the key's first success; InvalidInput for another request's key."""
        request = self.request
        if request is None:
            return None
        other = self.queries.other_operation(request.scope, request.key, request.operation)
        if other is not None:
            raise InvalidInput(
                f"{HEADER}: this key was used for another operation ({other}); use a new key"
            )
        record = self.queries.claim(
            request.scope, request.key, request.operation, request.fingerprint
        )
        if record is None:
            return None
        if record["request_fingerprint"] != request.fingerprint:
            raise InvalidInput(
                f"{HEADER}: this key was used with a different request body or path;"
                " use a new key for a new request"
            )
        return answer_type.model_validate(record["response_body"])

    def record(self, status: int, answer: BaseModel) -> None:
        """Store the answer with the effect (before the transaction commits)."""
        request = self.request
        if request is None:
            return
        self.queries.record_answer(
            request.scope,
            request.key,
            request.operation,
            status,
            answer.model_dump(mode="json", by_alias=True),
        )


def delete_expired_keys(
    queries: IdempotencyQueries, *, now: datetime, more: Callable[[], bool]
) -> int:
    """Delete the records older than KEEP, batch by batch while `more()`: how many went."""
    deleted = 0
    while more():
        batch = queries.delete_expired(cutoff=now - KEEP, batch_size=BATCH_SIZE)
        deleted += batch
        if batch < BATCH_SIZE:
            break
    return deleted
