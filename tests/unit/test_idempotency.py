"""An Idempotency-Key request's fingerprint: what makes two requests "the same" for a retry."""

from __future__ import annotations

import json
import uuid

import pytest
from scheduler.errors import InvalidInput
from scheduler.models.schedules import ScheduleCreate
from scheduler.policies.idempotency import IdempotentRequest

WORKFLOW = str(uuid.UUID(int=1))


def _request(raw_body: str, path: str = "/api/schedules") -> IdempotentRequest:
    body = ScheduleCreate.model_validate_json(raw_body)
    request = IdempotentRequest.of("user:a", "k", "createSchedule", path, body)
    assert request is not None
    return request


def test_spacing_key_order_and_spelled_out_defaults_are_the_same_request() -> None:
    compact = _request(json.dumps({"workflowId": WORKFLOW, "cron": "0 7 * * *"}))
    reordered = _request(
        json.dumps({"cron": "0 7 * * *", "enabled": True, "workflowId": WORKFLOW}, indent=2)
    )

    assert compact.fingerprint == reordered.fingerprint


def test_another_body_or_path_is_another_request() -> None:
    body = json.dumps({"workflowId": WORKFLOW, "cron": "0 7 * * *"})
    other = json.dumps({"workflowId": WORKFLOW, "cron": "0 8 * * *"})

    assert _request(body).fingerprint != _request(other).fingerprint
    assert _request(body).fingerprint != _request(body, "/api/other").fingerprint


def test_no_header_is_no_record() -> None:
    assert IdempotentRequest.of("user:a", None, "createSchedule", "/api/schedules", None) is None


@pytest.mark.parametrize("key", ["", "k" * 256, "naïve", "line\nbreak", "\x7f"])
def test_a_key_must_be_1_to_255_printable_ascii_characters(key: str) -> None:
    with pytest.raises(InvalidInput, match="Idempotency-Key: must be 1 to 255 printable ASCII"):
        IdempotentRequest.of("user:a", key, "createSchedule", "/api/schedules", None)


@pytest.mark.parametrize("key", ["k", "k" * 255, "a b~!", "0f8e3c52-8d1b-4b9e-9a53-3b1c2f7d6e41"])
def test_printable_ascii_keys_up_to_255_are_taken(key: str) -> None:
    request = IdempotentRequest.of("user:a", key, "createSchedule", "/api/schedules", None)
    assert request is not None
    assert request.key == key
