"""`make api-key`: issue an API key straight in the database, with no credential at all.

The bootstrap: the first key of a project (or one after every key was lost) cannot come from
`POST /api/keys`, which needs a service credential. Whoever can reach `DATABASE_URL` already
holds every schedule, so this adds no new power. The key goes to stdout alone (so a script can
capture it), everything else to stderr.

    python -m scheduler.auth.key_admin --name "billing worker" --scope all
    SCOPE: all | all:read-only | owner:<uuid> | owner:<uuid>:read-only
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from scheduler.auth import key_service
from scheduler.errors import DatabaseNotMigrated, DomainError
from scheduler.models.api_keys import ApiKeyCreate
from scheduler.observability import logger
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.db import Database

READ_ONLY = "read-only"
SCOPES = "all | all:read-only | owner:<uuid> | owner:<uuid>:read-only"


def parse_scope(scope: str) -> dict[str, Any]:
    """The `ownerId` and `readOnly` fields a SCOPE stands for; ValueError for anything else."""
    parts = scope.strip().split(":")
    read_only = len(parts) > 1 and parts[-1] == READ_ONLY
    if read_only:
        parts = parts[:-1]
    if parts == ["all"]:
        return {"ownerId": None, "readOnly": read_only}
    if len(parts) == 2 and parts[0] == "owner":
        try:
            return {"ownerId": str(UUID(parts[1])), "readOnly": read_only}
        except ValueError:
            pass
    raise ValueError(f"SCOPE {scope!r} is not one of: {SCOPES}")


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except OSError:  # a container user with no passwd entry and no USER
        return "operator"


def _scope_words(created: Any) -> str:
    tenants = "every tenant" if created.owner_id is None else f"owner {created.owner_id}"
    return f"{tenants}, {'read-only' if created.read_only else 'read and write'}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make api-key", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="what the key is for")
    parser.add_argument("--scope", required=True, help=SCOPES)
    parser.add_argument("--expires", default=None, help="ISO 8601 time with an offset (optional)")
    args = parser.parse_args(argv)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)  # stdout is the key's alone
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("Set DATABASE_URL (the database that `make migrate` set up).", file=sys.stderr)
        return 2
    try:
        fields = parse_scope(args.scope)
        request = ApiKeyCreate.model_validate(
            {"name": args.name, "expiresAt": args.expires or None, **fields}
        )
    except ValueError as exc:  # ValidationError is one
        errors = exc.errors() if isinstance(exc, ValidationError) else None
        message = "; ".join(e["msg"] for e in errors) if errors else str(exc)
        print(f"Not issued: {message}", file=sys.stderr)
        return 2
    database = Database(database_url)
    try:
        created = key_service.issue_key(ApiKeyQueries(database), request, created_by=_operator())
    except DatabaseNotMigrated:
        print("Not issued: no api_keys table; run `make migrate` first.", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"Not issued: {exc}", file=sys.stderr)
        return 1
    finally:
        database.close()
    print(f"API key {created.name!r} ({created.id}) for {_scope_words(created)}:", file=sys.stderr)
    print(created.key)
    print(
        "Shown this once: only its hash is stored. Send it as `Authorization: Bearer <key>`;"
        f" revoke it with DELETE /api/keys/{created.id}.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
