"""Placeholders: the schedule's values in an http step's URL, header values and body, exactly
where docs/input-and-placeholders.md says, and refused where they would be unsafe."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from scheduler.errors import StepFailed
from scheduler.steps import http as http_step
from scheduler.steps.engine import RunContext, run_workflow
from scheduler.steps.placeholders import substitute_url

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LoopbackServer,
    allow_private_http_fixture,
    http_server_fixture,
)

INPUT = {
    "customer": {"id": "c/42 & co=1#x", "tier": 3, "tags": ["a", "b"]},
    "name": "Zoë",
    "flag": True,
    "nothing": None,
}
RUN = RunContext(
    run_id=uuid.UUID("11111111-1111-4111-8111-111111111111"),
    schedule_id=uuid.UUID("22222222-2222-4222-8222-222222222222"),
    workflow_id=uuid.UUID("33333333-3333-4333-8333-333333333333"),
    scheduled_time=datetime(2026, 11, 27, 7, 0, tzinfo=UTC),
    input=INPUT,
)
pytestmark = pytest.mark.usefixtures("allow_private_http")


def _run(step: dict[str, Any], run: RunContext = RUN) -> Any:
    return run_workflow({"id": run.workflow_id, "definition": {"steps": [step]}}, run)


def test_path_and_query_placeholders_are_percent_encoded_whole(
    http_server: LoopbackServer,
) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/c/{{{{input.customer.id}}}}/{{{{scheduleId}}}}"
        "?name={{input.name}}&tier={{input.customer.tier}}&at={{scheduledTime}}&fixed=1",
    }

    result = _run(step)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    # "/", "&", "=", "#", " " and the non-ASCII letter are encoded: one segment, one value
    assert request.path == (
        "/c/c%2F42%20%26%20co%3D1%23x/22222222-2222-4222-8222-222222222222"
        "?name=Zo%C3%AB&tier=3&at=2026-11-27T07%3A00%3A00Z&fixed=1"
    )
    assert request.headers["host"] == http_server.url.removeprefix("http://")


def test_a_body_string_that_is_one_placeholder_becomes_its_json_value(
    http_server: LoopbackServer,
) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/hook",
        "body": {
            "customer": "{{input.customer}}",
            "tier": "{{input.customer.tier}}",
            "second_tag": "{{input.customer.tags.1}}",
            "flag": "{{input.flag}}",
            "nothing": "{{input.nothing}}",
            "all": "{{input}}",
            "text": "for {{input.name}} (tier {{input.customer.tier}}) at {{scheduledTime}}",
            "{{input.name}}": ["{{scheduleId}}", 7],
        },
    }

    result = _run(step)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    assert request.body == {
        "customer": INPUT["customer"],
        "tier": 3,
        "second_tag": "b",
        "flag": True,
        "nothing": None,
        "all": INPUT,
        "text": "for Zoë (tier 3) at 2026-11-27T07:00:00Z",
        "{{input.name}}": [str(RUN.schedule_id), 7],  # keys are left as written
    }


def test_a_header_value_takes_placeholders_and_a_name_does_not(
    http_server: LoopbackServer,
) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/hook",
        "headers": {"X-Customer": "id={{input.customer.id}}; tier={{input.customer.tier}}"},
    }

    result = _run(step)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    assert request.headers["x-customer"] == "id=c/42 & co=1#x; tier=3"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("token\r\nX-Injected: yes", id="CRLF"),
        pytest.param("nul\x00", id="NUL"),
        pytest.param("snowman \u2603", id="not-Latin-1"),
        pytest.param("x" * 9000, id="too-long"),
    ],
)
def test_a_header_value_built_from_input_must_pass_the_header_rules(
    http_server: LoopbackServer, value: str
) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/hook",
        "headers": {"X-Customer": "{{input.secretish}}"},
    }

    result = _run(step, dataclasses.replace(RUN, input={"secretish": value}))

    assert result.status == "failed"
    assert not result.critical  # the definition is fine: this schedule's input is not
    assert str(result.error).startswith(
        "step 1 (http): header 'X-Customer': with its placeholders replaced, the value "
    )
    assert value.strip() not in str(result.error)
    assert "token" not in str(result.error)
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("where", "placeholder"),
    [
        ("url", "{{input.customer.missing}}"),
        ("query", "{{input.customer.tags.2}}"),
        ("header", "{{input.nope}}"),
        ("body", "{{input.name.first}}"),
        ("body", "{{externalId}}"),
    ],
)
def test_a_placeholder_with_no_value_fails_the_run_before_any_step_naming_it(
    http_server: LoopbackServer, where: str, placeholder: str
) -> None:
    first = {"type": "http", "url": f"{http_server.url}/first"}
    second: dict[str, Any] = {"type": "http", "url": f"{http_server.url}/second"}
    if where == "url":
        second["url"] += f"/{placeholder}"
    elif where == "query":
        second["url"] += f"?q={placeholder}"
    elif where == "header":
        second["headers"] = {"X-Value": placeholder}
    else:
        second["body"] = {"value": placeholder}

    result = run_workflow({"id": RUN.workflow_id, "definition": {"steps": [first, second]}}, RUN)

    assert result.status == "failed"
    assert not result.critical
    assert str(result.error).startswith("step 2 (http): ")
    assert f"placeholder {placeholder}" in str(result.error)
    assert http_server.requests == []  # not even the first step ran


def test_external_id_is_substituted_when_the_schedule_has_one(
    http_server: LoopbackServer,
) -> None:
    step = {"type": "http", "url": f"{http_server.url}/e/{{{{externalId}}}}"}

    result = _run(step, dataclasses.replace(RUN, external_id="order 7"))

    assert result.status == "succeeded", result.error
    assert [r.path for r in http_server.requests] == ["/e/order%207"]


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_from_input_is_refused_in_the_path(
    http_server: LoopbackServer, value: str
) -> None:
    step = {"type": "http", "url": f"{http_server.url}/a/{{{{input.segment}}}}/b"}

    result = _run(step, dataclasses.replace(RUN, input={"segment": value}))

    assert result.status == "failed"
    assert "placeholder {{input.segment}}: '.' and '..' are refused" in str(result.error)
    assert http_server.requests == []


def test_a_path_value_cannot_reach_another_host(http_server: LoopbackServer) -> None:
    step = {"type": "http", "url": f"{http_server.url}/{{{{input.target}}}}"}
    run = dataclasses.replace(RUN, input={"target": "//evil.example/x?y=1#z"})

    result = _run(step, run)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    assert request.path == "/%2F%2Fevil.example%2Fx%3Fy%3D1%23z"
    assert request.headers["host"] == http_server.url.removeprefix("http://")


@pytest.mark.parametrize(
    "url",
    [
        "https://{{input.host}}/hook",
        "https://api.{{input.tenant}}.example.com/hook",
        "https://example.com:{{input.port}}/hook",
        "{{input.scheme}}://example.com/hook",
    ],
)
def test_a_placeholder_in_the_scheme_host_or_port_is_an_invalid_definition(url: str) -> None:
    result = _run({"type": "http", "url": url})

    assert result.status == "failed"
    assert result.critical  # never runs as defined
    assert str(result.error).startswith("step 1 (http): url: ")
    assert "evil" not in str(result.error)


def test_the_run_refuses_a_host_placeholder_even_past_the_definitions_check() -> None:
    # a step built without validation (as a stored step once could be): the run's own check
    step = http_step.HttpStep.model_construct(
        type="http", method="GET", url="https://{{input.host}}/hook", headers={}, body=None
    )

    with pytest.raises(StepFailed, match="not the host"):
        http_step.execute_http_step(step, dataclasses.replace(RUN, input={"host": "evil.example"}))
    with pytest.raises(StepFailed, match="not the host"):
        substitute_url("https://{{scheduleId}}.example.com/", RUN)


def test_other_brace_text_is_sent_as_written(http_server: LoopbackServer) -> None:
    step = {
        "type": "http",
        "url": f"{http_server.url}/hook?t={{{{other}}}}",
        "body": {"a": "{{ input.name }}", "b": "{{other}}", "c": "{{input..x}}"},
    }

    result = _run(step)

    assert result.status == "succeeded", result.error
    [request] = http_server.requests
    assert request.path == "/hook?t={{other}}"
    assert request.body == {"a": "{{ input.name }}", "b": "{{other}}", "c": "{{input..x}}"}
