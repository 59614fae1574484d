"""What every query module shares: the row and cursor types, owner scoping, keyset paging, the
mapping of a rejected CHECK to InvalidInput, and the base of a query object.

A query object holds one concept's SQL over the Database it is given. Query objects built over
the same Database share its one connection, so a use case groups their calls into one
transaction with `db.transaction()`: each statement inside it runs in that transaction, as
each of them would through any other query object of that Database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from scheduler.errors import InvalidInput
from scheduler.store.db import Database

Row = dict[str, Any]
Cursor = tuple[datetime, UUID]  # keyset pagination position: (sort timestamp, id) of the last row

# `owner` arguments scope a query to the workflows one user owns; None means the service itself
# (the runner, reconcile, a service-role caller) and sees every row.
OWNED = "(%(owner)s::uuid is null or w.owner_id = %(owner)s::uuid)"


class Queries:
    """One concept's statements over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db


def page(params: dict[str, Any], after: Cursor | None) -> dict[str, Any]:
    """`params` with the keyset position after which a page starts (None: the first page)."""
    after_at, after_id = after if after is not None else (None, None)
    return {**params, "after_at": after_at, "after_id": after_id}


@contextmanager
def integrity_errors() -> Iterator[None]:
    """A row a CHECK constraint rejects is the caller's invalid input, named by the constraint."""
    try:
        yield
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput(f"rejected by the database: {exc.diag.constraint_name}") from exc
