"""Our token verifier (scheduler.auth.tokens over scheduler.auth.jws and scheduler.auth.jwks)
against PyJWT with `cryptography`, on generated tokens and on named cases: both must give the same
verdict, refused or the same claims. Each way they differ is in DIFFERENCES with its reason (RFC
7515, 7519); a generated token that ours refuses on purpose is recognised by `_refused_on_purpose`
and checked as a refusal, never left out.

Both get the same policy: the legacy HS256 secret and the project's JWKS (ES256, RS256, keys of
at least 2048 bits, RFC 7518 3.3), the audience "authenticated" for users, the issuer ISSUER
("supabase" too for service_role tokens, which have no audience), `exp` required, a 10 s leeway
and one frozen clock, so that the boundaries (`exp` exactly at the leeway) are compared exactly.
verify_token does not read `sub` or `jti` (Principal.from_claims checks `sub`), so PyJWT's type
checks of those two are off.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, tzinfo
from functools import partial
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from hypothesis import event, given, settings
from scheduler.auth import jws, tokens
from scheduler.auth.principal import Principal
from scheduler.errors import Unauthorized

from tests.jwks_server import serve_jwks
from tests.jws_tokens import (
    ABSENT,
    ISSUER,
    LEEWAY_S,
    NOW,
    PUBLISHED,
    SECRET,
    flip_a_signature_bit,
    generated_tokens,
    nested,
    noncanonical,
    on_segment,
    pad,
    signed_token,
    user_claims,
)

REFUSED = None  # a verdict: refused, or the claims
PYJWT_KEYS = jwt.PyJWKSet.from_dict({"keys": PUBLISHED})
PYJWT_OPTIONS: dict[str, Any] = {
    "require": ["exp"],
    "verify_sub": False,
    "verify_jti": False,
    "enforce_minimum_key_length": True,
}


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenDatetime:
        return cls.fromtimestamp(NOW, tz)


@pytest.fixture(scope="module")
def policy() -> Iterator[None]:
    """Both verifiers configured alike: one secret, one JWKS endpoint, one frozen clock."""
    with serve_jwks(PUBLISHED) as endpoint, pytest.MonkeyPatch.context() as patch:
        patch.setenv("JWT_SECRET", SECRET)
        patch.setenv("JWT_ISSUER", ISSUER)
        patch.setenv("JWKS_URL", endpoint.url)
        patch.delenv("JWT_SECRET_NAME", raising=False)
        patch.delenv("JWT_AUDIENCE", raising=False)
        patch.setattr(tokens, "time", SimpleNamespace(time=lambda: float(NOW)))
        patch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime)  # PyJWT's clock: datetime.now
        yield
    tokens._key_set.cache_clear()


def our_verdict(token: str) -> dict[str, Any] | None:
    try:
        return tokens.verify_token(token)
    except Unauthorized:  # anything else is a crash: the test fails on it
        return REFUSED


def pyjwt_verdict(token: str) -> dict[str, Any] | None:
    """PyJWT's verdict under the product's policy (scheduler.auth.tokens' docstring): the legacy
    secret for HS256, else the published key the kid names; signature, times and `exp` first,
    then the audience and issuer that the verified `role` calls for."""
    try:
        header = jwt.get_unverified_header(token)
        key = SECRET if header.get("alg") == "HS256" else PYJWT_KEYS[header.get("kid")]
        decode = partial(jwt.decode, token, key, ["HS256", "ES256", "RS256"], leeway=LEEWAY_S)
        claims = decode(options=PYJWT_OPTIONS | {"verify_aud": False, "verify_iss": False})
        if claims.get("role") != "service_role":
            decode(options=PYJWT_OPTIONS, audience="authenticated", issuer=ISSUER)
        elif "iss" in claims:
            decode(options=PYJWT_OPTIONS | {"verify_aud": False}, issuer=["supabase", ISSUER])
        return claims
    except (jwt.PyJWTError, KeyError):  # KeyError: no published key has that kid
        return REFUSED


def _lenient_json(segment: str) -> Any:
    """What a segment says, padded or not; None if it says nothing readable."""
    unpadded = segment.rstrip("=")
    try:
        return json.loads(base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4)))
    except (ValueError, RecursionError):
        return None


def _not_a_json_number(value: Any) -> bool:
    """A string, a bool or an integer past any float: PyJWT's int() takes them, ours does not."""
    if isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return True
    return False


def _refused_on_purpose(token: str) -> str | None:
    """Why ours refuses this token whatever PyJWT says (it accepts some of these); None: the two
    must agree."""
    if len(token) > jws._MAX_TOKEN_CHARS:
        return "longer than any Supabase token: refused before decoding (a flood)"
    if "=" in token:
        return "padding: RFC 7515 2 omits '='; PyJWT accepts it for AWS ALB's tokens"
    segments = token.split(".")
    header = _lenient_json(segments[0])
    if isinstance(header, dict) and "crit" in header:
        return "crit: ours understands no extension (RFC 7515 4.1.11); PyJWT knows b64 (RFC 7797)"
    claims = _lenient_json(segments[1]) if len(segments) > 1 else None
    if isinstance(claims, dict) and any(
        _not_a_json_number(claims[name]) for name in ("exp", "nbf", "iat") if name in claims
    ):
        return "a NumericDate that is not a JSON number (RFC 7519 2): PyJWT int()s a string or bool"
    return None


def _said(verdict: dict[str, Any] | None) -> str:
    return "refused" if verdict is REFUSED else "accepted"


@settings(max_examples=500, deadline=None)
@given(token=generated_tokens())
def test_ours_and_pyjwt_agree_on_generated_tokens(policy: None, token: str) -> None:
    ours, theirs = our_verdict(token), pyjwt_verdict(token)

    reason = _refused_on_purpose(token)
    # --hypothesis-show-statistics shows how many were accepted, and by which
    event(f"ours {_said(ours)}, PyJWT {_said(theirs)}" + (" (on purpose)" if reason else ""))
    if reason is None:
        assert ours == theirs, f"ours: {ours!r}, PyJWT: {theirs!r}"
    else:
        assert ours is REFUSED, reason


def _claims_of(token: str, other: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{other.split('.')[1]}.{signature}"


VALID = user_claims()
SERVICE = {"role": "service_role", "iss": "supabase", "exp": NOW + 600}
# Each category the issue names: what both must accept...
BOTH_ACCEPT = {
    "hs256": signed_token(VALID),
    "es256": signed_token(VALID, "es256"),
    "rs256": signed_token(VALID, "rs256"),
    "service-role": signed_token(SERVICE, "es256"),
    "service-role-project-issuer": signed_token(SERVICE | {"iss": ISSUER}),
    "aud-list": signed_token(user_claims(aud=["x", "authenticated"])),
    "exp-within-leeway": signed_token(user_claims(exp=NOW - LEEWAY_S + 1)),
    "nbf-within-leeway": signed_token(user_claims(nbf=NOW + LEEWAY_S)),
}
# ...and what both must refuse.
BOTH_REFUSE = {
    # tampered
    "tampered-claims": _claims_of(signed_token(VALID), signed_token(user_claims(sub="admin"))),
    "tampered-signature": flip_a_signature_bit(signed_token(VALID, "es256")),
    "other-ec-key": signed_token(VALID, "es256-impostor"),
    "other-rsa-key": signed_token(VALID, "rs256-impostor"),
    "other-secret": signed_token(VALID, "hs256-other-secret"),
    # the same signature, or claims, spelt with stray bits (RFC 4648 3.5)
    "signature-stray-bits": on_segment(2, noncanonical)(signed_token(VALID, "es256")),
    "claims-stray-bits": signed_token(
        user_claims(filler=""), before_signing=on_segment(1, noncanonical)
    ),
    # wrong algorithm
    "alg-hs512": signed_token(VALID, alg="HS512"),
    "alg-ps256": signed_token(VALID, "rs256", alg="PS256"),
    "rs256-with-an-ec-kid": signed_token(VALID, "rs256", kid="ec-1"),
    "rsa-1024-bits": signed_token(VALID, "rs256-short-key"),
    # none
    "alg-none": signed_token(VALID, "unsigned"),
    "alg-None": signed_token(VALID, "unsigned", alg="None"),
    "alg-none-with-a-signature": signed_token(VALID, alg="none"),
    "alg-none-with-a-kid": signed_token(VALID, "unsigned", kid="ec-1"),
    # HS/RS confusion: a public key as the HMAC secret, or an HMAC under an RS256 header
    "hs256-rsa-pem": signed_token(VALID, "hs256-rsa-public-key"),
    "hs256-ec-pem": signed_token(VALID, "hs256-ec-public-key"),
    "rs256-header-hmac": signed_token(VALID, alg="RS256", kid="rsa-1"),
    # bad padding and alphabet
    "segment-1-mod-4": on_segment(2, lambda segment: segment + "AA")(signed_token(VALID)),
    "standard-alphabet": signed_token(
        user_claims(filler="?????"),  # whose base64 has a '_' wherever it falls
        before_signing=lambda text: text.translate(str.maketrans("-_", "+/")),
    ),
    "four-segments": signed_token(VALID) + ".",
    # odd kid
    "kid-unknown": signed_token(VALID, "es256", kid="unknown"),
    "kid-missing": signed_token(VALID, "es256", kid=ABSENT),
    "kid-empty": signed_token(VALID, "es256", kid=""),
    "kid-list": signed_token(VALID, "es256", kid=["ec-1"]),
    "kid-number-on-hs256": signed_token(VALID, kid=5),
    "kid-null-on-hs256": signed_token(VALID, kid=None),
    # expired, not yet valid
    "expired-at-the-leeway": signed_token(user_claims(exp=NOW - LEEWAY_S)),
    "expired-yesterday": signed_token(user_claims(exp=NOW - 86_400)),
    "no-exp": signed_token(user_claims(exp=ABSENT)),
    "exp-nan": signed_token(user_claims(exp=float("nan"))),
    "nbf-beyond-leeway": signed_token(user_claims(nbf=NOW + LEEWAY_S + 1)),
    "iat-in-the-future": signed_token(user_claims(iat=NOW + LEEWAY_S + 1)),
    # huge: nested deeper than the JSON parser goes (a longer token: DIFFERENCES)
    "claims-nested-deep": signed_token({}, before_signing=nested(5_000)),
    # audience and issuer
    "aud-other": signed_token(user_claims(aud="anon")),
    "aud-missing": signed_token(user_claims(aud=ABSENT)),
    "aud-with-a-number": signed_token(user_claims(aud=["authenticated", 5])),
    "iss-legacy-on-a-user": signed_token(user_claims(iss="supabase")),
    "service-role-other-issuer": signed_token(SERVICE | {"iss": "other"}),
    "service-role-issuer-list": signed_token(SERVICE | {"iss": [ISSUER]}),
    "service-role-issuer-object": signed_token(SERVICE | {"iss": {"a": 1}}),
}


@pytest.mark.parametrize(
    ("token", "accepted"),
    [pytest.param(token, True, id=name) for name, token in BOTH_ACCEPT.items()]
    + [pytest.param(token, False, id=name) for name, token in BOTH_REFUSE.items()],
)
def test_ours_and_pyjwt_agree_on_each_named_case(policy: None, token: str, accepted: bool) -> None:
    ours, theirs = our_verdict(token), pyjwt_verdict(token)

    assert ours == theirs, f"ours: {ours!r}, PyJWT: {theirs!r}"
    assert (ours is not REFUSED) == accepted
    assert _refused_on_purpose(token) is None  # agreement expected, not excused


# Where the two differ, and why: name -> (token, ours accepts, PyJWT accepts). Times are integers
# in the generated tokens: the fractional ones are here.
DIFFERENCES = {
    # RFC 7515 2: base64url without '='. PyJWT allows padding for AWS ALB's tokens.
    "padding": (
        signed_token(user_claims(filler="xx"), before_signing=on_segment(1, pad)),
        False,
        True,
    ),
    # Over 16 KiB, refused before anything is decoded: a Supabase token is under 2 KiB.
    "huge": (signed_token(user_claims(filler="x" * 20_000)), False, True),
    # RFC 7515 4.1.11: ours implements no extension, so refuses any crit; PyJWT knows b64.
    "crit-b64": (signed_token(VALID, crit=["b64"], b64=True), False, True),
    # RFC 7519 2: a NumericDate is a JSON number. PyJWT int()s a numeric string, and a bool.
    "exp-string": (signed_token(user_claims(exp=str(NOW + 600))), False, True),
    "nbf-true": (signed_token(user_claims(nbf=True)), False, True),
    # Past any float: ours refuses it as out of range, PyJWT compares the integer.
    "exp-10**400": (signed_token(user_claims(exp=10**400)), False, True),
    # RFC 7519 2: a NumericDate may be fractional; PyJWT truncates it to an integer, ending a
    # token up to a second early and starting it up to a second late.
    "exp-half-a-second-ahead": (signed_token(user_claims(exp=NOW - LEEWAY_S + 0.5)), True, False),
    "nbf-half-a-second-ahead": (signed_token(user_claims(nbf=NOW + LEEWAY_S + 0.5)), False, True),
    # b64 false without crit: a field ours does not know, so ignores (RFC 7515 4) while checking
    # the signature over the segments as sent; PyJWT applies RFC 7797 6, which wants it in crit.
    "b64-false-not-crit": (signed_token(VALID, b64=False), True, False),
}


@pytest.mark.parametrize(
    ("token", "ours_accepts", "pyjwt_accepts"),
    [pytest.param(*case, id=name) for name, case in DIFFERENCES.items()],
)
def test_where_they_differ_and_why(
    policy: None, token: str, ours_accepts: bool, pyjwt_accepts: bool
) -> None:
    assert (our_verdict(token) is not REFUSED) == ours_accepts
    assert (pyjwt_verdict(token) is not REFUSED) == pyjwt_accepts


def test_sub_and_jti_are_left_to_their_readers(policy: None) -> None:
    """verify_token reads neither (PyJWT's type checks of them are off above); the API's
    Principal.from_claims refuses a `sub` that is not a user id."""
    token = signed_token(user_claims(sub=5, jti=5))

    assert our_verdict(token) == pyjwt_verdict(token) == user_claims(sub=5, jti=5)
    with pytest.raises(jwt.exceptions.InvalidSubjectError):
        jwt.decode(token, SECRET, ["HS256"], audience="authenticated", issuer=ISSUER)
    with pytest.raises(Unauthorized):
        Principal.from_claims(tokens.verify_token(token))
