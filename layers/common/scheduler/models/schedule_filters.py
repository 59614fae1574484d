"""The list's filter as the query string states it: `label=key=value` (repeatable, all must
hold), `q`, `lastRunStatus`, `enabled`, `workflowId`, `externalId`, parsed into the store's
ScheduleFilter (scheduler.store.schedule_filters), the one filter the list and bulk changes share.

A malformed part is InvalidInput (422) naming the parameter; nothing is queried.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal, get_args
from uuid import UUID

from scheduler.errors import InvalidInput
from scheduler.models.schedule_labels import MAX_LABELS, checked_label
from scheduler.store.schedule_filters import ScheduleFilter

Q_MAX_LENGTH = 200
# The outcomes the runner records on the schedule (migrations/20261209000202).
LastRunStatus = Literal["succeeded", "failed", "skipped"]
LAST_RUN_STATUSES: tuple[str, ...] = get_args(LastRunStatus)

LABEL_FILTER_DESCRIPTION = (
    "only schedules with this label, as key=value (the value may be empty and may hold '=');"
    f" repeat it (up to {MAX_LABELS} times) for schedules with all of them. Percent-encode"
    " the value's reserved characters (& + # % and spaces)"
)
Q_DESCRIPTION = (
    "only schedules whose name, note or externalId contains this text, ignoring case; taken"
    f" literally (% and _ are characters, not wildcards); 1 to {Q_MAX_LENGTH} characters"
)
LAST_RUN_STATUS_DESCRIPTION = (
    "only schedules whose newest finished run (by scheduled time) ended so: succeeded,"
    " failed or skipped (a run still running, waiting or missed does not count; a schedule"
    " that never finished a run matches none)"
)


def parse_label_filters(values: Sequence[str] | None) -> dict[str, str]:
    """`label=key=value` parameters as a map; two values for one key match nothing, so refused."""
    labels: dict[str, str] = {}
    for value in values or ():
        key, sep, label_value = value.partition("=")
        if not sep:
            raise InvalidInput(f"label: {value!r} is not key=value")
        try:
            checked_label(key, label_value, "label")
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if key in labels and labels[key] != label_value:
            raise InvalidInput(f"label: {key!r} given twice with different values")
        labels[key] = label_value
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"label: at most {MAX_LABELS} ({len(labels)} given)")
    return labels


def parse_q(q: str | None) -> str | None:
    """The search text; an empty one is no search (a cleared search box)."""
    if q is None or q == "":
        return None
    if len(q) > Q_MAX_LENGTH:
        raise InvalidInput(f"q: at most {Q_MAX_LENGTH} characters ({len(q)} given)")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in q):
        # also what keeps a match from spanning two fields (store.schedule_filters.SEARCH_TEXT)
        raise InvalidInput("q: no control characters")
    return q


def parse_last_run_status(status: str | None) -> str | None:
    if status is None:
        return None
    if status not in LAST_RUN_STATUSES:
        raise InvalidInput(
            f"lastRunStatus: one of {', '.join(LAST_RUN_STATUSES)} ({status!r} given)"
        )
    return status


def schedule_filter_from_query(
    *,
    workflow_id: UUID | None = None,
    enabled: bool | None = None,
    external_id: str | None = None,
    labels: Sequence[str] | None = None,
    q: str | None = None,
    last_run_status: str | None = None,
) -> ScheduleFilter:
    """The filter the query parameters state (already typed by the route: UUID, bool)."""
    return ScheduleFilter(
        workflow_id=workflow_id,
        enabled=enabled,
        external_id=external_id,
        labels=parse_label_filters(labels),
        q=parse_q(q),
        last_run_status=parse_last_run_status(last_run_status),
    )
