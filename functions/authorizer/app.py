"""AuthorizerFunction: HTTP API Lambda authorizer (payload 2.0, simple responses).

Checks Supabase access tokens signed with the legacy HS256 secret or with the project's JWKS
keys. API Gateway's native JWT authorizer could do neither for most projects: it needs a JWKS
and checks RSA signatures only, while Supabase signs with ES256 by default. The verified claims
go to ApiFunction as `authorizer.lambda`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from scheduler.errors import Unauthorized
from scheduler.observability import logger
from scheduler.tokens import verify_token

_DENY: dict[str, Any] = {"isAuthorized": False}


def _context_value(value: Any) -> str | int | float | bool:
    # Authorizer context values must be scalars.
    return value if isinstance(value, str | int | float | bool) else str(value)


def authorize(authorization: str) -> dict[str, Any] | None:
    """The context API Gateway hands to ApiFunction for this Authorization header; None: deny."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        claims = verify_token(token.strip())
    except Unauthorized:
        return None
    return {name: _context_value(value) for name, value in claims.items()}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    granted = authorize((event.get("headers") or {}).get("authorization", ""))
    return _DENY if granted is None else {"isAuthorized": True, "context": granted}
