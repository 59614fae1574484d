"""API keys' form (scheduler.auth.api_keys), what the authorizer makes of one, and `make api-key`'s
SCOPE. No database here: tests/integration/test_api_keys.py checks keys against Postgres."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from scheduler.auth import api_keys
from scheduler.auth.key_admin import parse_scope
from scheduler.auth.principal import (
    API_KEY_CREDENTIAL,
    TOKEN_CREDENTIAL,
    credential_from_authorizer,
)
from scheduler.errors import Unauthorized

from functions.authorizer.app import authorize


def test_an_issued_key_has_the_scannable_form_and_256_random_bits() -> None:
    issued = api_keys.issue()
    prefix, key_id, secret = issued.key.split("_")

    assert prefix == "wsk"
    assert uuid.UUID(hex=key_id) == issued.key_id
    assert len(bytes.fromhex(secret)) * 8 == 256
    assert issued.digest == hashlib.sha256(secret.encode()).digest()
    assert secret not in issued.digest.hex()
    assert len({api_keys.issue().key for _ in range(100)}) == 100


def test_a_presented_key_matches_only_its_own_digest() -> None:
    issued, other = api_keys.issue(), api_keys.issue()
    presented = api_keys.presented(issued.key)

    assert presented is not None
    assert presented.key_id == issued.key_id.hex
    assert presented.matches(issued.digest)
    assert not presented.matches(other.digest)
    assert not presented.matches(b"")
    assert not api_keys.PresentedKey(key_id=issued.key_id.hex, digest="zz").matches(issued.digest)


@pytest.mark.parametrize(
    "token",
    [
        "wsk_",
        "wsk_" + "0" * 32,
        "wsk_" + "0" * 32 + "_" + "0" * 63,
        "wsk_" + "0" * 32 + "_" + "0" * 65,
        "wsk_" + "0" * 32 + "_" + "G" * 64,
        "wsk_" + "A" * 32 + "_" + "0" * 64,
        "wsk_" + "0" * 32 + "-" + "0" * 64,
        "wsk_" + "0" * 32 + "_" + "0" * 64 + "\n",
        "wsk_" + "0" * 31 + "_" + "0" * 65,
    ],
)
def test_a_malformed_key_is_recognised_as_meant_for_a_key_but_presents_nothing(
    token: str,
) -> None:
    assert api_keys.is_api_key(token)
    assert api_keys.presented(token) is None


def test_the_authorizer_passes_a_keys_id_and_digest_never_the_key() -> None:
    issued = api_keys.issue()

    context = authorize(f"Bearer {issued.key}")

    assert context == {
        "credential": API_KEY_CREDENTIAL,
        "keyId": issued.key_id.hex,
        "keyDigest": issued.digest.hex(),
    }
    assert issued.key.split("_")[2] not in str(context)
    # a malformed key goes on as a key, so that the API answers 401 (not the gateway's 403)
    assert authorize("Bearer wsk_nonsense") == {"credential": API_KEY_CREDENTIAL}
    assert authorize("bearer  " + issued.key)["keyId"] == issued.key_id.hex


def _lambda(context: dict[str, Any]) -> dict[str, Any]:
    return {"lambda": context}


def test_the_api_reads_a_key_only_from_the_lambda_authorizers_own_label() -> None:
    issued = api_keys.issue()
    presented = credential_from_authorizer(_lambda(authorize(f"Bearer {issued.key}") or {}))
    assert presented == api_keys.presented(issued.key)

    with pytest.raises(Unauthorized):
        credential_from_authorizer(_lambda({"credential": API_KEY_CREDENTIAL}))
    # A token's claims cannot pass for a key: the authorizer labels them as a token's, and API
    # Gateway's JWT authorizer's claims are never read as one.
    forged = {"credential": API_KEY_CREDENTIAL, "keyId": issued.key_id.hex, "keyDigest": "00"}
    with pytest.raises(Unauthorized):
        credential_from_authorizer({"jwt": {"claims": forged}})
    with pytest.raises(Unauthorized):
        credential_from_authorizer(_lambda({**forged, "credential": TOKEN_CREDENTIAL}))


@pytest.mark.parametrize(
    ("scope", "fields"),
    [
        ("all", {"ownerId": None, "readOnly": False}),
        ("all:read-only", {"ownerId": None, "readOnly": True}),
        (
            "owner:11111111-1111-4111-8111-111111111111",
            {"ownerId": "11111111-1111-4111-8111-111111111111", "readOnly": False},
        ),
        (
            "owner:11111111-1111-4111-8111-111111111111:read-only",
            {"ownerId": "11111111-1111-4111-8111-111111111111", "readOnly": True},
        ),
    ],
)
def test_a_scope_names_the_tenants_and_whether_it_writes(
    scope: str, fields: dict[str, Any]
) -> None:
    assert parse_scope(scope) == fields


@pytest.mark.parametrize(
    "scope", ["", "admin", "read-only", "all:rw", "owner:", "owner:bob", "owner:all", "all:all"]
)
def test_any_other_scope_is_refused(scope: str) -> None:
    with pytest.raises(ValueError, match="SCOPE"):
        parse_scope(scope)


def test_no_repr_of_a_key_shows_its_material() -> None:
    """A stray `logger.info(key)`, an f-string or a traceback's locals must not print it."""
    issued = api_keys.issue()
    presented = api_keys.presented(issued.key)
    assert presented is not None
    secret = issued.key.split("_")[2]

    shown = repr(issued) + repr(presented) + str(presented)

    for material in (
        issued.key,
        secret,
        presented.digest,
        issued.digest.hex(),
        repr(issued.digest),
    ):
        assert material not in shown
