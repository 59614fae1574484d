"""Loading a stored workflow definition: what Python cannot load is an invalid definition, and
so is an http step header that cannot be sent (named, its value never quoted)."""

from __future__ import annotations

import json

import pytest
from scheduler.errors import InvalidWorkflowDefinition
from scheduler.steps.definitions import (
    MAX_DEFINITION_BYTES,
    MAX_DEFINITION_DEPTH,
    MAX_HEADER_NAME_CHARS,
    MAX_HEADER_VALUE_CHARS,
    MAX_HEADERS,
    check_headers,
    header_value_problem,
    load_definition,
)


def test_an_ordinary_definition_loads() -> None:
    text = json.dumps({"steps": [{"type": "http", "url": "https://example.com", "n": 1.5}]})

    assert load_definition(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("[" * 3000 + "]" * 3000, "nested deeper", id="nested-3000-deep"),
        pytest.param(
            json.dumps({"steps": []} | {"x": json.loads("[" * 40 + "]" * 40)}),
            "nested deeper",
            id="nested-past-the-limit",
        ),
        pytest.param('{"steps": [], "n": 1e5000}', "out of range", id="float-overflow"),
        pytest.param('{"steps": [], "n": ' + "1" * 5001 + "}", "invalid", id="huge-integer"),
        pytest.param('{"steps": [], "n": NaN}', "not JSON", id="nan"),
        pytest.param('["steps"]', "JSON object", id="not-an-object"),
        pytest.param("{", "invalid definition", id="truncated"),
        pytest.param(None, "missing", id="missing"),
    ],
)
def test_what_cannot_be_loaded_is_an_invalid_definition(text: str | None, reason: str) -> None:
    with pytest.raises(InvalidWorkflowDefinition, match=reason):
        load_definition(text)


def test_the_bounds_are_inclusive() -> None:
    deepest = {"steps": []}
    node: dict[str, object] = deepest
    for _ in range(MAX_DEFINITION_DEPTH - 1):  # the root and 31 nested objects: depth 32
        child: dict[str, object] = {}
        node["x"] = child
        node = child

    assert load_definition(json.dumps(deepest)) == deepest
    padding = MAX_DEFINITION_BYTES - len('{"steps": [], "p": ""}')
    assert load_definition(json.dumps({"steps": [], "p": "a" * padding}))["p"] == "a" * padding
    with pytest.raises(InvalidWorkflowDefinition, match="larger than"):
        load_definition(json.dumps({"steps": [], "p": "a" * (padding + 1)}))


# --- http step headers: checked when loaded, named in the error, their values never quoted

SECRET = "sk_live_4f9a1c7e2b8d6a0f93"


def _http_definition(headers: object) -> str:
    return json.dumps({"steps": [{"type": "http", "url": "https://e.com/", "headers": headers}]})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(
            {"Authorization": f"Bearer {SECRET}\n"},
            "header 'Authorization': value contains a control character",
            id="value-ending-in-LF",
        ),
        pytest.param(
            {"X-Key": f"{SECRET}\r\nX-Injected: 1"},
            "header 'X-Key': value contains a control character",
            id="CRLF-injection",
        ),
        pytest.param({"X-Key": f"{SECRET}\u0000"}, "control character", id="NUL"),
        pytest.param({"X-Key": f"{SECRET}\x7f"}, "control character", id="DEL"),
        pytest.param({"X-Key": f"{SECRET}\x85"}, "control character", id="C1-NEL"),
        pytest.param({"X-Key": f"{SECRET}\u20ac"}, "outside Latin-1", id="not-latin-1"),
        pytest.param(
            {"X-Key": SECRET + "a" * 8192}, "header 'X-Key': value is longer than 8192", id="long"
        ),
        pytest.param(
            {f"Authorization: Bearer {SECRET}": "x"},
            "header 1: name is not a valid HTTP header name",
            id="value-pasted-into-the-name",
        ),
        pytest.param({"ok": "1", "X Key": SECRET}, "header 2: name is not a valid", id="space"),
        pytest.param({"": SECRET}, "header 1: name is not a valid", id="empty-name"),
        pytest.param({"X-" * 129: SECRET}, "header 1: name is over 256 characters", id="long"),
        pytest.param(
            {"Authorization": SECRET, "authorization": SECRET},
            "header 'authorization': given twice",
            id="duplicate-ignoring-case",
        ),
        pytest.param({f"X-{n}": SECRET for n in range(51)}, "more than 50 headers", id="count"),
        pytest.param({"X-Key": 123}, "header 'X-Key': value must be a string or", id="number"),
        pytest.param([["X-Key", SECRET]], "headers must be an object", id="not-an-object"),
        pytest.param(
            {"X-Key": {"secretRef": "workflow-secrets/k", "value": SECRET}},
            "header 'X-Key': a secret reference is",
            id="ref-with-a-value",
        ),
        pytest.param(
            {"X-Key": {"secretRef": f"Bearer {SECRET}"}},
            "header 'X-Key': secretRef is not a Secrets Manager secret name",
            id="value-pasted-into-the-ref",
        ),
        pytest.param(
            {"X-Key": {"secretRef": "arn:aws:secretsmanager:us-east-1:1:secret:k"}},
            "secretRef is not a Secrets Manager secret name",
            id="arn-not-name",
        ),
        pytest.param({"X-Key": {"secretRef": 7}}, "secretRef is not a", id="ref-not-a-string"),
        pytest.param({"X-Key": {"jsonKey": "k"}}, "a secret reference is", id="no-ref"),
        pytest.param(
            {"X-Key": {"secretRef": "s", "jsonKey": ""}}, "jsonKey must be", id="empty-key"
        ),
        pytest.param(
            {"X-Key": {"secretRef": "s", "jsonKey": "a\nb"}}, "jsonKey must be", id="key-LF"
        ),
    ],
)
def test_http_headers_that_cannot_be_sent_are_an_invalid_definition_naming_the_header(
    headers: object, reason: str
) -> None:
    with pytest.raises(InvalidWorkflowDefinition) as raised:
        load_definition(_http_definition(headers))

    assert str(raised.value).startswith("step 1 (http): ")
    assert reason in str(raised.value)
    assert SECRET not in str(raised.value)
    assert raised.value.__suppress_context__  # raised from None: no chained text to log


def test_headers_within_the_rules_and_bounds_load() -> None:
    headers: dict[str, object] = {
        "!#$%&'*+-.^_`|~09azAZ": "tab\tand space, Latin-1 \u00e9\u00ff",
        "X-Empty": "",
        "N" * MAX_HEADER_NAME_CHARS: "v" * MAX_HEADER_VALUE_CHARS,
        "Authorization": {"secretRef": "workflow-secrets/api-token"},
        "X-Api-Key": {"secretRef": "workflow-secrets/keys", "jsonKey": "partner a"},
    }
    headers |= {f"X-{n}": "1" for n in range(MAX_HEADERS - len(headers))}

    assert load_definition(_http_definition(headers))["steps"][0]["headers"] == headers


def test_only_http_steps_have_their_headers_checked() -> None:
    text = json.dumps({"steps": [{"type": "echo", "headers": {"X": "a\nb"}}], "headers": 1})

    assert load_definition(text)["steps"][0]["headers"] == {"X": "a\nb"}


def test_with_a_prefix_a_secret_ref_must_name_a_secret_under_it_and_not_the_stacks_own() -> None:
    def check(name: str) -> None:
        check_headers(
            {"Authorization": {"secretRef": name}},
            secret_prefix="workflow-secrets/",
            protected_secrets={"workflow-secrets/database-url"},
        )

    check("workflow-secrets/api-token")
    with pytest.raises(ValueError, match="must name a secret under 'workflow-secrets/'"):
        check("workflow-scheduler/database-url")
    with pytest.raises(ValueError, match="must name a secret under"):
        check("workflow-secrets")
    with pytest.raises(ValueError, match="one of the scheduler's own secrets"):
        check("workflow-secrets/database-url")
    check_headers({"Authorization": {"secretRef": "anywhere/x"}})  # no prefix: loading only


def test_a_header_value_problem_never_quotes_the_value() -> None:
    assert header_value_problem(f"Bearer {SECRET}") is None
    for bad in (f"{SECRET}\n", f"{SECRET}\r", f"\u0000{SECRET}", SECRET * 400):
        problem = header_value_problem(bad)
        assert problem is not None
        assert SECRET not in problem
