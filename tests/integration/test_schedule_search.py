"""Labels on schedules, and the list's filters: label=key=value (repeatable), q, enabled,
workflowId, combined with AND and paginated (docs/api.md, "Labels and search"); lastRunStatus:
tests/integration/test_schedule_last_run_status.py.

The list is called through ApiFunction's handler with events as API Gateway's HTTP API makes
them: the query string percent-decoded into queryStringParameters, a repeated parameter's
values joined by commas, rawQueryString as sent.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import psycopg
import pytest
from scheduler.sync.eventbridge import EventBridgeSchedules

from devstack.apigw import LambdaContext
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)
from tests.queries import process_queries


def _list(api: Api, params: list[tuple[str, str]]) -> tuple[int, Any]:
    """GET /api/schedules with these parameters, as API Gateway delivers the request."""
    raw = urlencode(params)
    event = api.event("GET", "/api/schedules")
    event["rawQueryString"] = raw
    decoded: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        decoded[name] = f"{decoded[name]},{value}" if name in decoded else value
    if decoded:
        event["queryStringParameters"] = decoded
    response = api.handler(event, LambdaContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None


def _ids(api: Api, params: list[tuple[str, str]]) -> list[str]:
    status, page = _list(api, params)
    assert status == 200, page
    return [item["id"] for item in page["items"]]


# --- labels on the schedule


def test_labels_are_written_by_create_patch_and_put_and_read_everywhere(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a schedule created with labels
    created = _create(api, workflows["alice"], labels={"team": "billing", "env": "prod"})
    path = f"/api/schedules/{created['id']}"

    # Then every read shows them
    assert created["labels"] == {"team": "billing", "env": "prod"}
    assert api.call("GET", path)[1]["labels"] == {"team": "billing", "env": "prod"}
    assert _list(api, [])[1]["items"][0]["labels"] == {"team": "billing", "env": "prod"}

    # When PATCH sends labels, they replace the whole map; null removes them all
    status, patched = api.call("PATCH", path, body={"labels": {"team": "ops"}})
    assert status == 200, patched
    assert patched["labels"] == {"team": "ops"}
    assert api.call("PATCH", path, body={"labels": None})[1]["labels"] == {}
    # a PATCH of another field keeps them
    api.call("PATCH", path, body={"labels": {"team": "ops"}})
    assert api.call("PATCH", path, body={"note": "n"})[1]["labels"] == {"team": "ops"}

    # And PUT by externalId makes them exactly the body's (left out: none), idempotently
    put_path = "/api/schedules/by-external-id/nightly"
    body = {"workflowId": str(workflows["alice"]), "cron": "0 1 * * *", "labels": {"a/b": ""}}
    status, first = api.call("PUT", put_path, body=body)
    assert status == 201, first
    assert first["labels"] == {"a/b": ""}
    status, again = api.call("PUT", put_path, body=body)
    assert (status, again) == (200, first)
    status, without = api.call("PUT", put_path, body={**body, "labels": None})
    assert (status, without["labels"]) == (200, {})


@pytest.mark.parametrize(
    ("labels", "named"),
    [
        ({f"k{i}": "v" for i in range(17)}, "labels"),
        ({"Team": "x"}, "'Team'"),
        ({"-team": "x"}, "'-team'"),
        ({"k" * 64: "x"}, "'" + "k" * 64 + "'"),
        ({"team": "v" * 64}, "labels.team"),
        ({"team": "line\nbreak"}, "labels.team"),
        ({"team": 7}, "labels.team"),
        ({"team": None}, "labels.team"),
        (["team=x"], "labels"),
    ],
)
def test_labels_out_of_bounds_are_a_422_naming_the_label_and_write_nothing(
    api: Api, workflows: dict[str, uuid.UUID], labels: Any, named: str
) -> None:
    # When a schedule is created with labels out of bounds, or one is changed to them
    status, created = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *", "labels": labels},
    )
    existing = _create(api, workflows["alice"], labels={"keep": "me"})
    patch_status, patched = api.call(
        "PATCH", f"/api/schedules/{existing['id']}", body={"labels": labels}
    )

    # Then both are refused with a 422 that names the label, and nothing changed
    assert status == 422, created
    assert named in str(created), created
    assert patch_status == 422, patched
    assert named in str(patched), patched
    assert [item["labels"] for item in _list(api, [])[1]["items"]] == [{"keep": "me"}]


def test_the_database_refuses_labels_out_of_bounds_too(clean_db: str) -> None:
    # Given a schedule (written past the API, as a Supabase client could)
    queries = process_queries()
    workflow = queries.workflows.create_workflow(ALICE, "w")["id"]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        schedule = conn.execute(
            "insert into schedules (workflow_id, cron) values (%s, '* * * * *') returning id",
            (workflow,),
        ).fetchone()
        assert schedule is not None
        # Then labels that break the bounds are refused by the check
        for bad in ('{"Upper": "x"}', '{"k": 1}', '["k"]', '{"k": "' + "v" * 64 + '"}'):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("update schedules set labels = %s where id = %s", (bad, schedule[0]))
        conn.execute('update schedules set labels = \'{"a.b/c-d_e": ""}\' where id = %s', schedule)


# --- the filters


def test_label_filters_match_every_label_given_and_no_other_owners(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given schedules with labels, one of them Bob's
    both = _create(api, workflows["alice"], labels={"team": "billing", "env": "prod"})
    team_only = _create(api, workflows["alice"], labels={"team": "billing", "env": "dev"})
    _create(api, workflows["alice"])
    _create(Api(_claims(BOB)), workflows["bob"], labels={"team": "billing", "env": "prod"})

    # Then label= matches the schedules that have it, and two of them match those with both
    assert _ids(api, [("label", "team=billing")]) == [team_only["id"], both["id"]]
    assert _ids(api, [("label", "team=billing"), ("label", "env=prod")]) == [both["id"]]
    assert _ids(api, [("label", "team=ops")]) == []
    # the same label twice is the label once
    assert _ids(api, [("label", "env=prod"), ("label", "env=prod")]) == [both["id"]]


def test_a_label_value_with_reserved_characters_is_matched_exactly(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given a label value holding what a query string reserves: & = , + % # space and non-ASCII
    value = "a&b=c, d+e%20#f ü"
    tricky = _create(api, workflows["alice"], labels={"path/to.key": value})
    _create(api, workflows["alice"], labels={"path/to.key": "a&b=c"})

    # Then the percent-encoded filter matches it, and only it (commas are not a list here)
    assert _ids(api, [("label", f"path/to.key={value}")]) == [tricky["id"]]
    # an empty value is a value
    empty = _create(api, workflows["alice"], labels={"flag": ""})
    assert _ids(api, [("label", "flag=")]) == [empty["id"]]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("team", "not key=value"),
        ("=billing", "label: key ''"),
        ("Team=billing", "label: key 'Team'"),
        ("team=" + "v" * 64, "label.team"),
        ("team=a\x01", "label.team"),
    ],
)
def test_a_malformed_label_filter_is_a_422_naming_the_parameter(
    api: Api, workflows: dict[str, uuid.UUID], label: str, message: str
) -> None:
    status, body = _list(api, [("label", label)])
    assert status == 422, body
    assert message in body["error"]["message"], body


def test_two_values_for_one_label_and_too_many_labels_are_a_422(api: Api) -> None:
    status, body = _list(api, [("label", "env=prod"), ("label", "env=dev")])
    assert status == 422, body
    assert "label: 'env' given twice" in body["error"]["message"], body
    status, body = _list(api, [("label", f"k{i}=v") for i in range(17)])
    assert status == 422, body
    assert "label: at most 16" in body["error"]["message"], body


def test_q_is_a_case_insensitive_substring_of_name_note_or_external_id(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given schedules with the word in each field, and one without it
    named = _create(api, workflows["alice"], name="Nightly INVOICES")
    noted = _create(api, workflows["alice"], note="sends the invoices at night")
    keyed = _create(api, workflows["alice"], externalId="invoices-eu")
    _create(api, workflows["alice"], name="cleanup", note="nothing", externalId="other")

    # Then q finds each, whatever the case
    assert _ids(api, [("q", "invoices")]) == [keyed["id"], noted["id"], named["id"]]
    assert _ids(api, [("q", "InVoIcEs-")]) == [keyed["id"]]
    # a match never spans two fields (the name's end and the note's start)
    assert _ids(api, [("q", "cleanupnothing")]) == []
    # an empty q is no search
    assert len(_ids(api, [("q", "")])) == 4


def test_q_takes_percent_underscore_and_backslash_literally(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given names that a LIKE wildcard would confuse
    percent = _create(api, workflows["alice"], name="100% done")
    underscore = _create(api, workflows["alice"], name="a_b")
    backslash = _create(api, workflows["alice"], name="c:\\temp")
    _create(api, workflows["alice"], name="100 percent done, axb")

    # Then % and _ match only themselves (as LIKE wildcards they would match every name)
    assert _ids(api, [("q", "%")]) == [percent["id"]]
    assert _ids(api, [("q", "0% d")]) == [percent["id"]]
    assert _ids(api, [("q", "_")]) == [underscore["id"]]
    assert _ids(api, [("q", "a_b")]) == [underscore["id"]]
    assert _ids(api, [("q", "\\")]) == [backslash["id"]]


def test_q_out_of_bounds_is_a_422(api: Api) -> None:
    status, body = _list(api, [("q", "x" * 201)])
    assert status == 422, body
    assert "q: at most 200" in body["error"]["message"], body
    status, body = _list(api, [("q", "a\x1fb")])
    assert status == 422, body
    assert "q: no control characters" in body["error"]["message"], body


def test_filters_combine_with_and_and_paginate_without_gaps_or_repeats(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    # Given 12 schedules over two workflows, half enabled, some labelled, some named "report"
    made = []
    for i in range(12):
        workflow = workflows["alice"] if i % 2 else workflows["alice2"]
        labels = {"tier": "gold"} if i % 3 else {}
        made.append(
            _create(
                api,
                workflow,
                name=f"report {i}" if i < 10 else f"other {i}",
                labels=labels,
                enabled=i % 4 != 0,
            )
        )
    expected = [
        s["id"]
        for s in reversed(made)
        if s["workflowId"] == str(workflows["alice"])
        and s["labels"] == {"tier": "gold"}
        and s["enabled"]
        and s["name"].startswith("report")
    ]
    assert len(expected) >= 3

    # When the combined filter is read a page of 2 at a time
    filters = [
        ("workflowId", str(workflows["alice"])),
        ("label", "tier=gold"),
        ("enabled", "true"),
        ("q", "REPORT"),
    ]
    seen: list[str] = []
    cursor = None
    while True:
        status, page = _list(
            api, [*filters, ("limit", "2"), *([("cursor", cursor)] if cursor else [])]
        )
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    # Then the pages hold exactly the matching schedules, newest first, each once
    assert seen == expected


def _claims(owner: uuid.UUID) -> dict[str, Any]:
    return {"sub": str(owner), "role": "authenticated", "aud": "authenticated"}


@pytest.fixture(autouse=True)
def _eventbridge(eventbridge: EventBridgeSchedules) -> None:
    """Every test here writes schedules, whose EventBridge group must exist."""
