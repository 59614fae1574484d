"""The caller of the API: `Principal`, made from what the authorizer vouched for.

Two credentials reach ApiFunction: a Supabase access token (claims the authorizer verified, or
API Gateway's own JWT authorizer) and an API key, which the authorizer only recognises
(`scheduler.auth.api_keys`) and ApiFunction checks against the database
(`scheduler.auth.key_service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from scheduler.auth.api_keys import PresentedKey
from scheduler.errors import Forbidden, Unauthorized

SERVICE_ROLE = "service_role"
# What the Lambda authorizer's context carries (`functions/authorizer`), in `credential`: a
# token's verified claims, or an API key still to be checked (its id and digest, no claims).
TOKEN_CREDENTIAL = "supabase_token"  # noqa: S105 (a label, not a secret)
API_KEY_CREDENTIAL = "api_key"


@dataclass(frozen=True)
class Principal:
    """The verified caller and what it may do."""

    # Whose workflows it acts on: a user, an owner-scoped key's owner; None: every tenant.
    owner: UUID | None
    # Who it is, for records (`createdBy`) and logs: "user:<id>", "service_role", "api_key:<id>".
    actor: str
    read_only: bool = False
    # When the credential stops working, if it is a key that expires: what it issues may not
    # outlive it.
    expires_at: datetime | None = None

    @property
    def service(self) -> bool:
        """A service credential (the service role, a key for every tenant): manages API keys."""
        return self.owner is None

    def require_write(self) -> None:
        """ApiFunction calls this before any request that is not a read."""
        if self.read_only:
            raise Forbidden("this API key is read-only")

    def require_service(self, what: str = "managing API keys") -> None:
        if not self.service:
            raise Forbidden(
                f"{what} takes a service credential (an API key for every"
                " tenant, or the service role)"
            )

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        role = str(claims.get("role") or "")
        if role == SERVICE_ROLE:
            return cls(owner=None, actor=SERVICE_ROLE)
        raw_sub = claims.get("sub")
        if not raw_sub:
            raise Unauthorized("the token has no subject")
        try:
            sub = UUID(str(raw_sub))
        except ValueError as exc:
            raise Unauthorized("the token's subject is not a user id") from exc
        return cls(owner=sub, actor=f"user:{sub}")


def credential_from_authorizer(authorizer: Any) -> Principal | PresentedKey:
    """The caller from an API Gateway event's `requestContext.authorizer`, which holds only
    what API Gateway's authorizer produced: `jwt.claims` (JWT authorizer) or `lambda` (Lambda
    authorizer: verified claims, or an API key still to be checked).
    """
    if not isinstance(authorizer, dict):
        raise Unauthorized("no verified claims")
    lambda_context = authorizer.get("lambda")
    if isinstance(lambda_context, dict) and lambda_context.get("credential") == API_KEY_CREDENTIAL:
        key_id, digest = lambda_context.get("keyId"), lambda_context.get("keyDigest")
        if not (isinstance(key_id, str) and key_id and isinstance(digest, str) and digest):
            raise Unauthorized("malformed API key")
        return PresentedKey(key_id=key_id, digest=digest)
    claims = (authorizer.get("jwt") or {}).get("claims") or lambda_context
    if not isinstance(claims, dict) or not claims:
        raise Unauthorized("no verified claims")
    return Principal.from_claims(claims)
