"""What a new user types and what the API answers in words: EventBridge's own cron(...) and
rate(...) pasted as a cron, a misspelt or legacy time zone, snake_case field names."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from scheduler import cron
from scheduler.api.cron_preview import preview_cron
from scheduler.api.http_errors import for_validation_errors
from scheduler.cron import zone_names
from scheduler.models.api_keys import ApiKeyCreate
from scheduler.models.cron_previews import CronPreviewRequest
from scheduler.models.runs import BackfillRequest
from scheduler.models.schedule_views import ScheduleView
from scheduler.models.schedules import ScheduleCreate, ScheduleUpdate

from tests.unit.test_cron import ACCEPTED

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

# ------------------------------------------------------------------ cron(...) and rate(...)


@pytest.mark.parametrize(
    ("pasted", "unix"),
    [
        ("cron(0 7 * * ? *)", "0 7 * * *"),
        ("cron(30 9 ? * 2-6 *)", "30 9 * * 1-5"),
        ("cron(0 0 ? * 1 *)", "0 0 * * 0"),
        ("cron(0 0 ? * 1,7 *)", "0 0 * * 0,6"),
        ("cron(0 0 ? * 6L *)", "0 0 * * L5"),
        ("cron(0 0 ? * 6#3 *)", "0 0 * * 5#3"),
        ("cron(0 0 L * ? *)", "0 0 L * *"),
        ("cron(0 8 15W * ? *)", "0 8 15W * *"),
        ("cron(0,15,30,45 * * * ? *)", "0,15,30,45 * * * *"),
        (" CRON(0 7 * * ? *) ", "0 7 * * *"),
    ],
)
def test_an_eventbridge_cron_is_answered_with_its_unix_form(pasted: str, unix: str) -> None:
    # Given EventBridge's own form of a schedule, as the API shows it / When validated
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge(pasted)
    # Then the error says to write the Unix form
    assert f"write `{unix}`" in str(caught.value)
    # and that form converts back to exactly the expression pasted: it fires the same times
    fields = pasted.strip()[len("cron(") : -1].split()
    assert cron.to_eventbridge(unix) == [f"cron({' '.join(fields)})"]


EVERY_EVENTBRIDGE_OUTPUT = sorted({out for _, outs in ACCEPTED for out in outs})


def test_every_eventbridge_expression_the_converter_writes_is_answered_with_its_source() -> None:
    # Given every EventBridge expression the API shows for the shared cron vectors
    for expression in EVERY_EVENTBRIDGE_OUTPUT:
        # When one is pasted as a cron
        with pytest.raises(cron.CronError) as caught:
            cron.to_eventbridge(expression)
        # Then the suggested Unix cron converts back to exactly that expression
        suggested = re.search(r"write `([^`]+)`", str(caught.value))
        assert suggested is not None, (expression, str(caught.value))
        assert cron.to_eventbridge(suggested.group(1)) == [expression]


@pytest.mark.parametrize(
    "pasted", ["cron(0 7 ? * */2 *)", "cron(0 7 ? * MON,3 *)", "cron(15 7 ? JAN-MAR 2-6/2 *)"]
)
def test_a_suggestion_fires_when_the_pasted_expression_would(pasted: str) -> None:
    # Given an EventBridge expression in a spelling the converter does not write
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge(pasted)
    suggested = re.search(r"write `([^`]+)`", str(caught.value))
    assert suggested is not None
    # Then the suggestion fires exactly when EventBridge would fire the pasted one
    numeric = pasted.replace("MON", "2").replace("JAN-MAR", "1-3")  # the evaluator reads numbers
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert cron.next_fire_times(suggested.group(1), "Europe/Berlin", start, 100) == (
        cron.eventbridge_fire_times(numeric, "Europe/Berlin", start, 100)
    )


def test_a_weekday_range_mixing_a_name_and_a_number_gets_no_suggestion() -> None:
    # EventBridge's MON-5 is Monday to Thursday, Unix's Monday to Friday: no text to reuse
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge("cron(0 7 ? * MON-5 *)")
    assert "write `" not in str(caught.value)


def test_an_eventbridge_cron_with_weekday_names_keeps_them() -> None:
    with pytest.raises(cron.CronError, match=r"write `0 7 \* \* MON-FRI`"):
        cron.to_eventbridge("cron(0 7 ? * MON-FRI *)")
    assert cron.to_eventbridge("0 7 * * MON-FRI") == ["cron(0 7 ? * 2-6 *)"]


@pytest.mark.parametrize(
    ("pasted", "reason"),
    [
        ("cron(0 0 1 1 ? 2027)", "no year field"),
        ("cron(0 7 * * *)", "5-field Unix cron"),
        ("cron(0 7 * * * *)", "5-field Unix cron"),  # both day fields set: not EventBridge's
        ("cron(0 0 ? * L *)", "5-field Unix cron"),  # a bare L has no Unix spelling here
    ],
)
def test_an_eventbridge_cron_without_one_unix_form_is_explained(pasted: str, reason: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge(pasted)
    assert "EventBridge's form" in str(caught.value)
    assert reason in str(caught.value)
    assert "character" not in str(caught.value)


@pytest.mark.parametrize(
    ("rate", "unix"),
    [
        ("rate(1 minute)", "* * * * *"),
        ("rate(5 minutes)", "*/5 * * * *"),
        ("rate(30 minutes)", "*/30 * * * *"),
        ("rate(60 minutes)", "0 * * * *"),
        ("rate(1 hour)", "0 * * * *"),
        ("rate(6 hours)", "0 */6 * * *"),
        ("rate(24 hours)", "0 0 * * *"),
        ("rate(1 day)", "0 0 * * *"),
    ],
)
def test_a_rate_with_a_cron_equivalent_names_it(rate: str, unix: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge(rate)
    assert f"write `{unix}`" in str(caught.value)
    cron.to_eventbridge(unix)  # the suggestion is itself accepted


@pytest.mark.parametrize(
    ("rate", "reason"),
    [
        ("rate(7 minutes)", "divides 60"),
        ("rate(90 minutes)", "divides 24"),
        ("rate(5 hours)", "divides 24"),
        ("rate(3 days)", "daily"),
        ("rate(0 minutes)", "5-field Unix cron"),
        ("rate(five minutes)", "5-field Unix cron"),
    ],
)
def test_a_rate_without_a_cron_equivalent_says_so(rate: str, reason: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.to_eventbridge(rate)
    assert "rate(...) is EventBridge's form" in str(caught.value)
    assert reason in str(caught.value)
    assert "write `" not in str(caught.value)


def test_the_preview_answers_a_pasted_form_with_the_same_words() -> None:
    preview = preview_cron(CronPreviewRequest(cron="rate(5 minutes)"), NOW)
    assert preview.valid is False
    assert "write `*/5 * * * *`" in str(preview.error)


def test_other_parentheses_are_still_refused_as_characters() -> None:
    with pytest.raises(cron.CronError, match="character '\\(' is not allowed"):
        cron.to_eventbridge("at(2027-01-01T00:00:00)")


# ------------------------------------------------------------------ time zones


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Europe/Berln", "'Europe/Berlin'"),
        ("europe/berlin", "'Europe/Berlin'"),
        ("Berlin", "'Europe/Berlin'"),
        ("America/New_Yrok", "'America/New_York'"),
        ("America/Sao Paulo", "'America/Sao_Paulo'"),
    ],
)
def test_an_unknown_zone_suggests_the_closest(typed: str, meant: str) -> None:
    with pytest.raises(cron.InvalidTimezone) as caught:
        cron.validate_timezone(typed)
    assert str(caught.value).endswith(f"; did you mean {meant}?")


def test_suggestions_are_stable_and_only_of_zones_a_schedule_may_use() -> None:
    assert zone_names.closest_zones("Europe/Berln") == zone_names.closest_zones("Europe/Berln")
    assert zone_names.closest_zones("est") == []  # EST itself is refused for writes
    with pytest.raises(cron.InvalidTimezone) as caught:
        cron.validate_timezone("Mars/Olympus_Mons")
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("legacy", "instead"),
    [
        ("EST", "'America/New_York'"),
        ("MST", "'America/Denver' or 'America/Phoenix'"),
        ("HST", "'Pacific/Honolulu'"),
        ("EST5EDT", "'America/New_York'"),
        ("PST8PDT", "'America/Los_Angeles'"),
        ("CET", "'Europe/Berlin' or 'Europe/Paris'"),
        ("MET", "'Europe/Berlin' or 'Europe/Paris'"),
        ("EET", "'Europe/Athens' or 'Europe/Helsinki'"),
        ("WET", "'Europe/Lisbon'"),
    ],
)
def test_a_legacy_zone_is_refused_for_writes_but_still_valid_for_stored_rows(
    legacy: str, instead: str
) -> None:
    # A stored row with it keeps working (reads, fires, reconcile validate with this)
    assert cron.validate_timezone(legacy) == legacy
    # A new write is refused, naming the zone to write instead
    with pytest.raises(cron.InvalidTimezone) as caught:
        cron.validate_timezone_to_write(legacy)
    assert str(caught.value).endswith(f"write the place's zone instead: {instead}")
    for zone in instead.replace(" or ", ", ").replace("'", "").split(", "):
        assert cron.validate_timezone_to_write(zone) == zone


@pytest.mark.parametrize("zone", ["UTC", "GMT", "Etc/UTC", "Etc/GMT+5", "Etc/GMT-3", "US/Eastern"])
def test_utc_and_explicit_fixed_offsets_may_be_written(zone: str) -> None:
    assert cron.validate_timezone_to_write(zone) == zone


def test_models_and_preview_refuse_a_legacy_zone() -> None:
    workflow_id = str(uuid.uuid4())
    with pytest.raises(ValidationError, match="America/New_York"):
        ScheduleCreate.model_validate(
            {"workflowId": workflow_id, "cron": "0 7 * * *", "timezone": "EST"}
        )
    # a change is checked against the stored zone by the service (the API tests)
    assert ScheduleUpdate.model_validate({"timezone": "CET"}).timezone == "CET"
    preview = preview_cron(CronPreviewRequest(cron="0 7 * * *", timezone="EST"), NOW)
    assert preview.valid is False
    assert "America/New_York" in str(preview.error)


# ------------------------------------------------------------------ camelCase only


@pytest.mark.parametrize(
    ("model", "body", "key", "write"),
    [
        (
            ScheduleCreate,
            {"workflow_id": str(uuid.uuid4()), "cron": "0 7 * * *"},
            "workflow_id",
            "workflowId",
        ),
        (ScheduleUpdate, {"end_at": None}, "end_at", "endAt"),
        (
            ScheduleUpdate,
            {"enabled": False, "catchup_policy": "all"},
            "catchup_policy",
            "catchupPolicy",
        ),
        (CronPreviewRequest, {"cron": "0 7 * * *", "start_at": None}, "start_at", "startAt"),
        (BackfillRequest, {"from_": NOW, "to": NOW}, "from_", "from"),
        (ApiKeyCreate, {"name": "k", "read_only": True}, "read_only", "readOnly"),
    ],
)
def test_a_request_refuses_a_snake_case_name_and_names_the_camel_case_one(
    model: type[ScheduleCreate], body: dict[str, object], key: str, write: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    [error] = caught.value.errors()
    assert error["type"] == "extra_forbidden"
    assert (
        error["msg"] == f"{key}: unknown field; write {write} (the API's field names are camelCase)"
    )


def test_python_builds_requests_by_the_json_names_and_views_from_snake_case_rows() -> None:
    workflow_id = uuid.uuid4()
    request = ScheduleCreate(workflowId=workflow_id, cron="0 7 * * *", startAt=None)
    assert request.workflow_id == workflow_id
    assert ScheduleUpdate(endAt=None).changes() == {"end_at": None}
    row = {
        "id": uuid.uuid4(),
        "workflow_id": workflow_id,
        "cron": "0 7 * * *",
        "timezone": "EST",  # a stored legacy zone still reads
        "enabled": True,
        "created_at": NOW,
        "updated_at": NOW,
        "description": "At 07:00 AM",
        "eventbridge_expressions": ["cron(0 7 * * ? *)"],
    }
    view = ScheduleView.model_validate(row)
    assert (view.workflow_id, view.timezone) == (workflow_id, "EST")


# ------------------------------------------------------------------ the 422 body


def test_a_422_names_the_first_problem_and_strips_the_library_prefixes() -> None:
    errors = [
        {
            "loc": ("body", "to"),
            "msg": "Assertion failed, to is missing",
            "type": "assertion_error",
        },
        {
            "loc": ("body", "cron"),
            "msg": "Value error, minute: 61 is out of range",
            "type": "value_error",
        },
        {
            "loc": ("query", "limit"),
            "msg": "Input should be less than or equal to 100",
            "type": "x",
        },
    ]
    response = for_validation_errors(ValueError("invalid"), errors)
    assert response.status_code == 422
    body = json.loads(str(response.body))
    assert body == {
        "error": {
            "code": "invalid_input",
            "message": "to is missing",  # it names its field already: not "to: to is missing"
            "details": [
                {"loc": ["body", "to"], "msg": "to is missing", "type": "assertion_error"},
                {
                    "loc": ["body", "cron"],
                    "msg": "minute: 61 is out of range",
                    "type": "value_error",
                },
                {
                    "loc": ["query", "limit"],
                    "msg": "Input should be less than or equal to 100",
                    "type": "x",
                },
            ],
        }
    }
    second_first = for_validation_errors(ValueError("invalid"), errors[1:])
    assert json.loads(str(second_first.body))["error"]["message"] == (
        "cron: minute: 61 is out of range"
    )
