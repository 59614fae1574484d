"""API keys' use cases: issue, list, revoke, and turn a presented key into a Principal.

A key acts for every tenant or for one owner's workflows, and may be read-only; the API then
scopes it exactly as it scopes a user's token. Keys are checked here on every request (one
primary-key read), not cached, so revoking one takes effect at its next request. Whoever asks
and whatever fails, the log names at most a key's id (public), never its secret or digest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from scheduler.auth import api_keys
from scheduler.auth.api_keys import PresentedKey
from scheduler.auth.principal import Principal
from scheduler.errors import ApiKeyNotFound, DomainError, InvalidInput, Unauthorized
from scheduler.models.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage
from scheduler.observability import logger
from scheduler.store import pagination
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.audit import AuditContext, AuditQueries

# How a key names itself in `createdBy` (and in logs): this prefix and its id.
KEY_ACTOR = "api_key:"


def _key_principal(row: dict[str, Any]) -> Principal:
    return Principal(
        owner=row["owner_id"],
        actor=f"{KEY_ACTOR}{row['id']}",
        read_only=bool(row["read_only"]),
        expires_at=row["expires_at"],
    )


def authenticate(keys: ApiKeyQueries, presented: PresentedKey) -> Principal:
    """The caller a key stands for; Unauthorized when it is unknown, wrong, revoked or expired."""
    try:
        key_id = UUID(hex=presented.key_id)
    except ValueError as exc:
        raise Unauthorized("malformed API key") from exc
    row = keys.api_key_for_authentication(key_id)
    if row is None or not presented.matches(bytes(row["secret_sha256"])):
        logger.info("API key refused", extra={"api_key_id": str(key_id), "reason": "unknown"})
        raise Unauthorized("invalid API key")
    if not row["usable"]:
        reason = "revoked" if row["revoked_at"] is not None else "expired"
        logger.info("API key refused", extra={"api_key_id": str(key_id), "reason": reason})
        raise Unauthorized("invalid API key")
    if row["last_use_stale"]:
        try:
            keys.touch_api_key(key_id)
        except DomainError as exc:  # a hint for audits: never worth failing the request
            logger.warning("API key last use not recorded", extra={"error": str(exc)})
    return _key_principal(row)


def create_key(
    keys: ApiKeyQueries,
    principal: Principal,
    request: ApiKeyCreate,
    audit: AuditContext | None = None,
) -> ApiKeyCreated:
    """A key issued through the API, by a service credential. A key that expires issues only
    keys that expire by then (by then, unless asked for sooner): a leaked short-lived key must
    not mint a lasting one."""
    principal.require_service()
    if principal.expires_at is not None:
        if request.expires_at is None:
            request = request.model_copy(update={"expires_at": principal.expires_at})
        elif request.expires_at > principal.expires_at:
            raise InvalidInput(
                "expiresAt: this key expires at"
                f" {principal.expires_at.isoformat()} and can only issue keys that expire by then"
            )
    return issue_key(keys, request, created_by=principal.actor, audit=audit)


def issue_key(
    keys: ApiKeyQueries,
    request: ApiKeyCreate,
    *,
    created_by: str,
    audit: AuditContext | None = None,
) -> ApiKeyCreated:
    """Issue a key, whoever asks (the API checked its caller; `make api-key` is an operator).
    A key issued by a key is written only if its issuer is still usable at that moment: one
    revoked (or expired) since it was authenticated issues nothing (Unauthorized). Its audit
    event (`key_issued`: its id, name and scope, never its secret nor digest) commits with it;
    `audit` None: the issuer (`created_by`) without a request id."""
    if request.expires_at is not None and request.expires_at <= datetime.now(UTC):
        raise InvalidInput("expiresAt: must be in the future")
    issuer_id = (
        UUID(created_by.removeprefix(KEY_ACTOR)) if created_by.startswith(KEY_ACTOR) else None
    )
    issued = api_keys.issue()
    with keys.db.transaction():
        row = keys.insert_api_key(
            issued.key_id,
            secret_sha256=issued.digest,
            name=request.name,
            owner_id=request.owner_id,
            read_only=request.read_only,
            created_by=created_by,
            expires_at=request.expires_at,
            issuer_id=issuer_id,
        )
        if row is not None:
            AuditQueries(keys.db).record(
                audit or AuditContext(created_by),
                "api_key",
                [issued.key_id],
                "key_issued",
                detail=_key_detail(row),
            )
    if row is None:
        logger.info(
            "API key refused",
            extra={"api_key_id": str(issuer_id), "reason": "revoked or expired while issuing"},
        )
        raise Unauthorized("invalid API key")
    logger.info("API key created", extra={"api_key_id": str(issued.key_id), "by": created_by})
    return ApiKeyCreated.model_validate({**row, "key": issued.key})


def _key_detail(row: dict[str, Any]) -> dict[str, Any]:
    """What a key's event says of it: its name and scope, never its secret nor digest."""
    return ApiKey.model_validate(row).model_dump(
        mode="json", by_alias=True, include={"name", "owner_id", "read_only", "expires_at"}
    )


def list_keys(
    keys: ApiKeyQueries, principal: Principal, *, limit: int, cursor: str | None
) -> ApiKeyPage:
    principal.require_service()
    rows = keys.list_api_keys(limit=limit + 1, after=pagination.decode_cursor(cursor))
    items, next_cursor = pagination.page(rows, limit, "created_at")
    return ApiKeyPage(items=[ApiKey.model_validate(r) for r in items], next_cursor=next_cursor)


def get_key(keys: ApiKeyQueries, principal: Principal, key_id: UUID) -> ApiKey:
    principal.require_service()
    row = keys.get_api_key(key_id)
    if row is None:
        raise ApiKeyNotFound(key_id)
    return ApiKey.model_validate(row)


def revoke_key(
    keys: ApiKeyQueries, principal: Principal, key_id: UUID, audit: AuditContext | None = None
) -> None:
    """Revoke the key and every key it issued, transitively: what a leaked key minted is as
    compromised as it. One `key_revoked` event per key revoked, with the revocation (a key
    revoked with its issuer says so); a repeated revocation records its request again."""
    principal.require_service()
    with keys.db.transaction():
        revoked = keys.revoke_api_key(key_id, issued_by_prefix=KEY_ACTOR)
        if not revoked:
            raise ApiKeyNotFound(key_id)
        context = audit or AuditContext(principal.actor)
        events = AuditQueries(keys.db)
        events.record(context, "api_key", [key_id], "key_revoked")
        events.record(
            context, "api_key", revoked[1:], "key_revoked", detail={"withIssuer": str(key_id)}
        )
    logger.info(
        "API key revoked",
        extra={"api_key_id": str(key_id), "by": principal.actor, "keys_revoked": len(revoked)},
    )
