"""runWorkflow and its steps: what an http step sends, how steps fail, the registry, lambda,
and that a step's headers and query are never stored or logged, whatever fails."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from pydantic import BaseModel
from scheduler import clients
from scheduler.config import get_settings
from scheduler.errors import StepFailed
from scheduler.steps import engine as workflows
from scheduler.steps import http as http_step
from scheduler.steps import lambda_step as lambda_invoke
from scheduler.steps.engine import RunContext, StepModel, register_step, run_workflow

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    DripServer,
    LoopbackServer,
    allow_private_http_fixture,
    drip_server_fixture,
    http_server_fixture,
)
from tests.integration.secret_fixtures import (  # noqa: F401  (fixtures)
    BEARER,
    QUERY_SECRET,
    SECRET,
    CapturedLogs,
    EchoServer,
    assert_nowhere,
    echo_server_fixture,
    logs_fixture,
)

RUN = RunContext(
    run_id=uuid.UUID("11111111-1111-4111-8111-111111111111"),
    schedule_id=uuid.UUID("22222222-2222-4222-8222-222222222222"),
    workflow_id=uuid.UUID("33333333-3333-4333-8333-333333333333"),
    scheduled_time=datetime(2026, 11, 27, 7, 0, tzinfo=UTC),
)


def _workflow(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"id": RUN.workflow_id, "definition": {"steps": list(steps)}}


@pytest.mark.usefixtures("allow_private_http")
def test_http_step_sends_method_body_headers_and_run_correlation(
    http_server: LoopbackServer,
) -> None:
    step = {
        "type": "http",
        "method": "put",
        "url": f"{http_server.url}/hooks/report?x=1",
        "headers": {"Authorization": "Bearer abc", "X-Workflow-Run-Id": "spoofed"},
        "body": {"report": "daily", "n": 3},
        "timeoutSeconds": 5,
    }

    result = run_workflow(_workflow(step), RUN)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    assert (request.method, request.path) == ("PUT", "/hooks/report?x=1")
    assert request.body == {"report": "daily", "n": 3}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["x-workflow-run-id"] == str(RUN.run_id)
    assert request.headers["x-scheduled-time"] == "2026-11-27T07:00:00Z"
    assert request.headers["host"] == http_server.url.removeprefix("http://")
    assert result.output()["steps"][0]["detail"]["status"] == 200


@pytest.mark.usefixtures("allow_private_http")
def test_steps_run_in_order_and_stop_at_the_first_failure(http_server: LoopbackServer) -> None:
    http_server.status = 500
    first = {"type": "http", "url": f"{http_server.url}/one", "body": {"i": 1}}
    second = {"type": "http", "url": f"{http_server.url}/two"}

    result = run_workflow(_workflow(first, second), RUN)

    assert result.status == "failed"
    assert not result.critical
    assert "step 1 (http)" in str(result.error)
    assert "HTTP 500" in result.error
    assert [r.path for r in http_server.requests] == ["/one"]
    assert [s["status"] for s in result.output()["steps"]] == ["failed"]


@pytest.mark.usefixtures("allow_private_http")
def test_http_step_timeout_is_a_failed_run(http_server: LoopbackServer) -> None:
    http_server.hold = threading.Event()
    step = {"type": "http", "url": f"{http_server.url}/slow", "timeoutSeconds": 0.2}

    result = run_workflow(_workflow(step), RUN)

    assert result.status == "failed"
    assert "timed out after 0.2s" in str(result.error)


@pytest.mark.usefixtures("allow_private_http")
def test_steps_never_run_past_the_runs_deadline(http_server: LoopbackServer) -> None:
    # Given a run with 2 s left before the runner must record it
    http_server.hold = threading.Event()
    run = dataclasses.replace(RUN, deadline=time.monotonic() + 2)
    slow = {"type": "http", "url": f"{http_server.url}/slow", "timeoutSeconds": 60}
    never = {"type": "http", "url": f"{http_server.url}/never"}

    result = run_workflow(_workflow(slow, never), run)

    # Then the slow step is cut at the deadline (not its own 60 s) and the run fails
    assert result.status == "failed"
    assert re.search(r"timed out after (0\.\d+|1(\.\d+)?|2)s", str(result.error)), result.error
    assert [r.path for r in http_server.requests] == ["/slow"]


_DRIP = 25  # bytes: 5 s at 0.2 s a byte, longer than any bound below


@pytest.mark.usefixtures("allow_private_http")
@pytest.mark.parametrize(
    ("scheme", "at_once", "drip", "timeout_s", "run_left_s", "message"),
    [
        pytest.param(
            "http",
            b"",
            b"HTTP/1.1 200 OK\r\nX-Drip: " + b"." * _DRIP,
            1,
            30,  # the run's time: only the step's own 1 s may cut it
            r"after 1s",
            id="headers",
        ),
        pytest.param(
            "http",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            b"." * _DRIP,
            1,
            30,  # the run's time: only the step's own 1 s may cut it
            r"after 1s",
            id="body",
        ),
        pytest.param(
            "http",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            b"." * _DRIP,
            60,
            1,
            r"after (0\.\d+|1)s",  # what the run had left when the step began: not 60 s
            id="body-past-the-runs-deadline",
        ),
        # a TLS record header announcing 16 KiB, then its bytes one by one
        pytest.param(
            "https",
            b"",
            b"\x16\x03\x03\x40\x00" + b"\x00" * _DRIP,
            1,
            30,  # the run's time: only the step's own 1 s may cut it
            r"after 1s",
            id="tls-handshake",
        ),
    ],
)
def test_http_step_timeout_bounds_the_whole_exchange_not_each_read(
    drip_server: DripServer,
    scheme: str,
    at_once: bytes,
    drip: bytes,
    timeout_s: float,
    run_left_s: float,
    message: str,
) -> None:
    # Given a server sending a byte every 0.2 s: no single read ever waits as long as the timeout
    drip_server.at_once, drip_server.drip = at_once, drip
    drip_server.read_request = scheme == "http"
    run = dataclasses.replace(RUN, deadline=time.monotonic() + run_left_s)
    url = f"{scheme}{drip_server.url.removeprefix('http')}/drip"
    step = {"type": "http", "method": "GET", "url": url, "timeoutSeconds": timeout_s}

    started = time.monotonic()
    result = run_workflow(_workflow(step), run)
    elapsed = time.monotonic() - started

    # Then the step fails at the tighter of its timeout and the run's deadline
    assert result.status == "failed", result.output()
    assert re.search(f"timed out {message}", str(result.error)), result.error
    assert elapsed < min(timeout_s, run_left_s) + 2


def test_http_step_timeout_bounds_a_hanging_dns_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a resolver that does not answer (getaddrinfo has no timeout of its own)
    answer = threading.Event()

    def hanging_getaddrinfo(*_: Any, **__: Any) -> Any:
        answer.wait(timeout=5)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    step = {"type": "http", "url": "https://slow-dns.example/", "timeoutSeconds": 0.5}

    started = time.monotonic()
    try:
        result = run_workflow(_workflow(step), RUN)
    finally:
        answer.set()
    elapsed = time.monotonic() - started

    assert result.status == "failed"
    assert "timed out after 0.5s" in str(result.error)
    assert elapsed < 0.5 + 2


def test_a_run_whose_time_ran_out_starts_no_step() -> None:
    run = dataclasses.replace(RUN, deadline=time.monotonic() - 1)

    result = run_workflow(_workflow({"type": "http", "url": "https://example.com/"}), run)

    assert result.status == "failed"
    assert "time ran out" in str(result.error)
    assert not result.critical


@pytest.mark.usefixtures("allow_private_http")
def test_http_step_connection_refused_is_a_failed_run() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = run_workflow(_workflow({"type": "http", "url": f"http://127.0.0.1:{port}/"}), RUN)

    assert result.status == "failed"
    assert "connection refused" in str(result.error)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:{port}/",
    ],
)
def test_http_step_refuses_non_public_addresses_by_default(
    http_server: LoopbackServer, url: str
) -> None:
    port = http_server.url.rsplit(":", 1)[1]

    result = run_workflow(_workflow({"type": "http", "url": url.format(port=port)}), RUN)

    assert result.status == "failed"
    assert not result.critical  # DNS may change; the schedule stays enabled
    assert "non-public address" in str(result.error)
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (None, "definition"),
        ({"steps": "nope"}, "steps"),
        ({"steps": [{"type": "ftp", "url": "ftp://x"}]}, "unknown type 'ftp'"),
        ({"steps": [{"url": "https://example.com"}]}, "unknown type None"),
        ({"steps": [{"type": "http"}]}, "step 1 (http): url"),
        ({"steps": [{"type": "http", "url": "file:///etc/passwd"}]}, "absolute http"),
        ({"steps": [{"type": "http", "url": "https://e.com", "verb": "GET"}]}, "verb"),
        ({"steps": [{"type": "http", "url": "https://e.com", "timeoutSeconds": 0}]}, "timeout"),
        ({"steps": [{"type": "lambda", "functionArn": "my-function"}]}, "functionArn"),
    ],
)
def test_an_invalid_definition_is_a_critical_failure(definition: Any, message: str) -> None:
    result = run_workflow({"id": RUN.workflow_id, "definition": definition}, RUN)

    assert result.status == "failed"
    assert result.critical
    assert message in str(result.error)


def test_an_empty_workflow_succeeds() -> None:
    assert run_workflow(_workflow(), RUN).status == "succeeded"


class _EchoStep(StepModel):
    type: Literal["echo"]
    text: str


def test_a_new_step_kind_plugs_in_through_the_registry() -> None:
    seen: list[tuple[BaseModel, RunContext]] = []

    @register_step("echo", _EchoStep)
    def echo(step: _EchoStep, run: RunContext) -> dict[str, Any]:
        seen.append((step, run))
        return {"echoed": step.text}

    try:
        result = run_workflow(_workflow({"type": "echo", "text": "hi"}), RUN)
    finally:
        workflows._STEPS.pop("echo")

    assert result.status == "succeeded"
    assert result.output()["steps"][0]["detail"] == {"echoed": "hi"}
    assert seen == [(_EchoStep(type="echo", text="hi"), RUN)]


class _BrokenStep(StepModel):
    type: Literal["broken"]


def test_a_crashing_step_is_recorded_not_raised() -> None:
    @register_step("broken", _BrokenStep)
    def broken(step: _BrokenStep, run: RunContext) -> dict[str, Any]:
        raise KeyError("bug")

    try:
        result = run_workflow(_workflow({"type": "broken"}), RUN)
    finally:
        workflows._STEPS.pop("broken")

    assert result.status == "failed"
    assert result.error == "step 1 (broken): KeyError: 'bug'"


@pytest.fixture
def lambda_function() -> Any:
    """A function in moto (no Docker: moto answers the invoke itself)."""
    from moto import mock_aws

    with mock_aws(config={"lambda": {"use_docker": False}}):
        clients.reset()
        role = clients.aws_client("iam").create_role(
            RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
        )["Role"]["Arn"]
        function = clients.aws_client("lambda").create_function(
            FunctionName="step-target",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": b"not executed by moto without docker"},
        )
        yield function["FunctionArn"]
    clients.reset()


def test_lambda_step_invokes_the_function_with_the_run_and_schedule_as_payload(
    lambda_function: str,
) -> None:
    sent: list[dict[str, Any]] = []
    clients.step_lambda_client().meta.events.register(
        "before-call.lambda.Invoke", lambda params, **_: sent.append(params)
    )
    step = {"type": "lambda", "functionArn": lambda_function, "payload": {"report": "daily"}}

    run = dataclasses.replace(RUN, input={"customer": {"id": "c-1"}}, external_id="ext-1")

    result = run_workflow(_workflow(step), run)

    assert result.status == "succeeded", result.error
    [params] = sent
    assert params["headers"]["X-Amz-Invocation-Type"] == "RequestResponse"
    payload = json.loads(params["body"])
    assert payload == {
        "run": RUN.as_payload(),
        "schedule": {
            "id": str(RUN.schedule_id),
            "externalId": "ext-1",
            "input": {"customer": {"id": "c-1"}},
            "scheduledTime": "2026-11-27T07:00:00Z",
        },
        "payload": {"report": "daily"},
    }
    assert payload["run"]["runId"] == str(RUN.run_id)
    assert result.output()["steps"][0]["detail"]["statusCode"] == 200


def test_lambda_step_invoke_error_is_a_failed_run(lambda_function: str) -> None:
    def throttled(**_: Any) -> None:  # fault injection on the moto-backed client
        raise ClientError(
            {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke"
        )

    clients.step_lambda_client().meta.events.register("before-call.lambda.Invoke", throttled)

    result = run_workflow(_workflow({"type": "lambda", "functionArn": lambda_function}), RUN)

    assert result.status == "failed"
    assert not result.critical
    assert "TooManyRequestsException" in str(result.error)


def test_lambda_step_is_never_retried_by_the_sdk(lambda_function: str) -> None:
    # Given the Lambda service answers 500 (the function may have run: a retry could repeat it)
    sends: list[str] = []

    def service_error(request: Any, **_: Any) -> AWSResponse:
        sends.append(request.url)
        return AWSResponse(request.url, 500, {}, _RawBody(b'{"Message": "internal"}'))

    clients.step_lambda_client().meta.events.register("before-send.lambda.Invoke", service_error)

    result = run_workflow(_workflow({"type": "lambda", "functionArn": lambda_function}), RUN)

    # Then one request went out and the run failed
    assert len(sends) == 1
    assert result.status == "failed"


class _RawBody:
    """The raw stream botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:step-target"


@pytest.fixture
def lambda_endpoint(
    http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackServer]:
    """The loopback server standing in for the Lambda service."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", http_server.url)
    clients.reset()
    yield http_server
    clients.reset()


def test_lambda_step_waits_no_longer_than_the_run_has_left(
    lambda_endpoint: LoopbackServer,
) -> None:
    # Given a function still running when the run's 1 s is up (the SDK alone would wait 900 s)
    lambda_endpoint.hold = threading.Event()
    run = dataclasses.replace(RUN, deadline=time.monotonic() + 1)

    started = time.monotonic()
    result = run_workflow(_workflow({"type": "lambda", "functionArn": FUNCTION_ARN}), run)
    elapsed = time.monotonic() - started

    # Then the step fails at the run's deadline, and the invoke was sent once, never retried
    assert result.status == "failed"
    assert "timed out after 1s" in str(result.error)
    assert elapsed < 1 + 20  # the SDK's own read timeout is 60 s (and its retries more)
    assert len(lambda_endpoint.requests) == 1


def test_lambda_step_with_no_time_left_is_not_invoked(lambda_endpoint: LoopbackServer) -> None:
    run = dataclasses.replace(RUN, deadline=time.monotonic() - 1)
    step = lambda_invoke.LambdaStep.model_validate({"type": "lambda", "functionArn": FUNCTION_ARN})

    with pytest.raises(StepFailed, match="time ran out"):
        lambda_invoke.execute_lambda_step(step, run)

    assert lambda_endpoint.requests == []


# --- secrets stay secret: headers checked when the definition is parsed, failures redacted


@pytest.mark.usefixtures("allow_private_http")
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({"Authorization": BEARER + "\n"}, "header 'Authorization'", id="LF"),
        pytest.param({f"Authorization: {BEARER}": "x"}, "header 1: name is not", id="name"),
        pytest.param(
            {"Authorization": {"secretRef": f"elsewhere/{SECRET}"}},
            "header 'Authorization': secretRef must name a secret under 'workflow-secrets/'",
            id="ref-outside-the-prefix",
        ),
        pytest.param(
            {"Authorization": {"secretRef": "workflow-secrets/database-url"}},
            "one of the scheduler's own secrets",
            id="ref-to-the-database-url",
        ),
    ],
)
def test_a_header_that_cannot_be_sent_is_a_critical_failure_naming_it_not_its_value(
    http_server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, Any],
    reason: str,
) -> None:
    monkeypatch.setenv("DATABASE_SECRET_NAME", "workflow-secrets/database-url")
    get_settings.cache_clear()
    step = {"type": "http", "url": f"{http_server.url}/hook", "headers": headers}

    try:
        result = run_workflow(_workflow(step), RUN)
    finally:
        monkeypatch.delenv("DATABASE_SECRET_NAME")
        get_settings.cache_clear()

    assert result.status == "failed"
    assert result.critical
    assert str(result.error).startswith("step 1 (http): headers: ")
    assert reason in str(result.error)
    assert_nowhere(result.error)
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"https://reporter:{SECRET}@example.com/hook", "must not contain user:password@"),
        (f"https://{SECRET}@example.com/hook", "must not contain user:password@"),
        (f"https://example.com/hook?token={SECRET} x", "spaces or control characters"),
        (f"https://example.com/hook?token={SECRET}\u0000", "spaces or control characters"),
        (f"https://example.com:{SECRET}/hook", "not a valid URL"),
        (f"https://example.com/r\u00e9sum\u00e9?token={SECRET}", "must be ASCII"),
    ],
)
def test_a_url_with_credentials_or_unsendable_characters_is_rejected_without_quoting_it(
    url: str, reason: str
) -> None:
    result = run_workflow(_workflow({"type": "http", "url": url}), RUN)

    assert result.status == "failed"
    assert result.critical
    assert reason in str(result.error)
    assert_nowhere(result.error)


def _closed_port_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.usefixtures("allow_private_http")
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        # a value the load-time check let through: http.client's ValueError quotes it
        ("slips-past-the-check", "POST 127.0.0.1: request not sent (ValueError)"),
        ("connection-refused", "POST 127.0.0.1: connection refused"),
        ("tls-error", "POST 127.0.0.1: SSLError: "),
        ("timeout", "POST 127.0.0.1: timed out after 0.3s"),
        ("http-500-echoing-the-headers", "POST 127.0.0.1: HTTP 500"),
        # http.client's BadStatusLine quotes the line the server sent
        ("status-line-echoing-the-header", "POST 127.0.0.1: BadStatusLine"),
    ],
)
def test_a_failing_http_step_stores_and_logs_neither_its_headers_nor_its_query(
    http_server: LoopbackServer,
    echo_server: EchoServer,
    drip_server: DripServer,
    logs: CapturedLogs,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    message: str,
) -> None:
    # Given a step sending a token in a header and another in its query, failing at `failure`
    base, value = http_server.url, BEARER
    if failure == "slips-past-the-check":
        monkeypatch.setattr(http_step, "check_headers", lambda *_, **__: None)
        value = BEARER + "\n"
    elif failure == "connection-refused":
        base = _closed_port_url()
    elif failure == "tls-error":
        base = http_server.url.replace("http://", "https://")  # a plain HTTP server
    elif failure == "timeout":
        http_server.hold = threading.Event()
    elif failure == "http-500-echoing-the-headers":
        echo_server.status, base = 500, echo_server.url
    else:
        drip_server.at_once, base = f"{BEARER}\r\n\r\n".encode(), drip_server.url
    step = {
        "type": "http",
        "url": f"{base}/hook?token={QUERY_SECRET}",
        "headers": {"Authorization": value},
        "body": {"report": "daily"},
        "timeoutSeconds": 0.3,
    }

    result = run_workflow(_workflow(step), RUN)

    # Then the run failed saying how, and neither token is in the run's record or any log line
    assert result.status == "failed"
    assert not result.critical
    assert str(result.error).startswith(f"step 1 (http): {message}"), result.error
    assert_nowhere(result.error, result.output(), logs.text())


@pytest.mark.usefixtures("allow_private_http")
def test_a_response_body_echoing_the_headers_and_query_is_kept_with_their_values_masked(
    echo_server: EchoServer, logs: CapturedLogs
) -> None:
    step = {
        "type": "http",
        "url": f"{echo_server.url}/hook?token={QUERY_SECRET}",
        "headers": {"Authorization": BEARER, "X-Api-Key": SECRET, "X-Short": "daily"},
    }

    result = run_workflow(_workflow(step), RUN)

    assert result.status == "succeeded", result.error
    [sent] = echo_server.received
    assert ("authorization", BEARER) in sent  # the real value went out
    echoed = json.loads(result.output()["steps"][0]["detail"]["body"])
    assert echoed["path"] == "/hook?token=[redacted]"
    assert echoed["headers"]["authorization"] == "[redacted]"
    assert echoed["headers"]["x-api-key"] == "[redacted]"
    assert echoed["headers"]["x-short"] == "daily"  # too short to be a credential: kept
    assert_nowhere(result.output(), logs.text())


@pytest.mark.usefixtures("allow_private_http")
def test_the_steps_own_headers_win_whatever_case_the_definition_uses(
    echo_server: EchoServer,
) -> None:
    headers = {"x-workflow-run-id": "spoofed", "user-agent": "mine", "content-type": "text/csv"}
    step = {"type": "http", "url": echo_server.url, "headers": headers, "body": {"a": 1}}

    result = run_workflow(_workflow(step), RUN)

    assert result.status == "succeeded", result.error
    [sent] = echo_server.received
    named = {name: [v for n, v in sent if n == name] for name in headers}
    assert named == {
        "x-workflow-run-id": [str(RUN.run_id)],
        "user-agent": ["workflow-scheduler"],
        "content-type": ["application/json"],
    }


def test_lambda_step_sdk_errors_are_named_by_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", _closed_port_url())
    clients.reset()
    try:
        result = run_workflow(_workflow({"type": "lambda", "functionArn": FUNCTION_ARN}), RUN)
    finally:
        clients.reset()

    assert result.status == "failed"
    assert result.error == (
        f"step 1 (lambda): lambda invoke of {FUNCTION_ARN} failed: EndpointConnectionError"
    )
