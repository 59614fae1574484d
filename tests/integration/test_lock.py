"""The DynamoDB lease lock (moto): exclusion, expiry, owner-only release, fences, clock skew,
concurrent acquirers."""

from __future__ import annotations

import contextlib
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from scheduler.errors import LockUnavailable, WorkflowBusy
from scheduler.run.lock import Lease, LeaseLock

from devstack.moto_server import start_moto_server
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LOCKS_TABLE,
    FakeClock,
    clock_fixture,
    create_locks_table,
    dynamodb_fixture,
    join,
)

WORKFLOW = uuid.UUID("44444444-4444-4444-8444-444444444444")
SKEW_S = 5


def _lock(dynamodb: Any, clock: FakeClock) -> LeaseLock:
    return LeaseLock(dynamodb, table=LOCKS_TABLE, clock=clock, clock_skew_s=SKEW_S)


def _item(dynamodb: Any) -> dict[str, Any]:
    return dynamodb.get_item(TableName=LOCKS_TABLE, Key={"pk": {"S": f"workflow#{WORKFLOW}"}})[
        "Item"
    ]


def _fail(code: str) -> Any:
    def handler(**_: Any) -> None:  # fault injection on the moto-backed client
        raise ClientError({"Error": {"Code": code, "Message": code}}, "Injected")

    return handler


def test_a_held_lease_excludes_other_acquirers(dynamodb: Any, clock: FakeClock) -> None:
    lock = _lock(dynamodb, clock)

    lease = lock.acquire(WORKFLOW, 40)

    with pytest.raises(WorkflowBusy):
        lock.acquire(WORKFLOW, 40)
    assert lock.acquire(uuid.uuid4(), 40).fence == lease.fence  # other workflows are free
    item = _item(dynamodb)
    assert item["owner"]["S"] == lease.owner
    assert int(item["fence"]["N"]) == int(clock().timestamp() * 1000) == lease.fence
    assert lease.expires_at == clock() + timedelta(seconds=40)
    assert int(item["expires_at"]["N"]) == int(lease.expires_at.timestamp() * 1000)
    # TTL may remove the item only after every acquirer considers the lease expired
    assert int(item["ttl"]["N"]) >= lease.expires_at.timestamp() + SKEW_S


def test_release_frees_the_lease_and_the_next_fence_is_larger(
    dynamodb: Any, clock: FakeClock
) -> None:
    lock = _lock(dynamodb, clock)
    first = lock.acquire(WORKFLOW, 40)

    assert lock.release(first) is True
    clock.advance(0.001)
    second = lock.acquire(WORKFLOW, 40)

    assert second.fence > first.fence
    assert second.owner != first.owner


def test_only_the_owner_can_release_or_extend(dynamodb: Any, clock: FakeClock) -> None:
    lock = _lock(dynamodb, clock)
    stale = lock.acquire(WORKFLOW, 40)
    clock.advance(40 + SKEW_S + 1)
    current = lock.acquire(WORKFLOW, 40)

    assert lock.release(stale) is False
    with pytest.raises(WorkflowBusy):
        lock.extend(stale, 40)
    assert _item(dynamodb)["owner"]["S"] == current.owner
    with pytest.raises(WorkflowBusy):
        lock.acquire(WORKFLOW, 40)


def test_the_owner_extends_a_live_lease_but_not_an_expired_one(
    dynamodb: Any, clock: FakeClock
) -> None:
    lock = _lock(dynamodb, clock)
    lease = lock.acquire(WORKFLOW, 40)
    clock.advance(30)

    extended = lock.extend(lease, 40)
    clock.advance(40 + SKEW_S - 1)  # past the first expiry, inside the extension
    with pytest.raises(WorkflowBusy):
        lock.acquire(WORKFLOW, 40)

    assert extended.expires_at == lease.expires_at + timedelta(seconds=30)
    assert extended.fence == lease.fence
    clock.advance(10)
    with pytest.raises(WorkflowBusy):
        lock.extend(extended, 40)


def test_an_expired_lease_is_taken_over_only_after_the_skew_tolerance(
    dynamodb: Any, clock: FakeClock
) -> None:
    lock = _lock(dynamodb, clock)
    crashed = lock.acquire(WORKFLOW, 40)  # its holder never releases

    clock.advance(40 + SKEW_S - 0.5)  # expired by its holder's clock, not beyond the skew
    with pytest.raises(WorkflowBusy):
        lock.acquire(WORKFLOW, 40)
    clock.advance(1)
    taken_over = lock.acquire(WORKFLOW, 40)

    assert taken_over.fence > crashed.fence


def test_an_acquirer_whose_clock_runs_ahead_within_tolerance_cannot_steal(
    dynamodb: Any, clock: FakeClock
) -> None:
    holder = _lock(dynamodb, clock)
    ahead = FakeClock(clock() + timedelta(seconds=SKEW_S - 1))
    other = _lock(dynamodb, ahead)
    holder.acquire(WORKFLOW, 40)

    clock.advance(39.9)  # the holder still runs, by its own clock
    ahead.advance(39.9)  # the other's clock already reads past expires_at

    with pytest.raises(WorkflowBusy):
        other.acquire(WORKFLOW, 40)


def test_fences_keep_growing_after_a_release_whatever_the_next_acquirers_clock(
    dynamodb: Any, clock: FakeClock
) -> None:
    first = _lock(dynamodb, clock).acquire(WORKFLOW, 40)
    _lock(dynamodb, clock).release(first)
    behind = FakeClock(clock() - timedelta(minutes=10))  # a badly skewed runner

    second = _lock(dynamodb, behind).acquire(WORKFLOW, 40)

    assert second.fence > first.fence
    assert _item(dynamodb)["owner"]["S"] == second.owner


def test_fences_keep_growing_after_ttl_deleted_the_item_even_with_a_slow_clock(
    dynamodb: Any, clock: FakeClock
) -> None:
    first = _lock(dynamodb, clock).acquire(WORKFLOW, 40)
    ttl = int(_item(dynamodb)["ttl"]["N"])
    # DynamoDB's TTL deletes the abandoned item once `ttl` has passed (simulated here)
    dynamodb.delete_item(TableName=LOCKS_TABLE, Key={"pk": {"S": f"workflow#{WORKFLOW}"}})
    behind = FakeClock(datetime.fromtimestamp(ttl, UTC) - timedelta(seconds=SKEW_S))

    second = _lock(dynamodb, behind).acquire(WORKFLOW, 40)

    assert second.fence > first.fence


def test_a_throttled_dynamodb_on_acquire_is_retryable(dynamodb: Any, clock: FakeClock) -> None:
    lock = _lock(dynamodb, clock)
    dynamodb.meta.events.register(
        "before-call.dynamodb.UpdateItem", _fail("ProvisionedThroughputExceededException")
    )

    with pytest.raises(LockUnavailable, match="ProvisionedThroughputExceeded"):
        lock.acquire(WORKFLOW, 40)


def test_an_unreachable_dynamodb_on_acquire_is_retryable(dynamodb: Any, clock: FakeClock) -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", unreachable)

    with pytest.raises(LockUnavailable, match="Could not connect"):
        _lock(dynamodb, clock).acquire(WORKFLOW, 40)


def test_a_failing_release_says_so_and_the_lease_still_expires(
    dynamodb: Any, clock: FakeClock
) -> None:
    lock = _lock(dynamodb, clock)
    lease = lock.acquire(WORKFLOW, 40)
    failing = _fail("InternalServerError")
    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", failing)

    with pytest.raises(LockUnavailable):  # the runner retries it, then lets it expire
        lock.release(lease)

    dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", failing)
    clock.advance(40 + SKEW_S + 1)
    assert lock.acquire(WORKFLOW, 40).fence > lease.fence


def test_a_retried_acquire_whose_first_attempt_applied_still_gets_the_lease(
    dynamodb: Any, clock: FakeClock
) -> None:
    # Given an acquire that DynamoDB applied but whose answer was lost, so the same owner
    # (the same invocation, or Lambda's retry of it) asks again
    lock = _lock(dynamodb, clock)
    first = lock.acquire(WORKFLOW, 40, owner="request-1")

    retried = lock.acquire(WORKFLOW, 40, owner="request-1")

    # Then the retry is not mistaken for another holder, and its fence is newer
    assert (retried.owner, _item(dynamodb)["owner"]["S"]) == ("request-1", "request-1")
    assert retried.fence > first.fence
    with pytest.raises(WorkflowBusy):  # a different owner still is
        lock.acquire(WORKFLOW, 40, owner="request-2")
    with pytest.raises(WorkflowBusy):
        lock.acquire(WORKFLOW, 40)


# --- concurrent acquirers: DynamoDB applies one conditional write to an item at a time

CONTENDERS = 20
MakeClient = Callable[[], Any]


@pytest.fixture
def moto_server_url() -> Iterator[str]:
    """moto's server as the local stack starts it, with the locks table."""
    server, url = start_moto_server()
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 (loopback)
    create_locks_table(boto3.client("dynamodb", endpoint_url=url))
    yield url
    server.stop()
    server._server.server_close()


@pytest.fixture(params=["mock_aws", "moto server"])
def make_client(request: pytest.FixtureRequest) -> MakeClient:
    """A new DynamoDB client per call (each runner has its own), on either moto the project uses."""
    if request.param == "mock_aws":
        request.getfixturevalue("dynamodb")
        return lambda: boto3.client("dynamodb")
    url = request.getfixturevalue("moto_server_url")
    return lambda: boto3.client("dynamodb", endpoint_url=url)


def _contend(make_client: MakeClient, clock: FakeClock) -> list[Lease]:
    """CONTENDERS runners acquire the workflow's lease at the same moment; the leases won."""
    locks = [_lock(make_client(), clock) for _ in range(CONTENDERS)]
    start = threading.Barrier(CONTENDERS)
    leases: list[Lease] = []

    def acquire(lock: LeaseLock) -> None:
        start.wait()
        with contextlib.suppress(WorkflowBusy):
            leases.append(lock.acquire(WORKFLOW, 40))

    threads = [threading.Thread(target=acquire, args=(lock,)) for lock in locks]
    for thread in threads:
        thread.start()
    join(*threads)
    return leases


@pytest.mark.usefixtures("slow_dynamodb_writes")
def test_concurrent_acquirers_of_a_new_lease_get_one_holder(
    make_client: MakeClient, clock: FakeClock
) -> None:
    leases = _contend(make_client, clock)

    assert len(leases) == 1
    assert _item(make_client())["owner"]["S"] == leases[0].owner


@pytest.mark.usefixtures("slow_dynamodb_writes")
def test_concurrent_acquirers_of_a_released_lease_get_one_holder_with_the_next_fence(
    make_client: MakeClient, clock: FakeClock
) -> None:
    lock = _lock(make_client(), clock)
    previous = lock.acquire(WORKFLOW, 40)
    lock.release(previous)

    leases = _contend(make_client, clock)

    assert [lease.fence for lease in leases] == [previous.fence + 1]
    assert _item(make_client())["owner"]["S"] == leases[0].owner


def test_is_free_says_whether_an_acquire_would_succeed_without_taking_the_lease(
    dynamodb: Any, clock: FakeClock
) -> None:
    lock = _lock(dynamodb, clock)
    # never leased: free, and the probe writes no item
    assert lock.is_free(WORKFLOW) is True
    assert "Item" not in dynamodb.get_item(
        TableName=LOCKS_TABLE, Key={"pk": {"S": f"workflow#{WORKFLOW}"}}
    )
    # held: not free, and the holder keeps it untouched
    lease = lock.acquire(WORKFLOW, 40)
    before = _item(dynamodb)
    assert lock.is_free(WORKFLOW) is False
    assert _item(dynamodb) == before
    # released: free; expired (past the skew tolerance): free; neither changes the fence
    lock.release(lease)
    assert lock.is_free(WORKFLOW) is True
    again = lock.acquire(WORKFLOW, 40)
    clock.advance(40 + SKEW_S + 1)
    assert lock.is_free(WORKFLOW) is True
    assert int(_item(dynamodb)["fence"]["N"]) == again.fence
    assert lock.acquire(WORKFLOW, 40).fence > again.fence
