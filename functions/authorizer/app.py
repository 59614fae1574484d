"""AuthorizerFunction: HTTP API Lambda authorizer (payload 2.0, simple responses).

Checks Supabase access tokens signed with the legacy HS256 secret or with the project's JWKS
keys. API Gateway's native JWT authorizer could do neither for most projects: it needs a JWKS
and checks RSA signatures only, while Supabase signs with ES256 by default. The verified claims
go to ApiFunction as `authorizer.lambda`. API keys (`wsk_...`) are recognised here and checked
by ApiFunction (see `_api_key_context`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler.auth import api_keys
from scheduler.auth.principal import API_KEY_CREDENTIAL, TOKEN_CREDENTIAL
from scheduler.auth.tokens import verify_token
from scheduler.errors import Unauthorized
from scheduler.observability import logger

_DENY: dict[str, Any] = {"isAuthorized": False}


def _context_value(value: Any) -> str | int | float | bool:
    # Authorizer context values must be scalars.
    return value if isinstance(value, str | int | float | bool) else str(value)


def authorize(authorization: str) -> dict[str, Any] | None:
    """The context API Gateway hands to ApiFunction for this Authorization header; None: deny."""
    parts = authorization.split(None, 1)  # any whitespace between scheme and credential
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    token = parts[1].strip()
    if api_keys.is_api_key(token):
        return _api_key_context(token)
    try:
        claims = verify_token(token)
    except Unauthorized:
        return None
    context = {name: _context_value(value) for name, value in claims.items()}
    # Set last, so that no claim in a token can pass it off as an API key.
    context["credential"] = TOKEN_CREDENTIAL
    return context


def _api_key_context(token: str) -> dict[str, Any]:
    """An API key goes on to ApiFunction, which checks it against the database on every
    request (so revocation is immediate, whatever API Gateway caches) and answers 401 for a key
    it refuses. Only its id and digest travel, never the key; a malformed key travels as
    neither, and is refused there."""
    key = api_keys.presented(token)
    context: dict[str, Any] = {"credential": API_KEY_CREDENTIAL}
    if key is not None:
        context.update(keyId=key.key_id, keyDigest=key.digest)
    return context


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    granted = authorize((event.get("headers") or {}).get("authorization", ""))
    return _DENY if granted is None else {"isAuthorized": True, "context": granted}
