"""Which schedules a list (or a bulk change) is about: `ScheduleFilter`, and the SQL condition
it is, one place for every statement that selects schedules by it.

The condition reads the schedules as `s` only, so a statement of any shape (a select with its
joins, an `update schedules s ... where`) can use it; the caller adds the owner's scoping
(`owned_schedules`, as the list does) and its own paging. Only the parts of the filter that are
set become SQL: an absent part costs nothing and cannot stop the planner from using an index.
Parameters are named `filter_*`, so they never clash with the statement's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

# What `q` searches: name, note and externalId joined by a unit separator (U+001F), which no
# query contains (refused as a control character), so a match never spans two fields. One
# expression, so that a trigram index on it (pg_trgm: on Supabase, not in the embedded
# PostgreSQL the tests run) can serve it: docs/performance.md.
SEARCH_TEXT = (
    "(coalesce(s.name, '') || chr(31) || coalesce(s.note, '') || chr(31)"
    " || coalesce(s.external_id, ''))"
)


@dataclass(frozen=True)
class ScheduleFilter:
    """Every part is optional and the parts combine with AND; the empty filter is every schedule.

    labels: each key must have exactly this value (the schedule may have other labels).
    q: a case-insensitive substring of the name, the note or the externalId, taken literally
    (% and _ are characters, not wildcards). last_run_status: the outcome of the schedule's
    newest finished run (succeeded, failed or skipped; by scheduled time).
    """

    workflow_id: UUID | None = None
    enabled: bool | None = None
    external_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    q: str | None = None
    last_run_status: str | None = None


def schedule_filter_where(selected: ScheduleFilter) -> tuple[str, dict[str, Any]]:
    """The filter as a SQL condition over `schedules s` and its parameters ("true" when empty)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if selected.workflow_id is not None:
        conditions.append("s.workflow_id = %(filter_workflow_id)s::uuid")
        params["filter_workflow_id"] = selected.workflow_id
    if selected.enabled is not None:
        conditions.append("s.enabled = %(filter_enabled)s::boolean")
        params["filter_enabled"] = selected.enabled
    if selected.external_id is not None:
        conditions.append("s.external_id = %(filter_external_id)s::text")
        params["filter_external_id"] = selected.external_id
    if selected.labels:
        # containment: served by the GIN (jsonb_path_ops) index on labels
        conditions.append("s.labels @> %(filter_labels)s::jsonb")
        params["filter_labels"] = Jsonb(dict(selected.labels))
    if selected.q is not None:
        conditions.append(f"{SEARCH_TEXT} ilike %(filter_q)s::text")
        params["filter_q"] = f"%{escape_like(selected.q)}%"
    if selected.last_run_status is not None:
        # kept by the runner's record (store/run_outcome.py), indexed per owner
        conditions.append("s.last_run_status = %(filter_last_run_status)s::text")
        params["filter_last_run_status"] = selected.last_run_status
    return (" and ".join(conditions) or "true"), params


def owned_schedules(owner: UUID | None) -> str:
    """The owner's scoping over `schedules s` (parameter `%(owner)s`; None: every schedule).

    The schedule's own owner_id (the workflow's, kept by a trigger since 20261208000300, filled
    for older rows by 20261209000204), not a join to workflows: an owner's schedules are read
    from schedules_owner_page_idx, and the planner estimates an owner's share from the
    schedules' statistics alone (docs/performance.md, the schedule list at 1,000,000)."""
    return "s.owner_id = %(owner)s::uuid" if owner is not None else "true"


def escape_like(text: str) -> str:
    """`text` matched literally by LIKE/ILIKE (whose escape character is the backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
