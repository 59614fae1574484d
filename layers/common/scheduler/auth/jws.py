"""Compact JWS (RFC 7515) as Supabase access tokens use it: read the header, check the
signature with the one key the header's `alg` selects, read the claims, check their times.

The authorizer once did this through PyJWT, whose package import loads its JWKS client and with
it urllib.request, http.client, ssl, email and tempfile: a third of the authorizer's cold start,
for nothing the authorizer used (it picks its own keys and checks its own algorithms, see
scheduler.auth.tokens and scheduler.auth.jwks). What is left is small and strict:

- exactly three base64url segments of the URL-safe alphabet, no padding, nothing skipped, each
  the one spelling of its bytes (RFC 4648 3.5: a last character's unused bits are zero);
- a header and claims that are JSON objects; a header with `crit` is refused (no extension is
  understood here, RFC 7515 4.1.11), and so is a `kid` that is not a string (4.1.4);
- the signature checked before the claims are read, by the caller's verifier for the algorithm
  it chose from its own configuration (never a key or an algorithm the token supplies);
- `exp` required; `nbf` and `iat` when present; each a finite number, checked with `leeway`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from typing import Any

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TOKEN_CHARS = 16 * 1024  # a Supabase token is under 2 KiB; refuse before decoding a flood


class InvalidToken(ValueError):
    """Not a well-formed, correctly signed, currently valid token."""


def _decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not base64url") from exc
    # Stray bits in the last character decode to the same bytes: without this check, one
    # signature has up to 16 spellings, and so one token as many strings.
    if base64.urlsafe_b64encode(data).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidToken("not canonical base64url")
    return data


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(segment))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidToken("not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("not a JSON object")
    return value


def _segments(token: str) -> list[str]:
    if len(token) > _MAX_TOKEN_CHARS:
        raise InvalidToken("too long")
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken("not three segments")
    return segments


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, to choose the key by; nothing in it is trusted yet."""
    header = _json_object(_segments(token)[0])
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    if not isinstance(header.get("kid", ""), str):
        raise InvalidToken("kid is not a string")
    return header


def verified_claims(token: str, verify: Callable[[bytes, bytes], bool]) -> dict[str, Any]:
    """The claims of a token whose signature `verify(signing_input, signature)` accepts."""
    header, claims, signature = _segments(token)
    unverified_header(token)
    if not verify(f"{header}.{claims}".encode("ascii"), _decode(signature)):
        raise InvalidToken("bad signature")
    return _json_object(claims)


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} is not a number")
    try:
        number = float(value)
    except OverflowError as exc:  # an integer of hundreds of digits
        raise InvalidToken(f"{name} is out of range") from exc
    if not math.isfinite(number):  # json reads NaN and Infinity, which compare false with all
        raise InvalidToken(f"{name} is not a number")
    return number


def check_times(claims: dict[str, Any], now: float, leeway_s: float) -> None:
    """`exp` (required) not passed, `nbf` and `iat` reached: each with `leeway_s`."""
    expires = _number(claims, "exp")
    if expires is None:
        raise InvalidToken("no exp")
    if now - leeway_s >= expires:
        raise InvalidToken("expired")
    not_before = _number(claims, "nbf")
    if not_before is not None and now + leeway_s < not_before:
        raise InvalidToken("not yet valid")
    issued = _number(claims, "iat")
    if issued is not None and now + leeway_s < issued:
        raise InvalidToken("issued in the future")
