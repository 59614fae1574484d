"""How a reconcile pass is split: shards by schedule-name prefix, each run by its own
ReconcileFunction invocation, and continued by another when its time runs out.

Schedule names are row ids (UUIDs, lowercase hex), so a prefix of hex digits is both an
EventBridge `NamePrefix` filter and a contiguous id range of the rows: 16 shards are the
first hex digit, 256 the first two. A task is a shard and where it stopped (every id up to
`after` is done); it travels as the event of an asynchronous invocation of the function itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import product
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from scheduler.clients import aws_client
from scheduler.errors import ReconcileIncomplete

HEX = "0123456789abcdef"
# A task that keeps stopping short is a loop, not progress: at most this many continuations.
MAX_HOPS = 50


def shard_prefixes(shards: int) -> list[str]:
    """The name prefixes of `shards` shards (1, 16, 256, ...): [""] for one shard."""
    digits = 0
    while 16**digits < shards:
        digits += 1
    if 16**digits != shards:
        raise ValueError(f"shards must be a power of 16, not {shards}")
    return sub_prefixes("", digits)


def sub_prefixes(prefix: str, digits: int) -> list[str]:
    """The prefixes `digits` hex digits longer than `prefix` that it covers, in id order."""
    return [prefix + "".join(tail) for tail in product(HEX, repeat=digits)]


def id_range(prefix: str) -> tuple[UUID, UUID]:
    """The lowest and highest row id whose name starts with `prefix` (at most 8 hex digits)."""
    if len(prefix) > 8 or any(c not in HEX for c in prefix):
        raise ValueError(f"not a shard prefix: {prefix!r}")
    low, high = prefix.ljust(32, "0"), prefix.ljust(32, "f")
    return UUID(low), UUID(high)


@dataclass(frozen=True)
class ShardTask:
    """One shard of a pass; `after`: every row id up to it is done (a continuation)."""

    prefix: str = ""
    after: UUID | None = None
    hops: int = 0

    def __post_init__(self) -> None:
        id_range(self.prefix)  # ValueError for a prefix that is not one

    def continued_after(self, last_done: UUID) -> ShardTask:
        return ShardTask(self.prefix, last_done, self.hops + 1)

    def as_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"shard": self.prefix, "hops": self.hops}
        if self.after is not None:
            event["after"] = str(self.after)
        return event

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ShardTask | None:
        """The task an invocation carries; None for the scheduled event (a coordinator)."""
        if "shard" not in event:
            return None
        after = event.get("after")
        return cls(str(event["shard"]), UUID(after) if after else None, int(event.get("hops", 0)))


def invoke_shard(function_arn: str, task: ShardTask) -> None:
    """Queue an asynchronous invocation of ReconcileFunction for one task (Lambda answers 202
    once queued; reserved concurrency bounds how many run at once, the others wait queued)."""
    try:
        aws_client("lambda").invoke(
            FunctionName=function_arn,
            InvocationType="Event",
            Payload=json.dumps(task.as_event(), separators=(",", ":")).encode(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise ReconcileIncomplete(f"cannot start reconcile shard {task}: {exc}") from exc


def invoke_drain(function_arn: str) -> None:
    """Queue an asynchronous ReconcileFunction invocation that drains the pending EventBridge
    updates (scheduler.sync.pending) now rather than at the next pass."""
    try:
        aws_client("lambda").invoke(
            FunctionName=function_arn,
            InvocationType="Event",
            Payload=json.dumps({"drain": "pending"}, separators=(",", ":")).encode(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise ReconcileIncomplete(f"cannot start the drain of pending updates: {exc}") from exc
