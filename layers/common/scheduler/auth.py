"""Supabase access tokens: verify them, and turn verified claims into the caller (`Principal`).

Keys: the project's asymmetric signing keys from its JWKS (RS256/ES256, `JWKS_URL`) and/or the
legacy shared HS256 secret (`JWT_SECRET`, or the Secrets Manager secret `JWT_SECRET_NAME`). The
token's `alg` header picks the key; `none` and any algorithm without a configured key fail.

User tokens must carry `aud` = `jwt_audience` ("authenticated"). Supabase's service_role key
has no such audience (and `iss` "supabase"), so a token whose `role` is `service_role` is
accepted without the audience check and with `iss` either `jwt_issuer` or "supabase": it is
signed by the same project key, which only the project holds. Every token needs `exp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

import jwt

from scheduler.config import get_settings, secret_setting
from scheduler.errors import Unauthorized

SERVICE_ROLE = "service_role"
LEGACY_SERVICE_ISSUER = "supabase"
_ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
_LEEWAY_S = 10


@cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # One client per process: it caches the key set, refetching for an unknown kid (key rotation).
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=5)


def _key_for(token: str) -> tuple[Any, list[str]]:
    settings = get_settings()
    algorithm = jwt.get_unverified_header(token).get("alg")
    if algorithm == "HS256":
        secret = secret_setting(settings.jwt_secret, settings.jwt_secret_name)
        if secret:
            return secret, ["HS256"]
    elif algorithm in _ASYMMETRIC_ALGORITHMS and settings.jwks_url:
        signing_key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token)
        return signing_key.key, [str(algorithm)]
    raise Unauthorized("no key for this token's algorithm")


def verify_token(token: str) -> dict[str, Any]:
    """The verified claims of a Supabase access token, or Unauthorized (with no detail to leak)."""
    settings = get_settings()
    try:
        key, algorithms = _key_for(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            leeway=_LEEWAY_S,
        )
    except Unauthorized:
        raise
    except Exception as exc:  # every PyJWT / JWKS failure means the same to a caller: 401
        raise Unauthorized("invalid token") from exc
    if claims.get("role") == SERVICE_ROLE:
        issuers = {LEGACY_SERVICE_ISSUER, settings.jwt_issuer}
        if "iss" in claims and settings.jwt_issuer and claims["iss"] not in issuers:
            raise Unauthorized("wrong issuer")
        return claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.jwt_audience not in audiences:
        raise Unauthorized("wrong audience")
    if settings.jwt_issuer and claims.get("iss") != settings.jwt_issuer:
        raise Unauthorized("wrong issuer")
    return claims


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
