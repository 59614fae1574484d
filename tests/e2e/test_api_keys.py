"""API keys on the local stack, over HTTP through its gateway and the real authorizer: the demo
service key `make run` prints, and a key's whole life (issue, scope, use, revoke)."""

from __future__ import annotations

import json

from devstack.stack import Stack
from tests.e2e.conftest import Api

UNAUTHORIZED = {"message": "Unauthorized"}


def _new_schedule(api: Api, workflow_id: object) -> dict[str, object]:
    created = api.request(
        "POST", "/api/schedules", {"workflowId": str(workflow_id), "cron": "0 7 * * *"}
    )
    assert created.status == 201, created.body
    return created.body  # type: ignore[no-any-return]


def test_the_demo_service_key_acts_for_every_tenant(stack: Stack) -> None:
    state = json.loads(stack.state_file.read_text())
    assert state["serviceKey"] == stack.service_key
    assert stack.service_key.startswith("wsk_")
    service = Api(stack.api_url, stack.service_key)
    user1, user2 = stack.users

    ones = _new_schedule(service, user1.workflow_id)
    twos = _new_schedule(service, user2.workflow_id)

    listed = service.request("GET", "/api/schedules?limit=100")
    assert listed.status == 200
    assert {ones["id"], twos["id"]} <= {item["id"] for item in listed.body["items"]}
    mine = Api(stack.api_url, user1.token).request("GET", "/api/schedules?limit=100")
    assert [item["id"] for item in mine.body["items"]] == [ones["id"]]


def test_a_scoped_key_is_issued_used_and_revoked_through_the_gateway(stack: Stack) -> None:
    service = Api(stack.api_url, stack.service_key)
    user1, user2 = stack.users
    ones = _new_schedule(service, user1.workflow_id)
    twos = _new_schedule(service, user2.workflow_id)

    issued = service.request(
        "POST", "/api/keys", {"name": "e2e reader", "ownerId": str(user1.sub), "readOnly": True}
    )
    assert issued.status == 201, issued.body
    reader = Api(stack.api_url, issued.body["key"])

    listed = reader.request("GET", "/api/schedules")
    assert listed.status == 200
    assert [item["id"] for item in listed.body["items"]] == [ones["id"]]
    assert reader.request("GET", f"/api/schedules/{twos['id']}").status == 404
    refused = reader.request("PATCH", f"/api/schedules/{ones['id']}", {"enabled": False})
    assert refused.status == 403
    assert refused.body["error"]["code"] == "forbidden"
    assert service.request("GET", f"/api/schedules/{ones['id']}").body["enabled"] is True

    assert service.request("DELETE", f"/api/keys/{issued.body['id']}").status == 204
    after = reader.request("GET", "/api/schedules")
    assert (after.status, after.body) == (401, UNAUTHORIZED)
    keys = service.request("GET", "/api/keys?limit=100").body["items"]
    [revoked] = [k for k in keys if k["id"] == issued.body["id"]]
    assert revoked["revokedAt"] is not None
    assert revoked["lastUsedAt"] is not None
    assert all("key" not in k for k in keys)


def test_a_malformed_key_is_401_and_a_refused_token_still_403(stack: Stack) -> None:
    for credential in ("wsk_", "wsk_0123", stack.service_key[:-1]):
        answer = Api(stack.api_url, credential).request("GET", "/api/schedules")
        assert (answer.status, answer.body) == (401, UNAUTHORIZED), credential
    assert Api(stack.api_url, "not-a-token").request("GET", "/api/schedules").status == 403
