"""The secrets workflows name (a header value given as `{"secretRef": name}`), read from
Secrets Manager by the runner when a step needs one. The only Secrets Manager calls of the run path.

A warm runner keeps each secret's value for `ttl_s`, so a rotated secret is used once the old
value expires; a failed read is not kept, so the next run asks again. Each read is bounded by
the time the run has left: one attempt per call of a client whose timeouts fit in it, repeated
(jittered) only while time is left. Errors name the secret, never its value.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scheduler import clients
from scheduler.config import get_settings
from scheduler.errors import SecretUnavailable, WorkflowSecretError

MAX_CACHED_SECRETS = 256
_ATTEMPTS = 3
_FIRST_BACKOFF_S = 0.1
# Error codes of GetSecretValue that another try may get past; any other 4xx will not.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


@dataclass(frozen=True)
class _Cached:
    value: str
    expires_at: float


class WorkflowSecrets:
    """Secret values by name, cached per process for `ttl_s` (of `clock`, a monotonic clock).

    `client_for(wait_s)` gives the Secrets Manager client to use with `wait_s` left.
    """

    def __init__(
        self,
        client_for: Callable[[float], Any],
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_for = client_for
        self.ttl_s = ttl_s
        self.clock = clock
        self._cached: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def value(self, name: str, json_key: str | None = None, *, wait_s: float) -> str:
        """The secret's string, or with `json_key` that key's string in the secret's JSON.

        WorkflowSecretError if it cannot be used as asked (retrying will not help);
        SecretUnavailable if Secrets Manager failed or the time was up (the next run may pass).
        """
        text = self._secret_string(name, wait_s)
        if json_key is None:
            return text
        try:
            document = json.loads(text)
        except ValueError:
            raise WorkflowSecretError(f"secret '{name}' is not a JSON object") from None
        if not isinstance(document, dict):
            raise WorkflowSecretError(f"secret '{name}' is not a JSON object")
        if json_key not in document:
            raise WorkflowSecretError(f"secret '{name}' has no key '{json_key}'")
        picked = document[json_key]
        if not isinstance(picked, str):
            raise WorkflowSecretError(f"secret '{name}': key '{json_key}' is not a string")
        return picked

    def _secret_string(self, name: str, wait_s: float) -> str:
        now = self.clock()
        with self._lock:
            cached = self._cached.get(name)
        if cached is not None and now < cached.expires_at:
            return cached.value
        value = self._read(name, wait_s)
        if self.ttl_s > 0:
            self._keep(name, _Cached(value, self.clock() + self.ttl_s))
        return value

    def _keep(self, name: str, entry: _Cached) -> None:
        with self._lock:
            self._cached.pop(name, None)
            if len(self._cached) >= MAX_CACHED_SECRETS:
                now = self.clock()
                for stale in [key for key, kept in self._cached.items() if kept.expires_at <= now]:
                    del self._cached[stale]
            while len(self._cached) >= MAX_CACHED_SECRETS:  # the oldest read goes first
                del self._cached[next(iter(self._cached))]
            self._cached[name] = entry

    def _read(self, name: str, wait_s: float) -> str:
        deadline = time.monotonic() + wait_s
        backoff, attempt = _FIRST_BACKOFF_S, 1
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SecretUnavailable(f"secret '{name}' not read: the run's time ran out")
            try:
                response = self.client_for(left).get_secret_value(SecretId=name)
            except ClientError as exc:
                failure = _permanent_or_transient(name, exc)
            except BotoCoreError as exc:  # connect or read timeout, endpoint unreachable
                failure = f"Secrets Manager unreachable ({type(exc).__name__})"
            else:
                if not isinstance(response.get("SecretString"), str):
                    raise WorkflowSecretError(f"secret '{name}' has no string value")
                return str(response["SecretString"])
            if attempt == _ATTEMPTS or time.monotonic() + backoff >= deadline:
                raise SecretUnavailable(f"secret '{name}': {failure}")
            time.sleep(random.uniform(backoff / 2, backoff))
            backoff, attempt = backoff * 2, attempt + 1


@cache
def workflow_secrets() -> WorkflowSecrets:
    """The runner's cache of workflow secrets; its client is made at the first read only."""
    return WorkflowSecrets(clients.secrets_client, ttl_s=get_settings().workflow_secret_ttl_s)


clients.on_reset(workflow_secrets.cache_clear)


def _permanent_or_transient(name: str, exc: ClientError) -> str:
    """What failed, if another try may pass; else WorkflowSecretError (the code, no message)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "ResourceNotFoundException":
        raise WorkflowSecretError(f"secret '{name}' not found") from None
    if code == "AccessDeniedException":
        raise WorkflowSecretError(f"secret '{name}': access denied") from None
    if code not in _TRANSIENT_CODES and status < 500:
        raise WorkflowSecretError(f"secret '{name}' cannot be read ({code})") from None
    return f"Secrets Manager failed ({code})"
