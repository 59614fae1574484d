"""The workflow lease lock in DynamoDB: at most one run of a workflow at a time.

One item per workflow (`pk = workflow#<id>`) holds the current lease: the holder's `owner`
token, `expires_at` (epoch ms), `fence` and a `ttl` (epoch s) so an abandoned item disappears.

The owner token is the invocation's (the runner passes its Lambda request id, which Lambda keeps
for the retries of an asynchronous invocation). Acquiring is one conditional UpdateItem that
succeeds only if there is no item, its lease has expired, or the lease is already this owner's:
a retry of the same invocation takes back the lease its earlier attempt took even when that
attempt never saw the answer, instead of waiting out a lease nobody holds. Release (which
only expires the lease, keeping the item and its fence) and extension are conditional on the
owner token, so a run that lost its lease can never free or prolong a newer holder's lease.

Fence: it must grow with every acquisition, whatever the acquirers' clocks say, and also after
TTL deleted an idle item. While the item exists the fence is a counter (`fence + 1`, so clocks
do not matter); a new item starts at the acquirer's clock in epoch milliseconds. That start is
larger than any fence the deleted item held: its counter began at an earlier clock reading and
grew by one per run (each run takes far more than a millisecond), and TTL deletes only after
`expires_at + skew`, so the new clock reading is later even for an acquirer that far behind.

Clock skew tolerance: runner clocks may disagree by up to `clock_skew_s` (settings, default 5 s,
the lease is at least `lease_margin_s` = 30 s longer than that). A lease counts as expired for
another acquirer only `clock_skew_s` after its `expires_at`, so a holder whose clock is that much
ahead keeps the lease until the moment it computed; fences stay increasing for any skew smaller
than the lease.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from scheduler import clients
from scheduler.config import get_settings
from scheduler.errors import LockUnavailable, WorkflowBusy

Clock = Callable[[], datetime]
_CONDITION_FAILED = "ConditionalCheckFailedException"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Lease:
    workflow_id: UUID
    owner: str
    fence: int
    expires_at: datetime


class LeaseLock:
    """Acquire, extend and release workflow leases (every DynamoDB call of the product)."""

    def __init__(
        self,
        client: Any = None,
        *,
        table: str | None = None,
        clock: Clock = utc_now,
        clock_skew_s: int | None = None,
    ) -> None:
        settings = get_settings()
        self._client = client if client is not None else clients.aws_client("dynamodb")
        self._table = table or settings.locks_table
        self._clock = clock
        self._skew_ms = 1000 * (settings.clock_skew_s if clock_skew_s is None else clock_skew_s)

    def acquire(self, workflow_id: UUID, lease_s: float, owner: str | None = None) -> Lease:
        """Take the workflow's lease for `lease_s` as `owner` (a new random token if None);
        WorkflowBusy if another owner's lease is live. Taking again a lease the same owner holds
        succeeds with a new fence, so a repeated call (SDK retry, Lambda retry) is safe.
        """
        now = self._clock()
        owner = owner or secrets.token_hex(16)
        expires_at = now + timedelta(seconds=lease_s)
        try:
            item = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(workflow_id)}},
                UpdateExpression=(
                    "SET #owner = :owner, expires_at = :expires_at, #ttl = :ttl,"
                    " fence = if_not_exists(fence, :first_fence_before) + :one"
                ),
                # our own owner token: a retry of an update that did apply is still ours
                ConditionExpression=(
                    "attribute_not_exists(pk) OR expires_at < :expired_before OR #owner = :owner"
                ),
                ExpressionAttributeNames={"#owner": "owner", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":expires_at": {"N": str(_epoch_ms(expires_at))},
                    ":ttl": {"N": str(self._ttl(expires_at))},
                    ":first_fence_before": {"N": str(_epoch_ms(now) - 1)},
                    ":one": {"N": "1"},
                    ":expired_before": {"N": str(_epoch_ms(now) - self._skew_ms)},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                holder = exc.response.get("Item", {})
                raise WorkflowBusy(
                    f"workflow {workflow_id} is leased until "
                    f"{holder.get('expires_at', {}).get('N', '?')} (epoch ms)"
                ) from exc
            raise LockUnavailable(f"cannot acquire the workflow lease: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LockUnavailable(f"cannot acquire the workflow lease: {exc}") from exc
        fence = int(item["Attributes"]["fence"]["N"])
        return Lease(workflow_id=workflow_id, owner=owner, fence=fence, expires_at=expires_at)

    def extend(self, lease: Lease, lease_s: float) -> Lease:
        """Prolong a live lease this owner holds; WorkflowBusy if it is no longer ours."""
        now = self._clock()
        expires_at = now + timedelta(seconds=lease_s)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(lease.workflow_id)}},
                UpdateExpression="SET expires_at = :expires_at, #ttl = :ttl",
                ConditionExpression="#owner = :owner AND expires_at >= :now",
                ExpressionAttributeNames={"#owner": "owner", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":owner": {"S": lease.owner},
                    ":now": {"N": str(_epoch_ms(now))},
                    ":expires_at": {"N": str(_epoch_ms(expires_at))},
                    ":ttl": {"N": str(self._ttl(expires_at))},
                },
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                raise WorkflowBusy(f"the lease on workflow {lease.workflow_id} was lost") from exc
            raise LockUnavailable(f"cannot extend the workflow lease: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LockUnavailable(f"cannot extend the workflow lease: {exc}") from exc
        return Lease(lease.workflow_id, lease.owner, lease.fence, expires_at)

    def release(self, lease: Lease) -> bool:
        """Free the lease if this owner still holds it; False if someone else took it over.

        The item stays (with its fence) until TTL removes it. Safe to repeat. LockUnavailable
        when DynamoDB fails (the caller may retry; an unreleased lease expires on its own).
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(lease.workflow_id)}},
                UpdateExpression="SET expires_at = :released",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": lease.owner}, ":released": {"N": "0"}},
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return False
            raise LockUnavailable(f"cannot release the workflow lease: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LockUnavailable(f"cannot release the workflow lease: {exc}") from exc
        return True

    def is_free(self, workflow_id: UUID) -> bool:
        """Whether an acquire now would find the lease free, without taking it: a conditional
        update that writes nothing but a `probed_at` on a lease already expired, and when the
        condition fails answers with the item, absent when there is none (free too). Taking it
        for a moment instead would make a fire arriving in that moment find it busy.
        """
        now = self._clock()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(workflow_id)}},
                UpdateExpression="SET probed_at = :now",
                ConditionExpression="attribute_exists(pk) AND expires_at < :expired_before",
                ExpressionAttributeValues={
                    ":now": {"N": str(_epoch_ms(now))},
                    ":expired_before": {"N": str(_epoch_ms(now) - self._skew_ms)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return not exc.response.get("Item")  # no item: never leased, free
            raise LockUnavailable(f"cannot read the workflow lease: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LockUnavailable(f"cannot read the workflow lease: {exc}") from exc
        return True

    def _ttl(self, expires_at: datetime) -> int:
        # TTL may delete the item only once every acquirer would consider the lease expired.
        return math.ceil(expires_at.timestamp() + self._skew_ms / 1000) + 1


def _key(workflow_id: UUID) -> str:
    return f"workflow#{workflow_id}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))
