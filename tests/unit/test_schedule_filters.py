"""The list's filter: its parsing from the query string, the SQL it becomes, the label bounds
(the API's answers to them: tests/integration/test_schedule_search.py)."""

from __future__ import annotations

import uuid

import pytest
from scheduler.errors import InvalidInput
from scheduler.models.schedule_filters import (
    parse_label_filters,
    parse_last_run_status,
    parse_q,
    schedule_filter_from_query,
)
from scheduler.models.schedule_labels import checked_labels
from scheduler.store.schedule_filters import ScheduleFilter, escape_like, schedule_filter_where


def test_a_label_filter_splits_at_the_first_equals_sign_and_keeps_empty_values() -> None:
    assert parse_label_filters(["query=a=b", "flag=", "team=x", "team=x"]) == {
        "query": "a=b",
        "flag": "",
        "team": "x",
    }
    assert parse_label_filters(None) == {}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["team"], "label: 'team' is not key=value"),
        (["=x"], "label: key ''"),
        (["a" * 64 + "=x"], "label: key"),
        (["Team=x"], "label: key 'Team'"),
        (["team=" + "v" * 64], "label.team: at most 63 characters (64 given)"),
        (["team=a\nb"], "label.team: no control characters"),
        (["env=prod", "env=dev"], "label: 'env' given twice with different values"),
        ([f"k{i}=v" for i in range(17)], "label: at most 16 (17 given)"),
    ],
)
def test_a_malformed_label_filter_is_invalid_input_naming_it(
    values: list[str], message: str
) -> None:
    with pytest.raises(InvalidInput, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_label_filters(values)


def test_q_and_last_run_status_bounds() -> None:
    assert parse_q("") is None
    assert parse_q("x" * 200) == "x" * 200
    with pytest.raises(InvalidInput, match="q: at most 200"):
        parse_q("x" * 201)
    with pytest.raises(InvalidInput, match="q: no control characters"):
        parse_q("a\x1fb")
    assert parse_last_run_status("skipped") == "skipped"
    with pytest.raises(InvalidInput, match="lastRunStatus: one of succeeded, failed, skipped"):
        parse_last_run_status("running")


def test_only_the_set_parts_of_a_filter_become_sql() -> None:
    assert schedule_filter_where(ScheduleFilter()) == ("true", {})
    workflow = uuid.uuid4()
    where, params = schedule_filter_where(
        schedule_filter_from_query(workflow_id=workflow, labels=["a=b"], q="50%_off")
    )
    assert where.count(" and ") == 2
    assert "s.labels @>" in where
    assert set(params) == {"filter_workflow_id", "filter_labels", "filter_q"}
    assert params["filter_q"] == "%50\\%\\_off%"
    assert params["filter_labels"].obj == {"a": "b"}


def test_like_escaping_makes_every_wildcard_and_the_escape_itself_literal() -> None:
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_label_bounds_at_their_edges() -> None:
    sixteen = {f"k{i}": "v" * 63 for i in range(16)}
    assert checked_labels(sixteen) == sixteen
    assert checked_labels({"a" * 63: ""}) == {"a" * 63: ""}
    assert checked_labels({"0.a_b-c/d": "ü é"}) == {"0.a_b-c/d": "ü é"}
    assert checked_labels(None) == {}
    for bad in ({**sixteen, "k16": "v"}, {"a" * 64: ""}, {"": "v"}, {"_a": "v"}, {"a": "v" * 64}):
        with pytest.raises(ValueError, match="labels"):
            checked_labels(bad)
