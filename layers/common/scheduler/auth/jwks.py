"""The Supabase project's public signing keys (its JWKS) and how their signatures are checked.

Supabase signs access tokens with an asymmetric key, ES256 (P-256, the default) or RS256,
published at `<project>/auth/v1/.well-known/jwks.json`. JWT libraries check those algorithms
through `cryptography`, a native library of 15 MB: half of what the functions would deploy.
Checking a signature involves no secret, so pure-Python arithmetic is enough here and safe from
timing leaks: ES256 through python-ecdsa, RS256 through python-rsa (google-auth's choice when
`cryptography` is absent). They verify only, they never sign; scheduler.auth.jws parses the tokens
and scheduler.auth.tokens checks their claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import ecdsa
import rsa
from ecdsa.util import sigdecode_string

from scheduler.errors import Unauthorized

MIN_RSA_BITS = 2048
P256_COORDINATE_BYTES = 32


class InvalidKey(ValueError):
    """A published key this service cannot use (wrong type or curve, too short, malformed)."""


def _b64_field(jwk: dict[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidKey(f"the key has no {name}")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey(f"the key's {name} is not base64url") from exc


class ES256:
    """ECDSA on P-256 with SHA-256; the signature is r || s, 32 bytes each (RFC 7518 3.4)."""

    def verify(self, msg: bytes, key: ecdsa.VerifyingKey, sig: bytes) -> bool:
        if len(sig) != 2 * P256_COORDINATE_BYTES:
            return False
        try:
            return bool(key.verify(sig, msg, hashfunc=hashlib.sha256, sigdecode=sigdecode_string))
        except ecdsa.BadSignatureError:
            return False

    @staticmethod
    def from_jwk(jwk: dict[str, Any]) -> ecdsa.VerifyingKey:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise InvalidKey("not a P-256 key")
        x, y = _b64_field(jwk, "x"), _b64_field(jwk, "y")
        if len(x) != P256_COORDINATE_BYTES or len(y) != P256_COORDINATE_BYTES:
            raise InvalidKey("a P-256 coordinate is not 32 bytes")
        try:  # from_string checks that the point lies on the curve
            return ecdsa.VerifyingKey.from_string(x + y, curve=ecdsa.NIST256p)
        except ecdsa.MalformedPointError as exc:
            raise InvalidKey("not a point of P-256") from exc


class RS256:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3); keys of at least 2048 bits."""

    def verify(self, msg: bytes, key: rsa.PublicKey, sig: bytes) -> bool:
        try:
            # python-rsa rebuilds the whole padded block and compares it; it names the hash the
            # signature was made with, which must be SHA-256 and nothing weaker.
            return rsa.verify(msg, sig, key) == "SHA-256"
        except rsa.VerificationError:
            return False

    @staticmethod
    def from_jwk(jwk: dict[str, Any]) -> rsa.PublicKey:
        if jwk.get("kty") != "RSA":
            raise InvalidKey("not an RSA key")
        n = int.from_bytes(_b64_field(jwk, "n"), "big")
        e = int.from_bytes(_b64_field(jwk, "e"), "big")
        if n.bit_length() < MIN_RSA_BITS or e < 3 or e % 2 == 0:
            raise InvalidKey("the RSA key is too short or malformed")
        return rsa.PublicKey(n, e)


_log = logging.getLogger(__name__)

ALGORITHMS: dict[str, ES256 | RS256] = {"ES256": ES256(), "RS256": RS256()}
_KEY_TYPES = {"EC": "ES256", "RSA": "RS256"}


class KeySet:
    """The keys published at `url`, by kid: fetched on first use, again after `lifespan_s`, and
    again for a kid not held (a rotated key), but not more than once per `refetch_after_s` so
    tokens with made-up kids cannot make every request a fetch.

    A failed fetch (the project's auth service down, a timeout, a garbled answer) keeps the last
    good keys: tokens signed by them keep verifying while the JWKS is out, for up to
    `max_stale_s` after the last good fetch (a bound, because a key revoked during the outage
    stays trusted until then). Failed fetches back off exponentially with jitter, from
    `retry_after_s` up to `max_retry_after_s`, so an outage costs one slow request per backoff
    step rather than every request waiting for a fetch that will fail.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        lifespan_s: float = 600.0,
        refetch_after_s: float = 30.0,
        max_stale_s: float = 86_400.0,
        retry_after_s: float = 5.0,
        max_retry_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._lifespan_s = lifespan_s
        self._refetch_after_s = refetch_after_s
        self._max_stale_s = max_stale_s
        self._retry_after_s = retry_after_s
        self._max_retry_after_s = max_retry_after_s
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Any]] = {}  # kid -> (algorithm, public key)
        self._fetched_at: float | None = None  # of the last good fetch
        self._attempted_at: float | None = None  # of the last fetch, good or failed
        self._failures = 0  # failed fetches since the last good one
        self._next_attempt_at = 0.0

    def key_for(self, kid: Any, algorithm: str) -> Any:
        """The public key `kid` names, if it is published for `algorithm`; else Unauthorized."""
        if not isinstance(kid, str):
            raise Unauthorized("the token names no key")
        with self._lock:
            if self._wants_fetch(kid) and self._clock() >= self._next_attempt_at:
                self._refresh()
            if self._fetched_at is None or self._clock() - self._fetched_at > self._max_stale_s:
                raise Unauthorized("the signing keys could not be fetched")
            published = self._keys.get(kid)
        if published is None or published[0] != algorithm:
            raise Unauthorized("no published key for this token")
        return published[1]

    def _wants_fetch(self, kid: str) -> bool:
        if self._fetched_at is None or self._attempted_at is None:
            return True
        now = self._clock()
        if now - self._fetched_at > self._lifespan_s:
            return True
        return kid not in self._keys and now - self._attempted_at >= self._refetch_after_s

    def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            keys = self._fetch()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            self._failures += 1
            backoff = min(self._max_retry_after_s, self._retry_after_s * 2 ** (self._failures - 1))
            # Full jitter's upper half: many cold authorizers do not retry in step.
            self._next_attempt_at = self._clock() + backoff * (0.5 + self._jitter() / 2)
            _log.warning(
                "JWKS fetch failed (%s); %s",
                type(exc).__name__,
                "serving the last good keys" if self._fetched_at is not None else "no keys yet",
            )
            return
        self._keys, self._fetched_at = keys, self._clock()
        self._failures, self._next_attempt_at = 0, 0.0

    def _fetch(self) -> dict[str, tuple[str, Any]]:
        """The published signing keys; OSError, ValueError or HTTPException if unreadable."""
        # The URL is the operator's setting (JWKS_URL), never a token's.
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            document = json.load(response)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document")  # e.g. a proxy's error page: not authoritative
        keys: dict[str, tuple[str, Any]] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            kty = jwk.get("kty")
            name = jwk.get("alg") or (_KEY_TYPES.get(kty) if isinstance(kty, str) else None)
            if not (isinstance(name, str) and name in ALGORITHMS):
                continue  # an algorithm this service does not accept tokens for (HS256, EdDSA)
            if not isinstance(jwk.get("kid"), str):
                continue
            try:
                keys[jwk["kid"]] = (name, ALGORITHMS[name].from_jwk(jwk))
            except ValueError:  # InvalidKey among them
                continue
        return keys
