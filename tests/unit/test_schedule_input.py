"""A schedule's input: a JSON object within bounds, refused by the API's models (naming
`input`, never quoting it) and loaded by the runner within the same bounds."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from scheduler.models.schedule_input import (
    MAX_INPUT_BYTES,
    MAX_INPUT_DEPTH,
    InvalidScheduleInput,
    load_input,
)
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate


def _nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep counted as Postgres' jsonb_depth does (a scalar is one)."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return value  # type: ignore[no-any-return]


def _create(value: Any) -> ScheduleCreate:
    return ScheduleCreate.model_validate(
        {"workflowId": str(uuid.uuid4()), "cron": "0 7 * * *", "input": value}
    )


def test_input_defaults_to_the_empty_object_and_null_is_the_empty_object() -> None:
    assert (
        ScheduleCreate.model_validate({"workflowId": str(uuid.uuid4()), "cron": "0 7 * * *"}).input
        == {}
    )
    assert _create(None).input == {}
    assert ScheduleUpdate.model_validate({"input": None}).changes() == {"input": {}}
    assert ScheduleUpdate.model_validate({"input": {"a": [1]}}).changes() == {"input": {"a": [1]}}


def test_the_largest_and_deepest_input_is_accepted() -> None:
    deepest = _nested(MAX_INPUT_DEPTH)
    assert _create(deepest).input == deepest
    padding = MAX_INPUT_BYTES - len(json.dumps({"k": ""}))
    largest = {"k": "x" * padding}
    assert len(json.dumps(largest)) == MAX_INPUT_BYTES
    assert _create(largest).input == largest


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param({"k": "x" * MAX_INPUT_BYTES}, "larger than 8192 bytes", id="too-big"),
        pytest.param({"k": "é" * (MAX_INPUT_BYTES // 2)}, "larger than", id="too-big-in-utf8"),
        pytest.param(_nested(MAX_INPUT_DEPTH + 1), "deeper than 16 levels", id="too-deep"),
        pytest.param({"k": float("nan")}, "NaN and Infinity", id="nan"),
        pytest.param({"k": "a\x00b"}, "NUL", id="nul"),
        pytest.param({"k\x00": 1}, "NUL", id="nul-key"),
    ],
)
def test_an_input_out_of_bounds_is_refused_naming_input(value: Any, reason: str) -> None:
    for validate in (_create, lambda v: ScheduleUpdate.model_validate({"input": v})):
        with pytest.raises(ValidationError) as caught:
            validate(value)
        [error] = caught.value.errors()
        assert error["loc"] == ("input",)
        assert reason in error["msg"]
        assert "xxxxxxxx" not in error["msg"]


@pytest.mark.parametrize("value", [[1, 2], "text", 3, True])
def test_an_input_that_is_not_an_object_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        _create(value)
    assert {error["loc"][0] for error in caught.value.errors()} == {"input"}


def test_load_input_reads_what_the_bounds_allow() -> None:
    assert load_input('{"a": {"b": [1, 2.5, null]}}') == {"a": {"b": [1, 2.5, None]}}
    assert load_input(None) == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("[" * 100_000 + "]" * 100_000, "larger than", id="too-big-and-deep"),
        pytest.param("[" * 4000 + "]" * 4000, "deeper than", id="deeper-than-the-stack"),
        pytest.param(json.dumps(_nested(MAX_INPUT_DEPTH + 1)), "deeper than", id="too-deep"),
        pytest.param('{"k": NaN}', "not JSON", id="nan"),
        pytest.param('{"k": 1e999}', "out of range", id="huge-number"),
        pytest.param("[]", "must be a JSON object", id="array"),
        pytest.param("{", "not JSON", id="truncated"),
    ],
)
def test_load_input_refuses_what_the_bounds_do_not_allow(text: str, reason: str) -> None:
    with pytest.raises(InvalidScheduleInput, match=reason):
        load_input(text)
