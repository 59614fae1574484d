"""The caller of the API: `Principal`, made from claims a token verification vouched for
(`scheduler.tokens` in the authorizer, or API Gateway's own JWT authorizer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from scheduler.errors import Unauthorized

SERVICE_ROLE = "service_role"


@dataclass(frozen=True)
class Principal:
    """The verified caller: a user (by `sub`) or the service role."""

    sub: UUID | None
    role: str

    @property
    def owner(self) -> UUID | None:
        """The owner id queries are scoped to; None (every row) for the service role."""
        return None if self.role == SERVICE_ROLE else self.sub

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        role = str(claims.get("role") or "")
        raw_sub = claims.get("sub")
        sub: UUID | None = None
        if raw_sub:
            try:
                sub = UUID(str(raw_sub))
            except ValueError as exc:
                raise Unauthorized("the token's subject is not a user id") from exc
        if role != SERVICE_ROLE and sub is None:
            raise Unauthorized("the token has no subject")
        return cls(sub=sub, role=role)


def principal_from_authorizer(authorizer: Any) -> Principal:
    """The caller from an API Gateway event's `requestContext.authorizer`, which holds only
    claims API Gateway verified: `jwt.claims` (JWT authorizer) or `lambda` (Lambda authorizer).
    """
    if not isinstance(authorizer, dict):
        raise Unauthorized("no verified claims")
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("lambda")
    if not isinstance(claims, dict) or not claims:
        raise Unauthorized("no verified claims")
    return Principal.from_claims(claims)
