"""API models and cursors: camelCase on the wire, strict input, opaque cursors that round-trip."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from scheduler.api.cron_preview import preview_cron
from scheduler.errors import InvalidCursor
from scheduler.models.cron_previews import CronPreviewRequest
from scheduler.models.errors import ErrorBody
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate
from scheduler.store.pagination import decode_cursor, encode_cursor, page

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def test_schedule_create_rejects_bad_cron_timezone_and_unknown_fields() -> None:
    workflow_id = str(uuid.uuid4())
    assert ScheduleCreate.model_validate(
        {"workflowId": workflow_id, "cron": " 0 7 * * * "}
    ).cron == ("0 7 * * *")
    for bad in (
        {"workflowId": workflow_id, "cron": "0 7 * *"},
        {"workflowId": workflow_id, "cron": "0 7 * * *", "timezone": "Nowhere/City"},
        {"workflowId": workflow_id, "cron": "0 7 * * *", "owner": "me"},
        {"workflowId": "x", "cron": "0 7 * * *"},
    ):
        with pytest.raises(ValidationError):
            ScheduleCreate.model_validate(bad)


def test_schedule_update_needs_a_non_null_change() -> None:
    assert ScheduleUpdate.model_validate({"enabled": False}).changes() == {"enabled": False}
    for bad in ({}, {"cron": None}):
        with pytest.raises(ValidationError):
            ScheduleUpdate.model_validate(bad)


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    at, row_id = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4()

    assert decode_cursor(encode_cursor(at, row_id)) == (at, row_id)
    assert decode_cursor(None) is None
    well_formed_wrong_types = [
        [at.isoformat(), 5],  # was an AttributeError (a 500)
        [5, str(row_id)],
        [at.isoformat(), None],
        [at.replace(tzinfo=None).isoformat(), str(row_id)],  # naive
        [at.isoformat(), str(row_id), 1],
        [at.isoformat()],
        {"at": at.isoformat(), "id": str(row_id)},
        "text",
    ]
    garbled = ["", "%%%", "bm9wZQ", encode_cursor(at, row_id)[:-3]]
    for forged in [*garbled, *map(_encoded, well_formed_wrong_types)]:
        with pytest.raises(InvalidCursor, match="not a cursor this API returned"):
            decode_cursor(forged)


def test_page_hands_out_a_cursor_only_when_more_rows_exist() -> None:
    rows = [{"id": uuid.uuid4(), "created_at": NOW} for _ in range(3)]

    items, cursor = page(rows, 2, "created_at")
    assert items == rows[:2]
    assert decode_cursor(cursor) == (NOW, rows[1]["id"])
    assert page(rows, 3, "created_at") == (rows, None)


def test_preview_explains_valid_and_invalid_crons() -> None:
    valid = preview_cron(CronPreviewRequest(cron="30 2 * * *", timezone="Europe/Berlin"), NOW)
    assert valid.valid
    # 2026-03-29 is the spring-forward day in Berlin: 02:30 does not exist and does not fire.
    assert [t.isoformat() for t in valid.next_run_times[:2]] == [
        "2026-03-30T00:30:00+00:00",
        "2026-03-31T00:30:00+00:00",
    ]
    invalid = preview_cron(CronPreviewRequest(cron="* * *", timezone="UTC"), NOW)
    assert not invalid.valid
    assert invalid.error
    bad_zone = preview_cron(CronPreviewRequest(cron="* * * * *", timezone="Mars/Base"), NOW)
    assert not bad_zone.valid


def test_error_body_is_camel_case_json() -> None:
    body = ErrorBody.model_validate({"error": {"code": "not_found", "message": "gone"}})
    assert body.model_dump(exclude_none=True) == {"error": {"code": "not_found", "message": "gone"}}
