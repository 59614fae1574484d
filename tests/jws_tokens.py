"""Tokens for the JWS differential test (tests/unit/test_jws_differential.py): the keys it
publishes, signers of every kind (the right keys, impostors, a key too short, public keys used as
HMAC secrets, none), and a hypothesis strategy for tokens that are valid but for up to three odd
parts (a header field, a claim, a change before or after signing)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import strategies as st
from scheduler.auth import tokens

from tests.jwks_server import public_jwk

NOW = 1_800_000_000  # both verifiers' clock
LEEWAY_S = tokens._LEEWAY_S  # the authorizer's; PyJWT is given the same
SECRET = "legacy-jwt-secret-of-at-least-thirty-two-bytes"
ISSUER = "https://project.supabase.co/auth/v1"
USER = "00000000-0000-4000-8000-00000000a11c"
ALPHABET = string.ascii_letters + string.digits + "-_"
ABSENT = object()  # a header field or claim left out

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SHORT_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
EC_IMPOSTOR = ec.generate_private_key(ec.SECP256R1())
RSA_IMPOSTOR = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLISHED = [
    public_jwk(EC_KEY, "ec-1"),
    public_jwk(RSA_KEY, "rsa-1"),
    public_jwk(SHORT_RSA_KEY, "rsa-short"),  # too short for RS256: both must refuse its tokens
]


def _public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hmac(key: bytes) -> Callable[[bytes], bytes]:
    return lambda message: hmac.new(key, message, hashlib.sha256).digest()


def _with(algorithm: str, key: Any) -> Callable[[bytes], bytes]:
    return lambda message: jwt.get_algorithm_by_name(algorithm).sign(message, key)


# name: (the header's alg and kid a signer of that kind writes, how it signs)
SIGNERS: dict[str, tuple[str, str | None, Callable[[bytes], bytes]]] = {
    "hs256": ("HS256", None, _hmac(SECRET.encode())),
    "hs256-other-secret": ("HS256", None, _hmac(b"another-secret-of-thirty-two-bytes-or-more")),
    "es256": ("ES256", "ec-1", _with("ES256", EC_KEY)),
    "es256-impostor": ("ES256", "ec-1", _with("ES256", EC_IMPOSTOR)),
    "rs256": ("RS256", "rsa-1", _with("RS256", RSA_KEY)),
    "rs256-impostor": ("RS256", "rsa-1", _with("RS256", RSA_IMPOSTOR)),
    "rs256-short-key": ("RS256", "rsa-short", _with("RS256", SHORT_RSA_KEY)),
    # HS/RS confusion: the published public key used as an HMAC secret
    "hs256-rsa-public-key": ("HS256", "rsa-1", _hmac(_public_pem(RSA_KEY))),
    "hs256-ec-public-key": ("HS256", "ec-1", _hmac(_public_pem(EC_KEY))),
    "unsigned": ("none", None, lambda message: b""),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def json_segment(value: Any) -> str:
    return b64(json.dumps(value).encode())  # NaN and Infinity as Python's json writes them


def present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not ABSENT}


def signed_token(
    claims: dict[str, Any],
    signer: str = "hs256",
    *,
    before_signing: Callable[[str], str] = str,
    **header: Any,
) -> str:
    """A token signed by `signer`, its signing input changed by `before_signing`; `header` adds
    to or replaces the signer's own alg and kid (ABSENT leaves one out)."""
    alg, kid, sign = SIGNERS[signer]
    fields = present({"alg": alg, "typ": "JWT", "kid": kid or ABSENT} | header)
    signing_input = f"{json_segment(fields)}.{json_segment(present(claims))}"
    signing_input = before_signing(signing_input)
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def user_claims(**changes: Any) -> dict[str, Any]:
    claims = {"sub": USER, "role": "authenticated", "aud": "authenticated", "iss": ISSUER}
    return claims | {"exp": NOW + 600, "iat": NOW} | changes


# Token generation: mostly what a signer of each kind writes, with odd values mixed in.
ODD_TIMES = [NOW - 86_400, NOW + 86_400, 0, -1, 1e300, -1e300, 10**400, float("nan"),
             float("inf"), str(NOW + 600), "now", True, False, None, [NOW + 600]]  # fmt: skip
ODD_ALGS = ["HS256", "ES256", "RS256", "none", "None", "NONE", "HS384", "HS512", "ES384",
            "RS512", "PS256", "EdDSA", "", None, 256, ["HS256"]]  # fmt: skip
ODD_KIDS = ["ec-1", "rsa-1", "rsa-short", "unknown", "", "EC-1", "ec-1 ", None, 5, ["ec-1"],
            {"kid": "ec-1"}]  # fmt: skip
HEADER_EXTRAS = [
    {"typ": "at+jwt"},
    {"typ": 5},
    {"b64": True},
    {"crit": ["b64"], "b64": True},
    {"crit": ["b64"], "b64": False},
    {"crit": ["exp"], "exp": NOW},
    {"crit": []},
    {"crit": "b64"},
    {"jku": "https://attacker.example/jwks.json"},
    {"jwk": public_jwk(EC_IMPOSTOR, "ec-1")},
    # Not {"b64": False} without crit: PyJWT refuses it, ours ignores it (as RFC 7515 4 says of
    # a header field it does not understand); test_where_they_differ_and_why has that case.
]
ODD_AUDIENCES = ["anon", ["authenticated"], ["anon", "authenticated"], ["anon"], [], "",
                 None, 5, ["authenticated", 5], {"authenticated": True}]  # fmt: skip
ODD_ISSUERS = ["supabase", ISSUER + "/", "", None, 5, [ISSUER], {"iss": ISSUER}]
ODD_ROLES = ["service_role", "anon", None, ["service_role"]]


def _around(instant: int) -> st.SearchStrategy[int]:
    return st.integers(instant - 3, instant + 3)


def pad(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


def noncanonical(segment: str) -> str:
    """The same bytes with an unused bit of the last character set: RFC 4648 3.5's canonical
    encoding leaves those bits zero. A segment of whole 3-byte groups has none."""
    if len(segment) % 4 in (0, 1) or segment[-1] not in ALPHABET:
        return segment
    return segment[:-1] + ALPHABET[ALPHABET.index(segment[-1]) ^ 1]


def on_segment(index: int, change: Callable[[str], str]) -> Callable[[str], str]:
    def changed(token: str) -> str:
        segments = token.split(".")
        if index < len(segments):  # a tampered token may have lost a dot
            segments[index] = change(segments[index])
        return ".".join(segments)

    return changed


UNCHANGED: Callable[[str], str] = str
BEFORE_SIGNING: dict[str, Callable[[str], str]] = {
    "pad-header": on_segment(0, pad),
    "pad-claims": on_segment(1, pad),
    "standard-alphabet": lambda text: text.translate(str.maketrans("-_", "+/")),
    "noncanonical-header": on_segment(0, noncanonical),
    "noncanonical-claims": on_segment(1, noncanonical),
}
AFTER_SIGNING: dict[str, Callable[[str], str]] = {
    "pad-signature": on_segment(2, pad),
    "noncanonical-signature": on_segment(2, noncanonical),
    "drop-signature": on_segment(2, lambda segment: ""),
    "extra-segment": lambda token: token + ".e30",
    "two-segments": lambda token: token.rsplit(".", 1)[0],
    "truncate": lambda token: token[:-1],
}


VALID_SIGNERS = ["hs256", "es256", "rs256"]
ODD: dict[str, st.SearchStrategy[Any]] = {  # for each part of a token, what it may be instead
    "signer": st.sampled_from(sorted(set(SIGNERS) - set(VALID_SIGNERS))),
    "alg": st.sampled_from([ABSENT, *ODD_ALGS]),
    "kid": st.sampled_from([ABSENT, *ODD_KIDS]),
    "header": st.sampled_from(HEADER_EXTRAS),
    "sub": st.sampled_from([ABSENT, "", 5, [USER]]),
    "role": st.sampled_from([ABSENT, *ODD_ROLES]),
    "aud": st.sampled_from([ABSENT, *ODD_AUDIENCES]),
    "iss": st.sampled_from([ABSENT, *ODD_ISSUERS]),
    "exp": st.one_of(_around(NOW - LEEWAY_S), st.sampled_from([ABSENT, *ODD_TIMES])),
    "nbf": st.one_of(_around(NOW + LEEWAY_S), st.sampled_from(ODD_TIMES)),
    "iat": st.one_of(_around(NOW + LEEWAY_S), st.sampled_from([ABSENT, *ODD_TIMES])),
    "jti": st.sampled_from([5, ["id-1"]]),
    "filler": st.sampled_from([300, 20_000]).map(lambda size: "x" * size),  # 20 KB: huge
    "before signing": st.sampled_from(list(BEFORE_SIGNING.values())),
    "tampered": st.just(True),  # one character changed anywhere
    "signature of other claims": st.just(True),  # a real signature of this signer's
    "after signing": st.sampled_from(list(AFTER_SIGNING.values())),
}


@st.composite
def generated_tokens(draw: st.DrawFn) -> str:
    """A token with up to three odd parts (none: a valid token; shrinking heads there)."""
    odd = set(draw(st.permutations(sorted(ODD)))[: draw(st.integers(0, 3))])
    service = draw(st.booleans())
    signer = draw(st.sampled_from(VALID_SIGNERS))
    usual = {
        "signer": signer,
        "alg": SIGNERS[signer][0],
        "kid": SIGNERS[signer][1] or ABSENT,
        "header": {},
        "sub": USER,
        "role": "service_role" if service else "authenticated",
        "aud": ABSENT if service else "authenticated",
        "iss": "supabase" if service else ISSUER,
        "exp": NOW + 600,
        "nbf": ABSENT,
        "iat": NOW,
        "jti": "id-1",
        "filler": "",
        "before signing": UNCHANGED,
        "tampered": False,
        "signature of other claims": False,
        "after signing": UNCHANGED,
    }
    part = {name: draw(ODD[name]) if name in odd else usual[name] for name in usual}
    if "signer" in odd:  # the header an odd signer writes, unless alg or kid is odd too
        alg, kid, _ = SIGNERS[part["signer"]]
        part["alg"] = part["alg"] if "alg" in odd else alg
        part["kid"] = part["kid"] if "kid" in odd else kid or ABSENT
    header = {"alg": part["alg"], "kid": part["kid"]} | part["header"]
    claims = {name: part[name] for name in ("sub", "role", "aud", "iss", "exp", "nbf", "iat")}
    claims |= {"jti": part["jti"], "filler": part["filler"]}
    token = signed_token(claims, part["signer"], before_signing=part["before signing"], **header)
    if part["tampered"]:
        position = draw(st.integers(0, len(token) - 1))
        token = token[:position] + draw(st.sampled_from(ALPHABET + ".= ")) + token[position + 1 :]
    if part["signature of other claims"]:
        other = signed_token({"exp": NOW + 600}, part["signer"], **header)
        token = token.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[-1]
    return part["after signing"](token)


def flip_a_signature_bit(token: str) -> str:
    signing_input, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(pad(signature)))
    raw[len(raw) // 2] ^= 1
    return f"{signing_input}.{b64(bytes(raw))}"


def nested(depth: int) -> Callable[[str], str]:
    claims = b'{"exp": %d, "a": %s%s}' % (NOW + 600, b"[" * depth, b"]" * depth)
    return on_segment(1, lambda segment: b64(claims))
