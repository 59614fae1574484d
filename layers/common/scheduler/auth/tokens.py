"""Supabase access tokens: verify them (the authorizer's job; the API trusts API Gateway's verdict).

Keys: the project's asymmetric signing keys from its JWKS (RS256/ES256, `JWKS_URL`, checked by
`scheduler.auth.jwks`) and/or the legacy shared HS256 secret (`JWT_SECRET`, or the Secrets Manager
secret `JWT_SECRET_NAME`). The token's `alg` header picks the key; `none` and any algorithm
without a configured key fail. Tokens are parsed by scheduler.auth.jws (not PyJWT, whose import cost
the authorizer a third of its cold start).

User tokens must carry `aud` = `jwt_audience` ("authenticated"). Supabase's service_role key
has no such audience (and `iss` "supabase"), so a token whose `role` is `service_role` is
accepted without the audience check and with `iss` either `jwt_issuer` or "supabase": it is
signed by the same project key, which only the project holds. Every token needs `exp`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from scheduler.auth import jws
from scheduler.auth.principal import SERVICE_ROLE
from scheduler.environment import environment_values, secret_setting
from scheduler.errors import Unauthorized

if TYPE_CHECKING:
    from scheduler.auth.jwks import KeySet

LEGACY_SERVICE_ISSUER = "supabase"
# What scheduler.auth.jwks checks (its ALGORITHMS), named here so that the authorizer loads it, and
# python-ecdsa and python-rsa with it, only once a token signed with a project key arrives.
JWKS_ALGORITHMS = frozenset({"ES256", "RS256"})
_LEEWAY_S = 10


@dataclass(frozen=True)
class TokenSettings:
    """Where the keys are and what tokens must say: JWKS_URL, JWT_SECRET or JWT_SECRET_NAME,
    JWT_ISSUER, JWT_AUDIENCE. An empty value means unset, as the template leaves them."""

    jwks_url: str | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_secret_name: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str = "authenticated"

    @classmethod
    def from_environment(cls) -> TokenSettings:
        # A few dictionary reads per token: cheaper than a cache tests would have to reset.
        return cls(**environment_values(("jwks_url", "jwt_secret", "jwt_secret_name",
                                         "jwt_issuer", "jwt_audience")))  # fmt: skip


@cache
def _key_set(url: str) -> KeySet:
    # One per process: it caches the keys, refetching for an unknown kid (key rotation).
    from scheduler.auth import jwks

    return jwks.KeySet(url)


def _hs256(secret: str) -> Callable[[bytes, bytes], bool]:
    key = secret.encode("utf-8")

    def verify(signing_input: bytes, signature: bytes) -> bool:
        expected = hmac.new(key, signing_input, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)

    return verify


def _verifier_for(token: str, settings: TokenSettings) -> Callable[[bytes, bytes], bool]:
    """The signature check for the key this service holds for the token's `alg` (and `kid`);
    the token chooses among configured keys only, never supplies one."""
    header = jws.unverified_header(token)
    algorithm = header.get("alg")
    if algorithm == "HS256":
        secret = secret_setting(settings.jwt_secret, settings.jwt_secret_name)
        if secret:
            return _hs256(secret)
    elif algorithm in JWKS_ALGORITHMS and settings.jwks_url:
        from scheduler.auth import jwks

        key = _key_set(settings.jwks_url).key_for(header.get("kid"), algorithm)
        verifier = jwks.ALGORITHMS[algorithm]
        return lambda signing_input, signature: verifier.verify(signing_input, key, signature)
    raise Unauthorized("no key for this token's algorithm")


def verify_token(token: str) -> dict[str, Any]:
    """The verified claims of a Supabase access token, or Unauthorized (with no detail to leak)."""
    settings = TokenSettings.from_environment()
    try:
        claims = jws.verified_claims(token, _verifier_for(token, settings))
        jws.check_times(claims, time.time(), _LEEWAY_S)
    except Unauthorized:
        raise
    except Exception as exc:  # every token or JWKS failure means the same to a caller: 401
        raise Unauthorized("invalid token") from exc
    if claims.get("role") == SERVICE_ROLE:
        issuers = {LEGACY_SERVICE_ISSUER, settings.jwt_issuer}
        if "iss" in claims and settings.jwt_issuer:
            issuer = claims["iss"]  # a string (RFC 7519 4.1.1); a list would not even hash
            if not isinstance(issuer, str) or issuer not in issuers:
                raise Unauthorized("wrong issuer")
        return claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    # RFC 7519 4.1.3: one audience string, or a list of them
    if settings.jwt_audience not in audiences or not all(isinstance(a, str) for a in audiences):
        raise Unauthorized("wrong audience")
    if settings.jwt_issuer and claims.get("iss") != settings.jwt_issuer:
        raise Unauthorized("wrong issuer")
    return claims
