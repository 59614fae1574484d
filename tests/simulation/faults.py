"""Faults at the runner's network calls: outages, lost answers, hangs and process death.

A dependency is `database` (the runner's Postgres connection; `record`: only the statement
recording a run's outcome), `dynamodb` (its lease lock),
`eventbridge` (Scheduler's deliveries) or `check` (the missed-fire check's invocations). An
outage makes every call to it fail before its effect until it ends (virtual time); a one-shot
fault hits the next call: failed before the effect, applied but its answer lost, or the
process dying before or after the effect (`SimulatedCrash`, a BaseException nothing in the
product catches, as a Lambda's death ends everything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import EndpointConnectionError
from psycopg import Connection, Cursor
from scheduler.errors import DatabaseUnavailable
from scheduler.store.db import Database

from tests.simulation.clock import VirtualClock

Dependency = Literal["database", "dynamodb", "eventbridge", "check"]
OneShot = Literal["error", "lost_answer", "death_before", "death_after", "hang"]
DEPENDENCIES: tuple[Dependency, ...] = ("database", "dynamodb", "eventbridge", "check")
ONE_SHOTS: tuple[OneShot, ...] = ("error", "lost_answer", "death_before", "death_after", "hang")
# A hung call: the client's own timeout ends it this long after it was sent (virtual seconds).
HANG_S = 10.0


class SimulatedCrash(BaseException):
    """The runner's process died here: nothing after this point of the invocation happens."""


@dataclass
class Faults:
    clock: VirtualClock
    down_until: dict[str, datetime] = field(default_factory=dict)
    armed: dict[str, list[OneShot]] = field(default_factory=dict)
    injected: int = 0
    # how a call waits in virtual time (a hang): the simulation's task-aware sleep
    sleep: Callable[[float], None] | None = None
    # asked at each lease acquire with the lease's key; True: it acted (an API request landing
    # in that moment) and is disarmed
    on_lease_acquire: Callable[[str], bool] | None = None

    def is_down(self, dependency: str) -> bool:
        until = self.down_until.get(dependency)
        return until is not None and self.clock.now() < until

    def outage(self, dependency: str, until: datetime) -> None:
        self.down_until[dependency] = max(until, self.down_until.get(dependency, until))
        self.injected += 1

    def arm(self, dependency: str, kind: OneShot) -> None:
        self.armed.setdefault(dependency, []).append(kind)
        self.injected += 1

    def clear(self) -> None:
        self.down_until.clear()
        self.armed.clear()
        self.on_lease_acquire = None

    def before(self, dependency: str, error: Callable[[], Exception]) -> None:
        """Before a call's effect: an outage or an armed fault that strikes before it."""
        if self.is_down(dependency):
            raise error()
        kinds = self.armed.get(dependency)
        if kinds and kinds[0] in ("error", "death_before", "hang"):
            kind = kinds.pop(0)
            if kind == "death_before":
                raise SimulatedCrash(f"{dependency}: died before the call")
            if kind == "hang":
                (self.sleep or self.clock.advance)(HANG_S)
            raise error()

    def after(self, dependency: str, error: Callable[[], Exception]) -> None:
        """After a call's effect: its answer lost, or the process dead before it saw it."""
        kinds = self.armed.get(dependency)
        if kinds and kinds[0] in ("lost_answer", "death_after"):
            kind = kinds.pop(0)
            if kind == "death_after":
                raise SimulatedCrash(f"{dependency}: died after the call took effect")
            raise error()


# The start of the runner's record statement (scheduler.store.run_outcome.record_run_outcome).
_RECORD_STATEMENT = "with current_run as ("


def _database_error() -> Exception:
    return DatabaseUnavailable("simulated: the database is unreachable")


def _dynamodb_error() -> Exception:
    return EndpointConnectionError(endpoint_url="https://dynamodb.simulated")


class FaultyDatabase(Database):
    """The runner's database: each statement (or transaction) passes through `faults` first."""

    def __init__(self, conninfo: str, faults: Faults) -> None:
        super().__init__(conninfo)
        self.faults = faults

    def execute(self, query: Any, params: Any = None) -> Cursor[Any]:
        outermost = not self._transaction_depth
        # `record`: a fault armed for the run's record only (the statement that counts the
        # schedule's failures and may pause it), else the runner's next statement takes it
        dependency = "record" if _RECORD_STATEMENT in str(query) else "database"
        if outermost:
            self.faults.before("database", _database_error)
            self.faults.before(dependency, _database_error)
        cursor = super().execute(query, params)
        if outermost:  # an implicit transaction of its own: committed by now
            self.faults.after("database", _database_error)
            self.faults.after(dependency, _database_error)
        return cursor

    @contextmanager
    def transaction(self) -> Iterator[Connection[Any]]:
        outermost = not self._transaction_depth
        if outermost:
            self.faults.before("database", _database_error)
        with super().transaction() as conn:
            yield conn
        if outermost:
            self.faults.after("database", _database_error)


def hook_dynamodb(client: Any, faults: Faults) -> None:
    """Faults on every call of the runner's DynamoDB client (botocore's before/after-call)."""

    def before(**kwargs: Any) -> None:
        faults.before("dynamodb", _dynamodb_error)

    def after(**kwargs: Any) -> None:
        faults.after("dynamodb", _dynamodb_error)

    def before_update(params: dict[str, Any], **kwargs: Any) -> None:
        acquiring = "attribute_not_exists(pk)" in str(params.get("ConditionExpression", ""))
        action = faults.on_lease_acquire
        if acquiring and action is not None and action(params["Key"]["pk"]["S"]):
            faults.on_lease_acquire = None

    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", before_update)
    client.meta.events.register("before-call.dynamodb", before)
    client.meta.events.register("after-call.dynamodb", after)
