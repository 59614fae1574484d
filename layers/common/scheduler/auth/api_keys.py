"""The product's own service credentials, API keys: how one looks, is made and is recognised.

A key reads `wsk_<id>_<secret>`: the row's id (32 hex digits, not secret: the listing shows it)
and 256 random bits (64 hex digits). The `wsk_` prefix and the fixed form let secret scanners
recognise a leaked key. Only the SHA-256 of the secret is stored: the secret is random, so a
plain hash cannot be reversed, and a fast one costs nothing per request.

The authorizer only recognises the form and passes the id and the digest on (never the key);
ApiFunction looks the id up and compares digests in constant time on every request, so a
revoked key stops working at its next request, whatever API Gateway has cached. This module
imports nothing heavy: the authorizer loads it at every cold start.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field

PREFIX = "wsk_"
SECRET_BYTES = 32
_FORM = re.compile(r"wsk_([0-9a-f]{32})_([0-9a-f]{64})")


@dataclass(frozen=True)
class PresentedKey:
    """What a request's key says, unverified: the id it names and the digest of its secret."""

    key_id: str
    digest: str = field(repr=False)  # hex SHA-256 of the secret

    def matches(self, stored_digest: bytes) -> bool:
        """Whether the secret is the stored one (constant time: no timing says how close)."""
        try:
            digest = bytes.fromhex(self.digest)
        except ValueError:
            return False
        return hmac.compare_digest(digest, stored_digest)


@dataclass(frozen=True)
class IssuedKey:
    key_id: uuid.UUID
    key: str = field(repr=False)  # shown to its creator once, never stored
    digest: bytes = field(repr=False)  # what is stored


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def issue() -> IssuedKey:
    key_id = uuid.uuid4()
    secret = secrets.token_hex(SECRET_BYTES)
    return IssuedKey(key_id, f"{PREFIX}{key_id.hex}_{secret}", _digest(secret))


def is_api_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (well formed or not, in any case), so
    that a mistyped key is answered as a refused key (401), not as a refused token."""
    return token[: len(PREFIX)].lower() == PREFIX


def presented(token: str) -> PresentedKey | None:
    """The id and digest of a well-formed key; None for anything else."""
    match = _FORM.fullmatch(token)
    if match is None:
        return None
    return PresentedKey(key_id=match.group(1), digest=_digest(match.group(2)).hex())
