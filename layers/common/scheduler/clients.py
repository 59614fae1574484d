"""Process-wide clients, created lazily on first use (so a cold start pays only for what it uses).

Every AWS client honours the standard `AWS_ENDPOINT_URL_<SERVICE>` variables, which is all
that points the code at moto locally. Tests call `reset()` after changing the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from scheduler.config import get_settings
from scheduler.db import Database
from scheduler.store import Store

# Adaptive mode retries throttling with client-side rate limiting, not just backoff.
_AWS_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=3)


def _database_url() -> str:
    settings = get_settings()
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if settings.database_secret_name:
        from aws_lambda_powertools.utilities import parameters

        # Cached by Powertools for 5 minutes: a rotated secret is picked up without a redeploy.
        return str(parameters.get_secret(settings.database_secret_name, max_age=300))
    raise RuntimeError("set DATABASE_URL or DATABASE_SECRET_NAME")


@cache
def database() -> Database:
    settings = get_settings()
    return Database(
        _database_url,
        connect_timeout_s=settings.db_connect_timeout_s,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        idle_check_s=settings.db_idle_check_s,
    )


@cache
def store() -> Store:
    return Store(database())


@cache
def aws_client(service: str) -> Any:
    return boto3.client(service, config=_AWS_CONFIG)


def reset() -> None:
    """Forget every client and the settings (tests change the environment between cases)."""
    if database.cache_info().currsize:
        database().close()
    for cached in (database, store, aws_client, get_settings):
        cached.cache_clear()
