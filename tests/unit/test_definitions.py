"""Loading a stored workflow definition: what Python cannot load is an invalid definition."""

from __future__ import annotations

import json

import pytest
from scheduler.definitions import MAX_DEFINITION_BYTES, MAX_DEFINITION_DEPTH, load_definition
from scheduler.errors import InvalidWorkflowDefinition


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
