"""scheduler.auth.jws: compact JWS as the authorizer reads it. Tokens are made with PyJWT (what
Supabase's tokens look like) or by hand where PyJWT would refuse to make them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from scheduler.auth import jws

SECRET = b"a-secret-of-at-least-thirty-two-bytes!!"
NOW = 1_800_000_000.0


def _verify(message: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(hmac.new(SECRET, message, hashlib.sha256).digest(), signature)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _signed(header: Any, claims: Any, *, raw: bool = False) -> str:
    """A token signed with SECRET; `raw`: header and claims are the segments' bytes as given."""
    encode = (lambda v: _b64(v)) if raw else (lambda v: _b64(json.dumps(v).encode()))
    signing_input = f"{encode(header)}.{encode(claims)}"
    signature = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_a_pyjwt_token_gives_its_claims() -> None:
    claims = {"sub": "u", "exp": int(NOW) + 60, "aud": "authenticated", "role": "authenticated"}
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    assert jws.unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert jws.verified_claims(token, _verify) == claims


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.sig",  # not base64url
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",  # padding is not part of JWS
        "eyJhbGciOiJIUzI1NiJ9.e30+.c2ln",  # the standard alphabet's +
        "eyJhbGciOiJIUzI1NiJ9.e30 .c2ln",
        "eyJhbGciOiJIUzI1NiJ9.e.c2ln",  # one character: no byte
        "x" * 20_000,
    ],
)
def test_what_is_not_three_base64url_segments_is_invalid(token: str) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verified_claims(token, _verify)


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        (b"not json", b'{"exp": 1}'),
        (b'["alg"]', b'{"exp": 1}'),  # not an object
        (b'{"alg": "HS256"}', b"[1, 2]"),
        (b'{"alg": "HS256"}', b"\xff\xfe"),  # not UTF-8
        (b'{"alg": "HS256"}', b"[" * 100_000),  # nested past the parser's recursion
    ],
)
def test_a_header_and_claims_must_be_json_objects(header: bytes, claims: bytes) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verified_claims(_signed(header, claims, raw=True), _verify)


def test_the_signature_is_checked_before_the_claims_are_read() -> None:
    token = _signed(b'{"alg": "HS256"}', b"not even json", raw=True)
    header, claims, _ = token.split(".")
    forged = f"{header}.{claims}.{_b64(b'0' * 32)}"

    with pytest.raises(jws.InvalidToken, match="bad signature"):
        jws.verified_claims(forged, _verify)
    with pytest.raises(jws.InvalidToken, match="not JSON"):
        jws.verified_claims(token, _verify)


def test_a_changed_claim_or_header_breaks_the_signature() -> None:
    token = jwt.encode({"sub": "u", "exp": int(NOW) + 60}, SECRET, algorithm="HS256")
    header, claims, signature = token.split(".")
    other = jwt.encode({"sub": "admin", "exp": int(NOW) + 60}, SECRET, algorithm="HS256")
    for forged in (
        f"{header}.{other.split('.')[1]}.{signature}",
        f"{_b64(b'{"alg":"none"}')}.{claims}.{signature}",
        f"{header}.{claims}.",
    ):
        with pytest.raises(jws.InvalidToken):
            jws.verified_claims(forged, _verify)


def test_a_critical_header_extension_is_refused() -> None:
    token = _signed({"alg": "HS256", "crit": ["b64"], "b64": False}, {"exp": NOW + 60})
    with pytest.raises(jws.InvalidToken, match="critical"):
        jws.unverified_header(token)
    with pytest.raises(jws.InvalidToken, match="critical"):
        jws.verified_claims(token, _verify)


@pytest.mark.parametrize(
    ("claims", "valid"),
    [
        ({"exp": NOW + 60}, True),
        ({"exp": NOW - 5}, True),  # within the 10 s leeway
        ({"exp": NOW - 10}, False),  # exactly the leeway: expired
        ({}, False),  # exp is required
        ({"exp": None}, False),
        ({"exp": "1900000000"}, False),  # a string is not a NumericDate
        ({"exp": True}, False),
        ({"exp": float("inf")}, False),
        ({"exp": float("nan")}, False),
        ({"exp": 10**400}, False),
        ({"exp": NOW + 60, "nbf": NOW + 5}, True),
        ({"exp": NOW + 60, "nbf": NOW + 11}, False),
        ({"exp": NOW + 60, "iat": NOW}, True),
        ({"exp": NOW + 60, "iat": NOW + 60}, False),  # issued in the future
        ({"exp": NOW + 60, "iat": "now"}, False),
    ],
)
def test_the_times_are_checked_with_leeway(claims: dict[str, Any], valid: bool) -> None:
    if valid:
        jws.check_times(claims, NOW, 10)
    else:
        with pytest.raises(jws.InvalidToken):
            jws.check_times(claims, NOW, 10)


def test_a_real_expired_token_is_refused_and_a_fresh_one_is_not() -> None:
    fresh = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    stale = jwt.encode({"exp": int(time.time()) - 3600}, SECRET, algorithm="HS256")
    jws.check_times(jws.verified_claims(fresh, _verify), time.time(), 10)
    with pytest.raises(jws.InvalidToken, match="expired"):
        jws.check_times(jws.verified_claims(stale, _verify), time.time(), 10)
