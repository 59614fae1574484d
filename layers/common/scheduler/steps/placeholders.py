"""Placeholders: the schedule's values in an http step's URL, header values and body.

A placeholder is exactly `{{scheduleId}}`, `{{externalId}}`, `{{scheduledTime}}` (the fire's
nominal time, ISO 8601 UTC), `{{input}}` (the whole input) or `{{input.a.b}}` (key `a`, then
key `b`; a segment of digits indexes a list), keys of letters, digits, `_` and `-`, no spaces.
Any other text, `{{ input.a }}` or `{{other}}` included, is sent as written.

Where (docs/input-and-placeholders.md says the same for users):
- URL: in the path and the query only, each value percent-encoded whole (`/`, `?`, `&`, `=`,
  `#` included), so a value is one path segment's or one query value's text and cannot add
  segments, parameters or a fragment; a path value `.` or `..` is refused. A placeholder in the
  scheme, host or port is refused, and the substituted URL's scheme, host and port must equal
  the definition's.
- Header values (not names, not secret references): the value must then still pass the header
  rules (scheduler.steps.definitions.header_value_problem), else the step fails without
  quoting it.
- Body: a string that is exactly one placeholder becomes that JSON value (an object, a number);
  one inside a longer string is replaced by its text. Object keys are left as written.
Text: a string value as is, anything else as its compact JSON. A placeholder with no value (a
key not in the input, an externalId the schedule does not have) fails the step, naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from scheduler.cron.timezones import iso_utc
from scheduler.errors import StepFailed

if TYPE_CHECKING:  # the engine imports the steps, which import this module
    from scheduler.steps.engine import RunContext

PLACEHOLDER = re.compile(
    r"\{\{(scheduleId|externalId|scheduledTime|input(?:\.[A-Za-z0-9_-]+)*)\}\}"
)


def has_placeholder(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


def placeholder_value(name: str, run: RunContext) -> Any:
    """The value placeholder `name` (between the braces) stands for; StepFailed if none."""
    if name == "scheduleId":
        return str(run.schedule_id)
    if name == "scheduledTime":
        return iso_utc(run.scheduled_time)
    if name == "externalId":
        if run.external_id is None:
            raise StepFailed("placeholder {{externalId}}: the schedule has no externalId")
        return run.external_id
    value: Any = run.input
    for key in name.split(".")[1:]:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise StepFailed(f"placeholder {{{{{name}}}}}: not in the schedule's input")
    return value


def as_text(value: Any) -> str:
    """A value as placeholder text: a string as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def substitute_text(
    text: str, run: RunContext, encode: Callable[[str, str], str] | None = None
) -> str:
    """`text` with each placeholder replaced by its text (passed through `encode(text, name)`)."""

    def replace(match: re.Match[str]) -> str:
        value = as_text(placeholder_value(match[1], run))
        return value if encode is None else encode(value, match[1])

    return PLACEHOLDER.sub(replace, text)


def substitute_json(value: Any, run: RunContext) -> Any:
    """A body with its placeholders replaced: a string that is exactly one becomes its value."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return placeholder_value(whole[1], run)
        return substitute_text(value, run)
    if isinstance(value, dict):
        return {key: substitute_json(item, run) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_json(item, run) for item in value]
    return value


def check_url_template(url: str) -> None:
    """ValueError if a placeholder stands in the URL's scheme, host or port."""
    parts = urlsplit(url)
    if has_placeholder(f"{parts.scheme}://{parts.netloc}"):
        raise ValueError("url: placeholders may stand in the path and query only, not the host")


def substitute_url(url: str, run: RunContext) -> str:
    """The URL with the placeholders of its path and query replaced, each percent-encoded.

    StepFailed if one stands in the scheme, host or port, or if the result's scheme, host or
    port is not the definition's (never quoting a value).
    """
    try:
        check_url_template(url)
    except ValueError as exc:
        raise StepFailed(str(exc)) from None
    parts = urlsplit(url)
    path = substitute_text(parts.path, run, _path_text)
    query = substitute_text(parts.query, run, _query_text)
    result = urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))
    sent = urlsplit(result)
    if (sent.scheme, sent.hostname, sent.port) != (parts.scheme, parts.hostname, parts.port):
        raise StepFailed("url: placeholders changed the URL's host: refused")
    return result


def _path_text(value: str, name: str) -> str:
    if value in (".", ".."):
        raise StepFailed(f"placeholder {{{{{name}}}}}: '.' and '..' are refused in the URL path")
    return quote(value, safe="")


def _query_text(value: str, name: str) -> str:
    return quote(value, safe="")
