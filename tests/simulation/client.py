"""A client of the Schedules API that sends an Idempotency-Key and retries (issue #25).

Create, run now and backfill may carry a key. A request whose answer is lost (its effect
committed, the client never saw the answer) is sent again a few seconds later with the same
key, as a client's retry after a timeout does; an operation of the sequence may retry an old
request much later. A retry while the key's record lives must answer exactly as the first did
and change nothing; the retention pass deletes records older than a day
(scheduler.policies.idempotency.KEEP), and a retry after that is a new request.

The record's `created_at` is Postgres's now() (the real clock): the seam stamps it with the
virtual now, so the retention pass, on the virtual clock, expires it when the product would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from scheduler.errors import DomainError
from scheduler.policies.idempotency import KEEP, IdempotentRequest
from scheduler.store.db import Database

from tests.simulation.clock import VirtualClock

# Whose keys these are (the principal's actor: the routes scope a key per caller).
SCOPE = "sim-client"
# A client's retry after a lost answer: its timeout, then the same request again.
RETRY_AFTER_S = 7


@dataclass
class KeyedRequest:
    operation: str
    key: str
    idempotent: IdempotentRequest
    # the request as the client sends it again (with its key)
    call: Callable[[IdempotentRequest | None], BaseModel]
    # what the world learns from an answer that did something (a new schedule, a manual run)
    adopt: Callable[[BaseModel], None]
    first: dict[str, Any]
    # when its record was written (virtual): a retention pass a day later deletes it
    recorded_at: datetime


@dataclass
class Client:
    clock: VirtualClock
    db: Database
    # waits in virtual time while the world goes on (the event loop's run_until)
    wait: Callable[[float], None]
    requests: list[KeyedRequest] = field(default_factory=list)
    # every record written before this was deleted by a retention pass
    keys_deleted_before: datetime | None = None
    findings: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def send(
        self,
        operation: str,
        path: str,
        body: Any,
        call: Callable[[IdempotentRequest | None], BaseModel],
        adopt: Callable[[BaseModel], None],
        key: str | None = None,
        lose_answer: bool = False,
    ) -> BaseModel:
        """One request (with `key`, if any); DomainError if refused (no record: nothing to
        retry). With `lose_answer` the client never sees the answer and retries."""
        idempotent = IdempotentRequest.of(SCOPE, key, operation, path, body)
        answer = call(idempotent)
        adopt(answer)
        if idempotent is None:
            return answer
        self._stamp(idempotent)
        request = KeyedRequest(
            operation, idempotent.key, idempotent, call, adopt, _dump(answer), self.clock.now()
        )
        self.requests.append(request)
        if lose_answer:
            self.stats["answers_lost"] += 1
            self.wait(RETRY_AFTER_S)
            self.retry(request)
        return answer

    def expired(self, request: KeyedRequest) -> bool:
        deleted = self.keys_deleted_before
        return deleted is not None and request.recorded_at < deleted

    def retry(self, request: KeyedRequest) -> None:
        """The same request with the same key: the first answer while its record lives, a new
        request after (DomainError then if refused, as any new request)."""
        if self.expired(request):
            self.stats["retried_after_expiry"] += 1
            answer = request.call(request.idempotent)
            self._stamp(request.idempotent)
            request.adopt(answer)
            # a backfill of the same interval may well answer the same (nothing to queue), and
            # so may a bulk change that changed nothing the first time (the rows were so)
            replayable = request.operation != "backfillSchedule" and request.first.get("changed", 1)
            if replayable and _same(_dump(answer)) == _same(request.first):
                self.findings.append(
                    f"[a retry after its key expired is a new request] {request.operation} "
                    f"key {request.key}: answered as the first request of "
                    f"{request.recorded_at.isoformat()}, though retention deleted the key"
                )
            request.first, request.recorded_at = _dump(answer), self.clock.now()
            return
        self.stats["retried"] += 1
        try:
            again = _dump(request.call(request.idempotent))
        except DomainError as exc:
            self.findings.append(
                f"[a retry's answer equals the first] {request.operation} key {request.key}: "
                f"refused ({type(exc).__name__}: {exc}) though its first request succeeded"
            )
            return
        # a bulk change answers the first answer with its eventbridgePending as of now
        if _same(again) != _same(request.first):
            self.findings.append(
                f"[a retry's answer equals the first] {request.operation} key {request.key}: "
                f"answered {again}, the first {request.first}"
            )

    def keys_expired(self, now: datetime) -> None:
        """A retention pass at `now` deleted every record older than KEEP."""
        cutoff = now - KEEP
        self.keys_deleted_before = max(cutoff, self.keys_deleted_before or cutoff)

    def _stamp(self, request: IdempotentRequest) -> None:
        """Seam: the record's created_at (Postgres's now(), the real clock) is the virtual now."""
        self.db.execute(
            """update idempotency_keys set created_at = %s
               where scope = %s and key = %s and operation = %s""",
            (self.clock.now(), request.scope, request.key, request.operation),
        )


def _same(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "eventbridgePending"}


def _dump(answer: BaseModel) -> dict[str, Any]:
    return answer.model_dump(mode="json", by_alias=True)
