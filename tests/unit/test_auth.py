"""Token verification (HS256 legacy secret and JWKS asymmetric keys) and the caller it yields."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from scheduler import clients
from scheduler.auth import tokens
from scheduler.auth.principal import Principal
from scheduler.auth.tokens import verify_token
from scheduler.errors import Unauthorized

from tests.jwks_server import JwksEndpoint, public_jwk, serve_jwks

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
ISSUER = "https://project.supabase.co/auth/v1"
USER = uuid.UUID("00000000-0000-4000-8000-00000000a11c")


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "sub": str(USER),
        "role": "authenticated",
        "aud": "authenticated",
        "iss": ISSUER,
        "exp": int(time.time()) + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    monkeypatch.delenv("JWKS_URL", raising=False)
    clients.reset()
    yield monkeypatch
    clients.reset()
    tokens._key_set.cache_clear()


def test_valid_user_token_gives_its_claims(settings_env: pytest.MonkeyPatch) -> None:
    claims = verify_token(_hs256(_claims()))

    assert Principal.from_claims(claims) == Principal(owner=USER, actor=f"user:{USER}")
    assert not Principal.from_claims(claims).service


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_hs256(_claims(exp=int(time.time()) - 60)), id="expired"),
        pytest.param(_hs256(_claims(exp=None)), id="no-exp"),
        pytest.param(
            _hs256(_claims(), secret="another-secret-of-sufficient-length!!"), id="bad-sig"
        ),
        pytest.param(_hs256(_claims(aud="anon")), id="wrong-audience"),
        pytest.param(_hs256(_claims(aud=None)), id="no-audience"),
        pytest.param(_hs256(_claims(iss="https://evil.example/auth/v1")), id="wrong-issuer"),
        pytest.param(jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
        pytest.param("not.a.token", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_tokens_are_unauthorized(settings_env: pytest.MonkeyPatch, token: str) -> None:
    with pytest.raises(Unauthorized):
        verify_token(token)


def test_service_role_key_is_accepted_without_user_audience(
    settings_env: pytest.MonkeyPatch,
) -> None:
    # The shape of Supabase's legacy service_role key: no sub, no aud, iss "supabase".
    token = _hs256({"iss": "supabase", "role": "service_role", "exp": int(time.time()) + 600})

    principal = Principal.from_claims(verify_token(token))

    assert principal == Principal(owner=None, actor="service_role")
    assert principal.service


def test_service_role_with_a_foreign_issuer_is_unauthorized(
    settings_env: pytest.MonkeyPatch,
) -> None:
    token = _hs256({"iss": "elsewhere", "role": "service_role", "exp": int(time.time()) + 600})

    with pytest.raises(Unauthorized):
        verify_token(token)


@pytest.mark.parametrize("claims", [{"role": "authenticated"}, {"sub": "x", "role": "x"}])
def test_principal_needs_a_uuid_subject(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        Principal.from_claims(claims)


ES256_KEY = ec.generate_private_key(ec.SECP256R1())
RS256_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_endpoint(settings_env: pytest.MonkeyPatch) -> Iterator[JwksEndpoint]:
    """The project's JWKS publishing one ES256 and one RS256 key, configured as JWKS_URL."""
    keys = [public_jwk(ES256_KEY, "ec-1"), public_jwk(RS256_KEY, "rsa-1")]
    with serve_jwks(keys) as endpoint:
        settings_env.setenv("JWKS_URL", endpoint.url)
        clients.reset()
        yield endpoint


@pytest.mark.parametrize(
    ("algorithm", "key", "kid"), [("ES256", ES256_KEY, "ec-1"), ("RS256", RS256_KEY, "rsa-1")]
)
def test_asymmetric_token_is_verified_through_jwks(
    jwks_endpoint: JwksEndpoint, algorithm: str, key: Any, kid: str
) -> None:
    token = jwt.encode(_claims(), key, algorithm=algorithm, headers={"kid": kid})
    impostor = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    forged = jwt.encode(_claims(), impostor, algorithm=algorithm, headers={"kid": kid})
    expired = jwt.encode(
        _claims(exp=int(time.time()) - 60), key, algorithm=algorithm, headers={"kid": kid}
    )

    assert verify_token(token)["sub"] == str(USER)
    for bad in (forged, expired):
        with pytest.raises(Unauthorized):
            verify_token(bad)


def test_lambda_authorizer_allows_valid_tokens_and_passes_claims(
    settings_env: pytest.MonkeyPatch,
) -> None:
    from devstack.apigw import LambdaContext
    from functions.authorizer.app import lambda_handler

    def decide(authorization: str | None) -> dict[str, Any]:
        headers = {} if authorization is None else {"authorization": authorization}
        return lambda_handler({"version": "2.0", "headers": headers}, LambdaContext())

    allowed = decide(f"Bearer {_hs256(_claims())}")
    assert allowed["isAuthorized"] is True
    assert Principal.from_claims(allowed["context"]).owner == USER
    assert decide(None) == {"isAuthorized": False}
    assert decide(f"Basic {_hs256(_claims())}") == {"isAuthorized": False}
    assert decide(f"Bearer {_hs256(_claims(aud='anon'))}") == {"isAuthorized": False}
