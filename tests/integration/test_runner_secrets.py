"""Secret references end to end through the runner: real Postgres, moto for DynamoDB and
Secrets Manager, a loopback server receiving the http step, every log record captured.

A header value `{"secretRef": name}` is read at run time and sent; the definition, the run row
and the logs never hold the value, and a secret that cannot be used fails the run by its name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from scheduler import clients
from scheduler.clients import SECRET_READ_MAX_WAIT_S
from scheduler.steps.secrets import workflow_secrets

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    make_schedule,
    runner_fixture,
)
from tests.integration.secret_fixtures import (  # noqa: F401  (fixtures)
    BEARER,
    QUERY_SECRET,
    SECRET,
    CapturedLogs,
    assert_nowhere,
    logs_fixture,
)

TOKEN = "workflow-secrets/report-api-token"
PARTNER_KEYS = "workflow-secrets/partner-keys"
PARTNER_KEY = "pk_partner_0a1b2c3d4e5f6a7b"


@pytest.fixture
def manager(dynamodb: Any) -> Any:
    """Secrets Manager in moto (the runner's `dynamodb` fixture started mock_aws)."""
    return clients.aws_client("secretsmanager")


@pytest.fixture
def reads(manager: Any) -> list[str]:
    """The secrets the runner asks Secrets Manager for, in order."""
    sent: list[str] = []
    for wait_s in range(1, SECRET_READ_MAX_WAIT_S + 1):  # every client a read may use
        clients.secrets_client(wait_s).meta.events.register(
            "before-call.secrets-manager.GetSecretValue",
            lambda params, **_: sent.append(json.loads(params["body"])["SecretId"]),
        )
    return sent


def _step(server: LoopbackServer, headers: dict[str, Any], path: str = "/report") -> dict[str, Any]:
    return {"type": "http", "url": f"{server.url}{path}?token={QUERY_SECRET}", "headers": headers}


def test_a_secret_reference_is_read_at_run_time_and_sent_but_never_stored_or_logged(
    runner: Runner,
    http_server: LoopbackServer,
    manager: Any,
    reads: list[str],
    logs: CapturedLogs,
) -> None:
    # Given a workflow whose headers name two secrets, one a key of a JSON secret
    manager.create_secret(Name=TOKEN, SecretString=BEARER)
    manager.create_secret(
        Name=PARTNER_KEYS, SecretString=json.dumps({"a": PARTNER_KEY, "b": "other"})
    )
    headers = {
        "Authorization": {"secretRef": TOKEN},
        "X-Partner-Key": {"secretRef": PARTNER_KEYS, "jsonKey": "a"},
        "X-Report": "daily",
    }
    schedule = make_schedule(runner.queries, [_step(http_server, headers)])
    logs.clear()

    report = runner.fire(schedule)

    # Then the values arrived, read once each, and are in neither the database nor the logs
    assert report.outcome == "succeeded", report.reason
    [request] = http_server.requests
    assert request.headers["authorization"] == BEARER
    assert request.headers["x-partner-key"] == PARTNER_KEY
    assert request.headers["x-report"] == "daily"
    assert reads == [TOKEN, PARTNER_KEYS]  # read before the step, then from the cache
    [run] = runner.runs(schedule)
    stored = runner.workflow(schedule)["definition"]
    assert stored["steps"][0]["headers"]["Authorization"] == {"secretRef": TOKEN}
    assert_nowhere(stored, secrets=(SECRET, PARTNER_KEY))  # the definition holds the refs
    assert_nowhere(run, logs.text(), secrets=(SECRET, PARTNER_KEY, QUERY_SECRET))


def test_a_reference_outside_the_prefix_is_an_invalid_definition_and_nothing_is_read(
    runner: Runner,
    http_server: LoopbackServer,
    manager: Any,
    reads: list[str],
    logs: CapturedLogs,
) -> None:
    # Given a secret the runner could find, named outside the workflow secret prefix
    manager.create_secret(Name="workflow-scheduler/database-url", SecretString=BEARER)
    headers = {"Authorization": {"secretRef": "workflow-scheduler/database-url"}}
    schedule = make_schedule(runner.queries, [_step(http_server, headers)])
    logs.clear()

    report = runner.fire(schedule)

    # Then the run fails as an invalid definition and the schedule is disabled, saying why
    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    reason = "header 'Authorization': secretRef must name a secret under 'workflow-secrets/'"
    assert reason in run["error"]
    after = runner.schedule(schedule)
    assert after["enabled"] is False
    assert reason in after["disabled_reason"]
    assert (reads, http_server.requests) == ([], [])
    assert_nowhere(run, logs.text())


def test_a_missing_secret_fails_the_run_before_any_step_and_the_next_run_reads_again(
    runner: Runner,
    http_server: LoopbackServer,
    manager: Any,
    reads: list[str],
    logs: CapturedLogs,
) -> None:
    # Given a second step naming a secret that does not exist (yet)
    steps = [
        _step(http_server, {"X-Report": "daily"}, "/first"),
        _step(http_server, {"Authorization": {"secretRef": TOKEN}}, "/second"),
    ]
    schedule = make_schedule(runner.queries, steps)

    report = runner.fire(schedule)

    # Then no step ran, the run failed naming the step, header and secret, the schedule stays
    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["error"] == f"step 2 (http): header 'Authorization': secret '{TOKEN}' not found"
    assert http_server.requests == []
    assert runner.schedule(schedule)["enabled"] is True

    # When the secret is created, the next fire reads it (a failed read is not kept)
    manager.create_secret(Name=TOKEN, SecretString=BEARER)
    logs.clear()
    runner.clock.advance(300)
    later = runner.fire(schedule, SEVEN + timedelta(minutes=5))

    assert later.outcome == "succeeded", later.reason
    assert [r.path.split("?")[0] for r in http_server.requests] == ["/first", "/second"]
    assert http_server.requests[1].headers["authorization"] == BEARER
    assert reads == [TOKEN, TOKEN]
    assert_nowhere(runner.runs(schedule), logs.text())


def test_a_rotated_secret_is_sent_once_the_cached_value_expires(
    runner: Runner, http_server: LoopbackServer, manager: Any, reads: list[str]
) -> None:
    # Given a warm runner whose secret cache reads a clock the test moves
    manager.create_secret(Name=TOKEN, SecretString="Bearer first")
    seconds = [1000.0]
    workflow_secrets().clock = lambda: seconds[0]
    schedule = make_schedule(
        runner.queries, [_step(http_server, {"Authorization": {"secretRef": TOKEN}})]
    )

    sent = []
    for minutes, cache_age_s in [(0, 0), (5, 299), (10, 301)]:
        if minutes == 5:
            manager.put_secret_value(SecretId=TOKEN, SecretString="Bearer rotated")
        seconds[0] = 1000.0 + cache_age_s
        runner.clock.advance(300 if minutes else 0)
        report = runner.fire(schedule, SEVEN + timedelta(minutes=minutes))
        assert report.outcome == "succeeded", report.reason
        sent.append(http_server.requests[-1].headers["authorization"])

    # Then the old value is used until its 5 minutes are up, the rotated one after
    assert sent == ["Bearer first", "Bearer first", "Bearer rotated"]
    assert reads == [TOKEN, TOKEN]


def _throttled(code: str) -> Callable[..., None]:
    def fail(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": code, "Message": f"injected {code}"}}, "GetSecretValue"
        )

    return fail


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(
            "value-with-CRLF",
            f"header 'Authorization': the value of secret '{TOKEN}' contains a control character",
            id="value-with-CRLF",
        ),
        pytest.param(
            "json-key-missing",
            f"header 'Authorization': secret '{TOKEN}' has no key 'token'",
            id="json-key-missing",
        ),
        pytest.param(
            "AccessDeniedException",
            f"header 'Authorization': secret '{TOKEN}': access denied",
            id="access-denied",
        ),
        pytest.param(
            "ThrottlingException",
            f"header 'Authorization': secret '{TOKEN}': Secrets Manager failed"
            " (ThrottlingException)",
            id="throttled",
        ),
        pytest.param(
            "InternalServiceError",
            f"header 'Authorization': secret '{TOKEN}': Secrets Manager failed"
            " (InternalServiceError)",
            id="unavailable",
        ),
    ],
)
def test_a_secret_that_cannot_be_used_fails_the_run_by_its_name_and_keeps_the_schedule(
    runner: Runner,
    http_server: LoopbackServer,
    manager: Any,
    reads: list[str],
    logs: CapturedLogs,
    fault: str,
    message: str,
) -> None:
    # Given a secret that cannot be sent as a header, or cannot be read
    ref: dict[str, str] = {"secretRef": TOKEN}
    if fault == "value-with-CRLF":
        manager.create_secret(Name=TOKEN, SecretString=f"{BEARER}\r\nX-Injected: 1")
    else:
        manager.create_secret(Name=TOKEN, SecretString=json.dumps({"other": BEARER}))
        ref["jsonKey"] = "token"
    if fault not in ("value-with-CRLF", "json-key-missing"):
        for wait_s in range(1, SECRET_READ_MAX_WAIT_S + 1):
            clients.secrets_client(wait_s).meta.events.register(
                "before-call.secrets-manager.GetSecretValue", _throttled(fault)
            )
    schedule = make_schedule(runner.queries, [_step(http_server, {"Authorization": ref})])
    logs.clear()

    report = runner.fire(schedule)

    # Then the run failed before sending anything, saying which secret; the schedule stays on
    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["error"].startswith(f"step 1 (http): {message}"), run["error"]
    assert http_server.requests == []
    after = runner.schedule(schedule)
    assert (after["enabled"], after["disabled_reason"]) == (True, None)
    assert reads  # it was read (or tried), so the next fire tries again
    assert_nowhere(run, logs.text())


def test_a_workflow_without_secret_references_makes_no_secrets_manager_client(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, [_step(http_server, {"X-Report": "daily"})])

    report = runner.fire(schedule)

    assert report.outcome == "succeeded", report.reason
    # what a cold start pays for: neither the cache nor its client exists
    assert workflow_secrets.cache_info().currsize == 0
    assert clients._secrets_client.cache_info().currsize == 0
