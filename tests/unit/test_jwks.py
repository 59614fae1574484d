"""The JWKS key set and the pure-Python ES256/RS256 checks, against tokens and keys made by
`cryptography` (PyJWT's reference implementation of those algorithms)."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from scheduler.auth import jwks, jws, tokens
from scheduler.errors import Unauthorized

from tests.jwks_server import public_jwk, serve_jwks

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
MESSAGE = b"header.payload"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_es256(message: bytes, key: ec.EllipticCurvePrivateKey = EC_KEY) -> bytes:
    return jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(message, key)


def _rs256(message: bytes, key: rsa.RSAPrivateKey = RSA_KEY) -> bytes:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_es256_accepts_exactly_the_signatures_of_its_key() -> None:
    es256 = jwks.ES256()
    key = es256.from_jwk(public_jwk(EC_KEY, "k"))
    signature = _raw_es256(MESSAGE)
    other_key = _raw_es256(MESSAGE, ec.generate_private_key(ec.SECP256R1()))
    der = EC_KEY.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))  # right key, wrong (DER) encoding

    assert es256.verify(MESSAGE, key, signature) is True
    assert es256.verify(b"header.tampered", key, signature) is False
    assert es256.verify(MESSAGE, key, other_key) is False
    assert es256.verify(MESSAGE, key, der) is False
    assert es256.verify(MESSAGE, key, b"\0" * 64) is False  # r = s = 0


def test_rs256_accepts_only_sha256_signatures_of_its_key() -> None:
    rs256 = jwks.RS256()
    key = rs256.from_jwk(public_jwk(RSA_KEY, "k"))
    sha1 = RSA_KEY.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    pss = RSA_KEY.sign(MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())

    assert rs256.verify(MESSAGE, key, _rs256(MESSAGE)) is True
    assert rs256.verify(b"header.tampered", key, _rs256(MESSAGE)) is False
    assert rs256.verify(MESSAGE, key, sha1) is False
    assert rs256.verify(MESSAGE, key, pss) is False
    assert rs256.verify(MESSAGE, key, _rs256(MESSAGE)[:-1]) is False


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({**public_jwk(EC_KEY, "k"), "crv": "P-384"}, id="ec-other-curve"),
        pytest.param({**public_jwk(EC_KEY, "k"), "y": _b64(b"\1" * 32)}, id="ec-point-off-curve"),
        pytest.param({**public_jwk(EC_KEY, "k"), "x": _b64(b"\1" * 31)}, id="ec-short-x"),
        pytest.param({"kty": "EC", "crv": "P-256"}, id="ec-no-coordinates"),
        pytest.param({**public_jwk(RSA_KEY, "k"), "kty": "EC"}, id="rsa-as-ec"),
    ],
)
def test_es256_refuses_keys_that_are_not_p256_points(jwk: dict[str, Any]) -> None:
    with pytest.raises(jwks.InvalidKey):
        jwks.ES256.from_jwk(jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param(
            public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), "k"),  # noqa: S505
            id="rsa-1024-bits",
        ),
        pytest.param({**public_jwk(RSA_KEY, "k"), "e": _b64(b"\2")}, id="rsa-even-exponent"),
        pytest.param({**public_jwk(RSA_KEY, "k"), "n": ""}, id="rsa-no-modulus"),
        pytest.param(public_jwk(EC_KEY, "k"), id="ec-as-rsa"),
    ],
)
def test_rs256_refuses_weak_or_malformed_keys(jwk: dict[str, Any]) -> None:
    with pytest.raises(jwks.InvalidKey):
        jwks.RS256.from_jwk(jwk)


def test_key_set_gives_a_key_only_for_its_published_algorithm() -> None:
    published = [
        public_jwk(EC_KEY, "ec-1"),
        public_jwk(RSA_KEY, "rsa-1"),
        {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": _b64(b"secret")},  # never accepted
        {**public_jwk(EC_KEY, "enc"), "use": "enc"},  # not a signing key
        {**public_jwk(EC_KEY, "bad"), "y": _b64(b"\1" * 32)},  # malformed: skipped, not fatal
        {**public_jwk(EC_KEY, "odd"), "alg": ["ES256"], "kty": ["EC"]},  # garbled: skipped
        {**public_jwk(EC_KEY, "ec-1"), "kid": 7},  # no usable kid: skipped
    ]
    with serve_jwks(published) as endpoint:
        keys = jwks.KeySet(endpoint.url)

        ec_key = keys.key_for("ec-1", "ES256")
        assert jwks.ES256().verify(MESSAGE, ec_key, _raw_es256(MESSAGE))
        rsa_key = keys.key_for("rsa-1", "RS256")
        assert jwks.RS256().verify(MESSAGE, rsa_key, _rs256(MESSAGE))
        for kid, algorithm in [("ec-1", "RS256"), ("hmac", "HS256"), ("enc", "ES256"),
                               ("bad", "ES256"), ("odd", "ES256"), (None, "ES256"),
                               (["ec-1"], "ES256")]:  # fmt: skip
            with pytest.raises(Unauthorized):
                keys.key_for(kid, algorithm)


def test_key_set_fetches_once_then_on_expiry_and_for_a_rotated_key_at_most_every_30_s() -> None:
    clock = Clock()
    with serve_jwks([public_jwk(EC_KEY, "old")]) as endpoint:
        keys = jwks.KeySet(endpoint.url, clock=clock)
        keys.key_for("old", "ES256")
        keys.key_for("old", "ES256")
        assert len(endpoint.requests) == 1

        # made-up kids within 30 s of a fetch cost no request
        for _ in range(5):
            with pytest.raises(Unauthorized):
                keys.key_for("made-up", "ES256")
        assert len(endpoint.requests) == 1

        # the project rotates its key: a token with the new kid triggers one refetch
        rotated = ec.generate_private_key(ec.SECP256R1())
        endpoint.keys = [public_jwk(rotated, "new")]
        clock.now += 31
        new_key = keys.key_for("new", "ES256")
        assert jwks.ES256().verify(MESSAGE, new_key, _raw_es256(MESSAGE, rotated))
        assert len(endpoint.requests) == 2

        # the revoked key goes at the next refresh
        clock.now += 601
        with pytest.raises(Unauthorized):
            keys.key_for("old", "ES256")
        assert len(endpoint.requests) == 3


def test_unreachable_or_garbled_key_set_is_unauthorized() -> None:
    with serve_jwks([]) as endpoint:
        url = endpoint.url
    with pytest.raises(Unauthorized):
        jwks.KeySet(url, timeout_s=1).key_for("any", "ES256")  # nothing listens there any more

    with serve_jwks([]) as endpoint:
        endpoint.keys = "not a list"  # type: ignore[assignment]
        with pytest.raises(Unauthorized):
            jwks.KeySet(endpoint.url).key_for("any", "ES256")


def test_whole_tokens_from_cryptography_verify_with_the_pure_python_algorithms() -> None:
    # PyJWT's own ES256/RS256 (via cryptography) sign; scheduler.auth.jws with ours verifies.
    claims = {"sub": "x", "exp": int(time.time()) + 60}
    for name, private_key in (("ES256", EC_KEY), ("RS256", RSA_KEY)):
        token = jwt.encode(claims, private_key, algorithm=name)
        public = jwks.ALGORITHMS[name].from_jwk(public_jwk(private_key, "k"))

        def verify(message: bytes, signature: bytes, name: str = name, key: Any = public) -> bool:
            return jwks.ALGORITHMS[name].verify(message, key, signature)

        assert jws.verified_claims(token, verify) == claims
        forged = jwt.encode({**claims, "sub": "y"}, private_key, algorithm=name)
        header, _, signature = token.split(".")
        with pytest.raises(jws.InvalidToken, match="bad signature"):
            jws.verified_claims(f"{header}.{forged.split('.')[1]}.{signature}", verify)


def test_an_outage_serves_the_last_good_keys_and_backs_off() -> None:
    clock = Clock()
    with serve_jwks([public_jwk(EC_KEY, "k")]) as endpoint:
        keys = jwks.KeySet(endpoint.url, clock=clock, jitter=lambda: 1.0)
        keys.key_for("k", "ES256")
        endpoint.status = 503

        # past the lifespan the refresh fails: the last good key still verifies
        clock.now += 601
        assert jwks.ES256().verify(MESSAGE, keys.key_for("k", "ES256"), _raw_es256(MESSAGE))
        assert len(endpoint.requests) == 2

        # every request during the backoff (5 s, then 10, 20 ...) is served without a fetch
        for step in (5, 10, 20, 40):
            for _ in range(3):
                keys.key_for("k", "ES256")
                clock.now += (step - 0.5) / 3
            assert len(endpoint.requests) == 2 + (step > 5) + (step > 10) + (step > 20)
            clock.now += 0.5
            keys.key_for("k", "ES256")  # the backoff has passed: one more attempt
        assert len(endpoint.requests) == 6

        # a made-up kid does not bypass the backoff either
        with pytest.raises(Unauthorized):
            keys.key_for("made-up", "ES256")
        assert len(endpoint.requests) == 6

        # the service is back: the next attempt after the backoff replaces the keys
        endpoint.status = 200
        rotated = ec.generate_private_key(ec.SECP256R1())
        endpoint.keys = [public_jwk(rotated, "new")]
        clock.now += 80
        assert jwks.ES256().verify(
            MESSAGE, keys.key_for("new", "ES256"), _raw_es256(MESSAGE, rotated)
        )
        assert len(endpoint.requests) == 7
        with pytest.raises(Unauthorized):
            keys.key_for("k", "ES256")  # gone from the fresh set


def test_the_backoff_is_capped_and_jittered_and_stale_keys_expire() -> None:
    clock = Clock()
    with serve_jwks([public_jwk(EC_KEY, "k")]) as endpoint:
        keys = jwks.KeySet(
            endpoint.url, clock=clock, jitter=lambda: 0.0, max_retry_after_s=60, max_stale_s=3600
        )
        keys.key_for("k", "ES256")
        endpoint.status = 500
        clock.now += 601
        attempts_at = []
        while clock.now < 1000 + 3600:
            before = len(endpoint.requests)
            keys.key_for("k", "ES256")
            if len(endpoint.requests) > before:
                attempts_at.append(clock.now)
            clock.now += 0.5
        gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
        # jitter 0 is half the step: 2.5, 5, 10, 20, then capped at 30 (half of 60)
        assert gaps[:5] == [2.5, 5, 10, 20, 30]
        assert max(gaps) == 30

        # a day-old outage: the keys are too stale to trust any longer
        clock.now = 1000 + 3601
        with pytest.raises(Unauthorized):
            keys.key_for("k", "ES256")


def test_a_garbled_answer_is_an_outage_not_an_empty_key_set() -> None:
    clock = Clock()
    with serve_jwks([public_jwk(EC_KEY, "k")]) as endpoint:
        keys = jwks.KeySet(endpoint.url, clock=clock)
        keys.key_for("k", "ES256")
        endpoint.keys = "<html>maintenance</html>"  # type: ignore[assignment]
        clock.now += 601
        keys.key_for("k", "ES256")  # still the good key
        assert len(endpoint.requests) == 2


def test_without_a_good_fetch_there_is_nothing_to_serve_and_fetches_back_off() -> None:
    clock = Clock()
    with serve_jwks([]) as endpoint:
        endpoint.status = 503
        keys = jwks.KeySet(endpoint.url, clock=clock, jitter=lambda: 1.0)
        for _ in range(10):
            with pytest.raises(Unauthorized):
                keys.key_for("k", "ES256")
        assert len(endpoint.requests) == 1


def test_the_authorizer_names_exactly_the_algorithms_jwks_checks() -> None:
    # scheduler.auth.tokens names them so that it loads scheduler.auth.jwks only for such a token.
    assert set(jwks.ALGORITHMS) == tokens.JWKS_ALGORITHMS
