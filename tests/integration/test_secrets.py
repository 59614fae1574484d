"""Secrets named in the environment are read from Secrets Manager (moto), as deployed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
from scheduler import clients
from scheduler.auth.tokens import verify_token

from tests.queries import process_queries

JWT_SECRET = "a-legacy-hs256-secret-of-sufficient-length-0123"


@pytest.fixture
def secrets_only(aws: None, clean_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither the database URL nor the JWT secret in the environment: only their names."""
    manager = clients.aws_client("secretsmanager")
    manager.create_secret(Name="scheduler/database-url", SecretString=clean_db)
    manager.create_secret(Name="scheduler/jwt-secret", SecretString=JWT_SECRET)
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_NAME", "scheduler/database-url")
    monkeypatch.setenv("JWT_SECRET_NAME", "scheduler/jwt-secret")
    clients.reset()
    yield
    clients.reset()


@pytest.mark.usefixtures("secrets_only")
def test_the_database_url_comes_from_its_secret() -> None:
    owner = uuid.uuid4()

    workflow = process_queries().workflows.create_workflow(owner, "from a secret")

    assert (
        process_queries().workflows.get_workflow(workflow["id"], owner)["name"] == "from a secret"
    )


@pytest.mark.usefixtures("secrets_only")
def test_the_legacy_jwt_secret_comes_from_its_secret() -> None:
    claims = {"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated"}
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")

    assert verify_token(token)["sub"] == claims["sub"]
