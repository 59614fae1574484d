"""Unix cron → EventBridge conversion: the shared vectors, the rules of CRON.md, the helpers."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler import cron
from scheduler.cron import (
    CronError,
    InvalidTimezone,
    describe,
    is_fire_time,
    next_fire_times,
    to_eventbridge,
    validate,
    validate_timezone,
)
from scheduler.cron import convert as cron_convert
from scheduler.cron import fires as cron_fires

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI puts the shared spec beside the repository (it may hold more rows than the vendored copy).
SHARED_VECTORS = REPO_ROOT.parent / "shared" / "cron-vectors.tsv"
VENDORED_VECTORS = Path(__file__).resolve().parent / "data" / "cron-vectors.tsv"
FIELD_WORDS = ("minute", "hour", "day-of-month", "month", "day-of-week", "field", "expression")


def load_vectors() -> list[tuple[str, list[str] | None]]:
    """(input, expected expressions) rows; None means the input must be rejected."""
    path = SHARED_VECTORS if SHARED_VECTORS.is_file() else VENDORED_VECTORS
    rows: list[tuple[str, list[str] | None]] = []
    # split("\n"), not splitlines(): an input may hold other line-breaking characters to reject
    for line in path.read_text(encoding="utf-8").split("\n"):
        line = line.removesuffix("\r")
        if not line or line.startswith("#"):
            continue
        assert "\t" in line, f"malformed vector row {line!r}"
        # The input may hold tabs and spaces of its own; the expected column never does.
        text, expected = line.rsplit("\t", 1)
        rows.append((text, None if expected == "REJECT" else re.split(r" (?=cron\()", expected)))
    return rows


VECTORS = load_vectors()
ACCEPTED = [(text, expected) for text, expected in VECTORS if expected is not None]


def test_vectors_are_loaded() -> None:
    # Given the vector file / When it is loaded / Then it has both accepted and rejected rows
    assert len(ACCEPTED) >= 30
    assert len(VECTORS) - len(ACCEPTED) >= 15


def test_vendored_vectors_are_a_copy_of_the_shared_ones() -> None:
    # Given the shared spec beside the repository (skipped where it is absent)
    if not SHARED_VECTORS.is_file():
        pytest.skip("shared spec not beside the repository")
    # When both are read / Then the vendored rows are exactly the shared rows or a prefix of them
    vendored = VENDORED_VECTORS.read_text(encoding="utf-8").splitlines()
    assert SHARED_VECTORS.read_text(encoding="utf-8").splitlines()[: len(vendored)] == vendored


@pytest.mark.parametrize(("text", "expected"), VECTORS, ids=[repr(t) for t, _ in VECTORS])
def test_vector(text: str, expected: list[str] | None) -> None:
    # Given a row of the shared vectors
    if expected is not None:
        # When it is converted / Then the output is exactly the expected expression(s)
        assert to_eventbridge(text) == expected
        return
    # When it is converted / Then it is rejected with a message naming a field or the reason
    with pytest.raises(CronError) as caught:
        to_eventbridge(text)
    message = str(caught.value)
    assert message.strip()
    assert caught.value.field is not None or len(message) > 15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 22-2 * * *", ["cron(0 0-2,22,23 * * ? *)"]),
        ("0 0 1 NOV-FEB *", ["cron(0 0 1 1,2,11,12 ? *)"]),
        ("0 0 1 nov-feb *", ["cron(0 0 1 1,2,11,12 ? *)"]),
        ("0 0 30-2 * *", ["cron(0 0 1,2,30,31 * ? *)"]),
        ("0 0 * * 0-7", ["cron(0 0 * * ? *)"]),
        ("0 0 * * 0-7/2", ["cron(0 0 ? * 1,3,5,7 *)"]),
        ("0 0 * * 7-2", ["cron(0 0 ? * 1-3 *)"]),
        ("0 0 * * 1-7/2", ["cron(0 0 ? * 1,2,4,6 *)"]),
        ("0 0 * * */7", ["cron(0 0 ? * 1 *)"]),
        ("0-59 0-23 1-31 1-12 *", ["cron(* * * * ? *)"]),
        ("10/20 * * * *", ["cron(10,30,50 * * * ? *)"]),
        ("0 0 31/5 * *", ["cron(0 0 31 * ? *)"]),
        ("0 0 * JAN/3 *", ["cron(0 0 * 1,4,7,10 ? *)"]),
        ("0 0 ? * ?", ["cron(0 0 * * ? *)"]),
        ("0 0 L 2 *", ["cron(0 0 L 2 ? *)"]),
        ("0 0 1W * *", ["cron(0 0 1W * ? *)"]),
        ("0 0 28W * *", ["cron(0 0 28W * ? *)"]),
        ("0 0 * * L0", ["cron(0 0 ? * 1L *)"]),
        ("0 0 * * L7", ["cron(0 0 ? * 1L *)"]),
        ("0 0 * * FRI#5", ["cron(0 0 ? * 6#5 *)"]),
        ("0 0 * * 7#1", ["cron(0 0 ? * 1#1 *)"]),
        ("1,2,3,5 * * * *", ["cron(1-3,5 * * * ? *)"]),
        ("0,* 1,* * * *", ["cron(* * * * ? *)"]),
        ("@annually", ["cron(0 0 1 1 ? *)"]),
        ("@midnight", ["cron(0 0 * * ? *)"]),
        ("@DAILY", ["cron(0 0 * * ? *)"]),
        ("0\t7 *  * *", ["cron(0 7 * * ? *)"]),
    ],
)
def test_conversion_rules(text: str, expected: list[str]) -> None:
    # Given an expression exercising one rule of CRON.md / When converted / Then exact output
    assert to_eventbridge(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # both day fields restricted, no '*': Unix cron fires on either (OR split)
        ("0 0 L * 5", ["cron(0 0 L * ? *)", "cron(0 0 ? * 6 *)"]),
        ("0 0 1,15 * MON-FRI", ["cron(0 0 1,15 * ? *)", "cron(0 0 ? * 2-6 *)"]),
        # a complete day field under OR semantics makes every day match
        ("0 0 1-31 * 1", ["cron(0 0 * * ? *)"]),
        ("0 0 1 * 0-6", ["cron(0 0 * * ? *)"]),
        # a complete field counts as '*', so the other field alone restricts (Vixie and croniter)
        ("0 0 */2 * 0-6", ["cron(0 0 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 * ? *)"]),
        ("0 0 1-31 * */2", ["cron(0 0 ? * 1,3,5,7 *)"]),
        # the day-of-month half never fires: only the weekday half is emitted
        ("0 0 31 2 1", ["cron(0 0 ? 2 2 *)"]),
        # Feb 29 fires in leap years
        ("0 0 29 2 *", ["cron(0 0 29 2 ? *)"]),
        ("0 0 31 1,2 *", ["cron(0 0 31 1,2 ? *)"]),
    ],
)
def test_day_field_rules(text: str, expected: list[str]) -> None:
    # Given day fields combined as CRON.md rule 7 says / When converted / Then exact output
    assert to_eventbridge(text) == expected


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("0 0 */2 * 1", "day-of-month and day-of-week", "disagree"),
        ("0 0 1 * */2", "day-of-month and day-of-week", "disagree"),
        ("0 0 */1 * 1-5", "day-of-month and day-of-week", "disagree"),
        ("0 0 1,*/2 * 0-6", "day-of-month and day-of-week", "disagree"),
        ("* * 1 * 0,*", "day-of-week", "list"),
        ("* * 1,* * 0", "day-of-month", "list"),
        ("0 0 15W * 5", "day-of-month", "day-of-week"),
        ("0 0 1 * 5#3", "day-of-week", "day-of-month"),
        ("0 0 1-31 * L5", "day-of-week", "day-of-month"),
        ("0 0 30 2 *", "day-of-month", "never fires"),
        ("0 0 31 4,6,9,11 *", "day-of-month", "never fires"),
        ("0 0 * * 5-1/2", "day-of-week", "wrap"),
        ("0 22-2/2 * * *", "hour", "wrap"),
        ("0 0 * * 7-1/2", "day-of-week", "wrap"),
        ("0 0 * * 7-0", "day-of-week", "ambiguous"),
        ("0 0 1 JAN-JAN *", "month", "ambiguous"),
        ("0 0 * * SUN-SUN", "day-of-week", "ambiguous"),
        ("0 0 * * 5/2", "day-of-week", "step"),
        ("0 0 * * L", "day-of-week", "L5"),
        ("0 0 * * 5L", "day-of-week", "L5"),
        ("0 0 LW * *", "day-of-month", "LW"),
        ("0 0 W15 * *", "day-of-month", "15W"),
        ("0 0 0W * *", "day-of-month", "1 to 28"),
        ("0 0 29W * *", "day-of-month", "1 to 28"),
        ("0 0 L,15 * *", "day-of-month", "list"),
        ("0 0 1-L * *", "day-of-month", None),
        ("0 0 * * 5#0", "day-of-week", "1 to 5"),
        ("0 0 * * 5#6", "day-of-week", "1 to 5"),
        ("0 0 * * 1-5#2", "day-of-week", None),
        ("0 0 * * L8", "day-of-week", "range"),
        ("R * * * *", "minute", "random"),
        ("H/5 * * * *", "minute", "hashed"),
        ("? * * * *", "minute", "?"),
        ("0 0 ?/2 * *", "day-of-month", "?"),
        ("0 0 5#3 * *", "day-of-month", "#"),
        ("0 JAN * * *", "hour", "names"),
        ("0 0 * FOO *", "month", "unknown name"),
        ("*/61 * * * *", "minute", "step"),
        ("0 0 * * */8", "day-of-week", "step"),
        ("1,,2 * * * *", "minute", "empty"),
        ("-5 * * * *", "minute", "range"),
        ("1-2-3 * * * *", "minute", "range"),
        ("1/2/3 * * * *", "minute", "step"),
        ("0 0 * * 8", "day-of-week", "range"),
    ],
)
def test_rejections_name_field_and_reason(text: str, field: str, reason: str | None) -> None:
    # Given an expression CRON.md rejects / When converted
    with pytest.raises(CronError) as caught:
        to_eventbridge(text)
    # Then the error names the field and, in words, why
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    if reason is not None:
        assert reason.lower() in str(caught.value).lower()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("0 0 * * * * *", "got 7"),
        ("@reboot", "@reboot"),
        ("@everyminute", "unknown macro"),
        ("@daily *", "alone"),
        ("0 @daily * * *", "macro"),
        ("0 0 * * 1\n", "not allowed"),
        ("0\u00a00 * * *", "not allowed"),
        ("0 0 * * 1\u200b", "not allowed"),
        ("\uff10 0 * * *", "not allowed"),
        ("0 0 * * 1;rm", "';'"),
        ("   ", "empty"),
        ("1" * 257, "256"),
    ],
)
def test_rejections_of_the_whole_expression(text: str, reason: str) -> None:
    # Given malformed input / When converted / Then a CronError says why
    with pytest.raises(CronError, match=re.escape(reason)):
        to_eventbridge(text)


def test_cron_error_is_a_value_error_with_a_field() -> None:
    # Given an invalid minute / When converted / Then the error is a ValueError naming the field
    with pytest.raises(ValueError, match="minute: 60 is out of range 0-59") as caught:
        to_eventbridge("60 * * * *")
    assert isinstance(caught.value, CronError)
    assert caught.value.field == "minute"


def test_output_longer_than_the_limit_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a lower length limit (no 5-field input can make 256 characters of output)
    monkeypatch.setattr(cron_convert, "MAX_EXPRESSION_LENGTH", 30)
    cron_convert._compile.cache_clear()
    try:
        # When an expression converts to more than the limit / Then it is rejected
        with pytest.raises(CronError, match="longer than 30"):
            to_eventbridge("0,2,4,6,8,10,12 * * * *")
    finally:
        cron_convert._compile.cache_clear()


def test_returned_list_is_a_copy() -> None:
    # Given a converted expression whose result the caller mutates
    first = to_eventbridge("0 0 13 * 5")
    first.append("junk")
    # When converted again / Then the cached result is unchanged
    assert to_eventbridge("0 0 13 * 5") == ["cron(0 0 13 * ? *)", "cron(0 0 ? * 6 *)"]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("   0   7   *   *   *   ", "0 7 * * *"),
        ("0\t7\t*\t*\tmon-fri", "0 7 * * mon-fri"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_validate_normalizes(text: str, normalized: str) -> None:
    # Given a valid expression / When validated / Then macros expand and blanks collapse
    assert validate(text) == normalized


def test_validate_rejects_what_the_converter_rejects() -> None:
    # Given an expression that never fires / When validated / Then CronError
    with pytest.raises(CronError, match="never fires"):
        validate("0 0 31 2 *")


# ------------------------------------------------------------------ fuzz


def _convert(text: str) -> list[str] | CronError:
    """The conversion's result, or the CronError it raised (anything else propagates)."""
    try:
        return to_eventbridge(text)
    except CronError as error:
        return error


CRON_ALPHABET = string.digits + "*?,/#@- \tLWHRlwJANFEBMONSUNFRIjanmonsun"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.text(), st.text(alphabet=CRON_ALPHABET, max_size=40)))
def test_fuzz_to_eventbridge_raises_only_cron_error(text: str) -> None:
    # Given arbitrary text / When converted
    outcome = _convert(text)
    if isinstance(outcome, CronError):
        # Then a rejection is a CronError with a message
        assert str(outcome)
    else:
        # Then an acceptance is one or two EventBridge expressions
        assert 1 <= len(outcome) <= 2
        assert all(item.startswith("cron(") and item.endswith(" *)") for item in outcome)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.text(alphabet=CRON_ALPHABET, min_size=200, max_size=400))
def test_fuzz_long_strings(text: str) -> None:
    # Given long text over the cron alphabet / When converted / Then only CronError or output
    outcome = _convert(text)
    assert str(outcome) if isinstance(outcome, CronError) else outcome[0].startswith("cron(")


@pytest.mark.parametrize("value", ["0 " * 1_000_000, "\x00" * 10, None, 5, b"0 7 * * *"])
def test_huge_and_non_string_inputs_raise_cron_error(value: object) -> None:
    # Given a huge string or something that is not a string / When converted / Then CronError
    with pytest.raises(CronError):
        to_eventbridge(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------ timezones


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "America/New_York", "Etc/GMT+5", "America/Port-au-Prince"]
)
def test_validate_timezone_accepts_iana_names(name: str) -> None:
    # Given an IANA zone / When validated / Then it is returned unchanged
    assert validate_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/etc/localtime",
        "/usr/share/zoneinfo/UTC",
        "../etc/passwd",
        "Europe/../UTC",
        "localtime",
        "Factory",
        "posixrules",
        "posix/Europe/Berlin",
        "right/UTC",
        "Mars/Olympus_Mons",
        "europe/berlin",
        "Europe",
        "zone.tab",
        "Europe/Berlin\n",
        " UTC",
        "A" * 500,
    ],
)
def test_validate_timezone_rejects(name: str) -> None:
    # Given something that is not a usable IANA zone / When validated / Then InvalidTimezone
    with pytest.raises(InvalidTimezone) as caught:
        validate_timezone(name)
    assert isinstance(caught.value, ValueError)
    assert "timezone" in str(caught.value).lower()


def test_previews_reject_an_invalid_timezone_and_a_naive_start() -> None:
    # Given a bad zone or a naive datetime / When previewing / Then the right error
    with pytest.raises(InvalidTimezone):
        next_fire_times("0 7 * * *", "Nowhere/City", datetime(2024, 1, 1, tzinfo=UTC), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times("0 7 * * *", "UTC", datetime(2024, 1, 1), 1)


# ------------------------------------------------------------------ describe


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 7 * * *", "At 07:00 AM"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("30 9 * * 1-5", "At 09:30 AM, Monday through Friday"),
        ("0 0 * * 0-7", "At 12:00 AM"),
        ("0 0 * * L5", "At 12:00 AM, on the last Friday of the month"),
        ("0 0 * * 5#3", "At 12:00 AM, on the third Friday of the month"),
        ("0 0 L * *", "At 12:00 AM, on the last day of the month"),
        ("0 0 15W * *", "At 12:00 AM, on the weekday nearest day 15 of the month"),
    ],
)
def test_describe(text: str, expected: str) -> None:
    # Given an expression / When described / Then the human text
    assert describe(text) == expected


def test_describe_macro_and_odd_spellings_describe_what_fires() -> None:
    # Given a macro and spellings whose literal reading misleads
    # When described / Then the description is of the expanded form and of the real fire times
    assert describe("@daily") == describe("0 0 * * *") == "At 12:00 AM"
    assert "59" in describe("59/15 * * * *")
    assert "15 minutes" not in describe("59/15 * * * *")
    assert "or" in describe("0 0 13 * 5")
    assert "Sunday and Sunday" not in describe("0 0 * * 0,7")


def test_describe_rejects_invalid_expressions() -> None:
    # Given an invalid expression / When described / Then CronError
    with pytest.raises(CronError):
        describe("61 * * * *")


# ------------------------------------------------------------------ is_fire_time


def test_is_fire_time_in_utc() -> None:
    # Given a daily 07:00 schedule in UTC / When checking instants / Then only 07:00:00 matches
    assert is_fire_time("0 7 * * *", "UTC", datetime(2024, 5, 1, 7, 0, tzinfo=UTC))
    assert not is_fire_time("0 7 * * *", "UTC", datetime(2024, 5, 1, 7, 1, tzinfo=UTC))
    assert not is_fire_time("0 7 * * *", "UTC", datetime(2024, 5, 1, 7, 0, 30, tzinfo=UTC))


def test_is_fire_time_in_a_zone() -> None:
    # Given 07:00 Berlin time / When checking UTC instants / Then winter 06:00Z, summer 05:00Z
    assert is_fire_time("0 7 * * *", "Europe/Berlin", datetime(2024, 1, 10, 6, 0, tzinfo=UTC))
    assert is_fire_time("0 7 * * *", "Europe/Berlin", datetime(2024, 7, 10, 5, 0, tzinfo=UTC))
    assert not is_fire_time("0 7 * * *", "Europe/Berlin", datetime(2024, 7, 10, 6, 0, tzinfo=UTC))


def test_is_fire_time_day_fields_and_repeated_hour() -> None:
    # Given the OR of day fields / Then a 13th that is not a Friday matches, a 14th Thursday not
    assert is_fire_time("0 0 13 * 5", "UTC", datetime(2024, 3, 13, tzinfo=UTC))  # a Wednesday
    assert not is_fire_time("0 0 13 * 5", "UTC", datetime(2024, 3, 14, tzinfo=UTC))
    # Given 01:30 New York on the fall-back day / Then either 01:30 is a fire time (one slot,
    # see fire_slot), and 01:00 is not
    ny = "America/New_York"
    assert is_fire_time("30 1 * * *", ny, datetime(2024, 11, 3, 5, 30, tzinfo=UTC))
    assert is_fire_time("30 1 * * *", ny, datetime(2024, 11, 3, 6, 30, tzinfo=UTC))
    assert not is_fire_time("30 1 * * *", ny, datetime(2024, 11, 3, 6, 0, tzinfo=UTC))


def test_is_fire_time_rejects_naive_and_invalid() -> None:
    # Given a naive instant or an invalid expression / When checked / Then an error
    with pytest.raises(ValueError, match="timezone-aware"):
        is_fire_time("0 7 * * *", "UTC", datetime(2024, 5, 1, 7))
    with pytest.raises(CronError):
        is_fire_time("0 0 31 2 *", "UTC", datetime(2024, 5, 1, 7, tzinfo=UTC))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    expr=st.sampled_from(["*/7 * * * *", "30 2 * * *", "0 9 1 * MON", "59 23 L * *", "0 0 29 2 *"]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    later_s=st.integers(min_value=0, max_value=3 * 86_400),
)
def test_a_repeated_preview_is_the_same_as_a_fresh_one(
    expr: str, timezone: str, start: datetime, later_s: int
) -> None:
    # Given a preview computed (and remembered) at `start`
    first = start.replace(tzinfo=UTC)
    later = first + timedelta(seconds=later_s)
    cron.next_fire_times(expr, timezone, first, 3)

    # When another caller asks a little later, Then it gets what a fresh computation gives
    remembered = cron.next_fire_times(expr, timezone, later, 3)
    cron_fires._PREVIEWS.clear()
    assert remembered == cron.next_fire_times(expr, timezone, later, 3)
    assert all(fire > later for fire in remembered)
