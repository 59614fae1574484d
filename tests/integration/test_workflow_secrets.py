"""Workflow secrets read from Secrets Manager (moto): a string or a key of a JSON secret, kept
for a TTL of an injected clock, failures named by the secret (never its value), and every read
bounded by the time the run has left."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from scheduler import clients
from scheduler.clients import SECRET_READ_MAX_WAIT_S
from scheduler.errors import SecretUnavailable, WorkflowSecretError
from scheduler.steps.secrets import WorkflowSecrets, workflow_secrets

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LoopbackServer,
    http_server_fixture,
)
from tests.integration.secret_fixtures import (  # noqa: F401  (fixtures)
    BEARER,
    SECRET,
    CapturedLogs,
    assert_nowhere,
    logs_fixture,
)

NAME = "workflow-secrets/api-token"


class Ticks:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SecretsManagerCalls:
    """The GetSecretValue calls the workflow secrets' clients send (moto answers them)."""

    reads: list[str] = field(default_factory=list)
    # error codes the next calls fail with, in order, before moto sees them
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def manager(aws: None) -> Any:
    return clients.aws_client("secretsmanager")


@pytest.fixture
def calls(aws: None) -> SecretsManagerCalls:
    state = SecretsManagerCalls()

    def before_call(params: dict[str, Any], **_: Any) -> None:
        state.reads.append(json.loads(params["body"])["SecretId"])
        if state.failures:
            code = state.failures.pop(0)
            status = 500 if code == "InternalServiceError" else 400
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": f"injected {code}"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                "GetSecretValue",
            )

    for wait_s in range(1, SECRET_READ_MAX_WAIT_S + 1):  # every client the reads may use
        clients.secrets_client(wait_s).meta.events.register(
            "before-call.secrets-manager.GetSecretValue", before_call
        )
    return state


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def secrets(calls: SecretsManagerCalls, ticks: Ticks) -> WorkflowSecrets:
    return WorkflowSecrets(clients.secrets_client, ttl_s=300, clock=ticks)


def test_a_secret_is_its_string_or_a_key_of_its_json(
    manager: Any, secrets: WorkflowSecrets, logs: CapturedLogs
) -> None:
    manager.create_secret(Name=NAME, SecretString=BEARER)
    manager.create_secret(
        Name="workflow-secrets/partner", SecretString=json.dumps({"key": SECRET, "n": 1})
    )
    logs.clear()

    assert secrets.value(NAME, wait_s=5) == BEARER
    assert secrets.value("workflow-secrets/partner", "key", wait_s=5) == SECRET
    # botocore logs every response body at DEBUG: never one holding a secret
    assert_nowhere(logs.text(), secrets=(SECRET,))


def test_a_read_value_is_kept_for_the_ttl_so_a_rotation_is_used_once_it_expires(
    manager: Any, secrets: WorkflowSecrets, calls: SecretsManagerCalls, ticks: Ticks
) -> None:
    manager.create_secret(Name=NAME, SecretString="first")
    assert secrets.value(NAME, wait_s=5) == "first"

    manager.put_secret_value(SecretId=NAME, SecretString="rotated")
    ticks.now += 299
    kept = secrets.value(NAME, wait_s=5)
    ticks.now += 1
    expired = secrets.value(NAME, wait_s=5)

    assert (kept, expired) == ("first", "rotated")
    assert calls.reads == [NAME, NAME]


def test_a_failed_read_is_not_kept(
    manager: Any, secrets: WorkflowSecrets, calls: SecretsManagerCalls
) -> None:
    with pytest.raises(WorkflowSecretError, match=f"^secret '{NAME}' not found$"):
        secrets.value(NAME, wait_s=5)

    manager.create_secret(Name=NAME, SecretString=BEARER)

    assert secrets.value(NAME, wait_s=5) == BEARER
    assert calls.reads == [NAME, NAME]


@pytest.mark.parametrize(
    ("stored", "json_key", "message"),
    [
        pytest.param({"SecretBinary": SECRET.encode()}, None, "has no string value", id="binary"),
        pytest.param({"SecretString": SECRET}, "key", "is not a JSON object", id="not-json"),
        pytest.param({"SecretString": json.dumps([SECRET])}, "key", "not a JSON object", id="list"),
        pytest.param(
            {"SecretString": json.dumps({"other": SECRET})}, "key", "has no key 'key'", id="no-key"
        ),
        pytest.param(
            {"SecretString": json.dumps({"key": [SECRET]})},
            "key",
            "key 'key' is not a string",
            id="not-a-string",
        ),
    ],
)
def test_a_secret_that_cannot_be_used_as_asked_names_the_secret_never_its_value(
    manager: Any, secrets: WorkflowSecrets, stored: dict[str, Any], json_key: str, message: str
) -> None:
    manager.create_secret(Name=NAME, **stored)

    with pytest.raises(WorkflowSecretError) as raised:
        secrets.value(NAME, json_key, wait_s=5)

    assert str(raised.value).startswith(f"secret '{NAME}'")
    assert message in str(raised.value)
    assert_nowhere(str(raised.value), secrets=(SECRET,))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDeniedException", f"secret '{NAME}': access denied"),
        ("DecryptionFailure", f"secret '{NAME}' cannot be read (DecryptionFailure)"),
    ],
)
def test_a_denied_read_is_not_retried(
    manager: Any, secrets: WorkflowSecrets, calls: SecretsManagerCalls, code: str, message: str
) -> None:
    manager.create_secret(Name=NAME, SecretString=BEARER)
    calls.failures = [code]

    with pytest.raises(WorkflowSecretError) as raised:
        secrets.value(NAME, wait_s=5)

    assert str(raised.value) == message
    assert calls.reads == [NAME]


def test_a_throttled_read_is_retried_within_the_time_left(
    manager: Any, secrets: WorkflowSecrets, calls: SecretsManagerCalls
) -> None:
    manager.create_secret(Name=NAME, SecretString=BEARER)
    calls.failures = ["ThrottlingException", "InternalServiceError"]

    assert secrets.value(NAME, wait_s=5) == BEARER
    assert calls.reads == [NAME, NAME, NAME]


def test_secrets_manager_failing_throughout_is_unavailable_and_nothing_is_kept(
    manager: Any, secrets: WorkflowSecrets, calls: SecretsManagerCalls
) -> None:
    manager.create_secret(Name=NAME, SecretString=BEARER)
    calls.failures = ["ThrottlingException"] * 3

    with pytest.raises(SecretUnavailable) as raised:
        secrets.value(NAME, wait_s=5)

    assert str(raised.value) == f"secret '{NAME}': Secrets Manager failed (ThrottlingException)"
    assert len(calls.reads) == 3
    assert secrets.value(NAME, wait_s=5) == BEARER  # the next run reads it
    assert len(calls.reads) == 4


def test_with_no_time_left_nothing_is_read(
    secrets: WorkflowSecrets, calls: SecretsManagerCalls
) -> None:
    with pytest.raises(SecretUnavailable, match="not read: the run's time ran out"):
        secrets.value(NAME, wait_s=0)

    assert calls.reads == []


@pytest.fixture
def hanging_secrets_manager(
    http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackServer]:
    """A Secrets Manager endpoint that takes the request and does not answer."""
    http_server.hold = threading.Event()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", http_server.url)
    clients.reset()
    yield http_server
    clients.reset()


def test_a_read_waits_no_longer_than_the_time_left(
    hanging_secrets_manager: LoopbackServer,
) -> None:
    # Given a run with a second left, and an endpoint that would hold the request for 10 s
    secrets = WorkflowSecrets(clients.secrets_client, ttl_s=300)

    with pytest.raises(SecretUnavailable) as raised:
        secrets.value(NAME, wait_s=1)

    # Then the read timed out (1 s, not the endpoint's 10 s) and was not tried again
    assert str(raised.value) == (f"secret '{NAME}': Secrets Manager unreachable (ReadTimeoutError)")
    assert len(hanging_secrets_manager.requests) == 1


def test_the_clients_timeouts_fit_the_time_left_and_the_sdk_never_retries() -> None:
    for wait_s, expected in [(0.2, 1), (1, 1), (2.5, 3), (60, SECRET_READ_MAX_WAIT_S)]:
        config = clients.secrets_client(wait_s).meta.config
        assert config.read_timeout == expected
        assert config.connect_timeout == min(2, expected)
        assert config.retries["total_max_attempts"] == 1


def test_the_runners_cache_is_made_once_and_its_client_only_at_the_first_read(
    manager: Any,
) -> None:
    clients.reset()  # as a cold start: no Secrets Manager client yet
    manager = clients.aws_client("secretsmanager")
    manager.create_secret(Name=NAME, SecretString=BEARER)

    cache = workflow_secrets()
    made_before_a_read = clients._secrets_client.cache_info().currsize
    value = cache.value(NAME, wait_s=5)

    assert workflow_secrets() is cache
    assert (made_before_a_read, value) == (0, BEARER)
    assert clients._secrets_client.cache_info().currsize == 1


def test_no_secrets_manager_read_logs_its_value_at_debug(manager: Any, logs: CapturedLogs) -> None:
    # The database URL and the JWT secret are read through Powertools, not WorkflowSecrets:
    # the same filter keeps their values out of botocore's DEBUG log of each response.
    from scheduler.config import secret_setting

    manager.create_secret(Name="workflow-scheduler/database-url", SecretString=SECRET)
    logs.clear()

    assert secret_setting(None, "workflow-scheduler/database-url") == SECRET
    assert "botocore" in logs.text()  # botocore did log at DEBUG: the filter had work to do
    assert_nowhere(logs.text(), secrets=(SECRET,))
