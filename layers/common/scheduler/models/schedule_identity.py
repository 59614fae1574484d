"""A schedule's identity for its caller: `name`, a label, and `externalId`, the caller's own key
for it (unique per owner: PUT /api/schedules/by-external-id/{externalId} creates or updates by
it). The database holds the same bounds (migrations/20261208000300_schedule_identity.sql)."""

from __future__ import annotations

import re

from scheduler.models.base import checked_text

NAME_MAX_LENGTH = 200
EXTERNAL_ID_MAX_LENGTH = 200
# A path segment that needs no percent-encoding and is never "." or "..".
EXTERNAL_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{EXTERNAL_ID_MAX_LENGTH - 1}}}$"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)

NAME_DESCRIPTION = (
    f"A label for people: at most {NAME_MAX_LENGTH} characters, no control characters"
)
EXTERNAL_ID_DESCRIPTION = (
    "Your own key for the schedule, unique among the schedules of the workflow's owner:"
    f" 1 to {EXTERNAL_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ : - starting with a letter or a digit."
    " PUT /api/schedules/by-external-id/{externalId} creates or updates by it, and a run's"
    " {{externalId}} placeholder is it"
)


def checked_name(value: str | None) -> str | None:
    if value is None:
        return None
    return checked_text(value, "name", if_blank=": send null to remove it")


def checked_external_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError(
            f"externalId: 1 to {EXTERNAL_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ : - starting with"
            " a letter or a digit"
        )
    return value
