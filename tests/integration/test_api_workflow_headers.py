"""The API shows a workflow whose http step headers cannot be sent as definitionError, naming the
header and never its value; a secret reference is an ordinary part of a definition."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.secret_fixtures import BEARER, SECRET, assert_nowhere
from tests.integration.test_api import ALICE, Api
from tests.queries import process_queries


@pytest.fixture(name="api")
def api_fixture(aws: None, clean_db: str) -> Api:
    return Api()


def _http(headers: dict[str, object]) -> dict[str, object]:
    return {"steps": [{"type": "http", "url": "https://example.com/hook", "headers": headers}]}


def test_a_header_that_cannot_be_sent_is_the_workflows_definition_error(api: Api) -> None:
    # Given a definition written around the API (the host app owns workflows) with a header
    # value ending in a newline
    queries = process_queries()
    broken = queries.workflows.create_workflow(
        ALICE, "broken", _http({"Authorization": BEARER + "\n"})
    )["id"]

    status, one = api.call("GET", f"/api/workflows/{broken}")
    listed_status, page = api.call("GET", "/api/workflows")

    assert (status, listed_status) == (200, 200)
    assert one["definition"] is None
    assert one["definitionError"] == (
        "step 1 (http): header 'Authorization': value contains a control character"
        " (such as CR, LF or NUL)"
    )
    assert_nowhere(one, page, secrets=(SECRET,))


def test_a_secret_reference_is_shown_as_written(api: Api) -> None:
    definition = _http({"Authorization": {"secretRef": "workflow-secrets/api-token"}})
    workflow_id: uuid.UUID = process_queries().workflows.create_workflow(ALICE, "ref", definition)[
        "id"
    ]

    status, one = api.call("GET", f"/api/workflows/{workflow_id}")

    assert status == 200
    assert (one["definition"], one["definitionError"]) == (definition, None)
