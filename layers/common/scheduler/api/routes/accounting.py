"""ApiFunction's route of a schedule's accounting: expected versus actual over an interval.

What it may answer: scheduler.api.openapi_docs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AwareDatetime

from scheduler.api import openapi_docs as docs
from scheduler.api.routes.routing import ScheduleId, app, caller_owner
from scheduler.models.accounting import (
    ACCOUNTING_MAX_DAYS,
    ACCOUNTING_MAX_FIRES,
    ScheduleAccounting,
)
from scheduler.policies.accounting import AccountingQueryset, schedule_accounting
from scheduler.store.db import database


@app.get(
    "/api/schedules/<schedule_id>/accounting",
    operation_id="getScheduleAccounting",
    summary="Expected versus actual: each fire time the schedule should have had, and its outcome",
    description=(
        "Every fire time of the schedule in (from, to] (its cron or `at`, timezone and DST"
        " rules, inside its window, from its creation on, as the schedule was at each instant"
        " by its audit log), oldest first, each with its outcome and cause; the runs at no such"
        " fire time (run now, backfill) apart;"
        f" and the totals. At most {ACCOUNTING_MAX_DAYS} days and {ACCOUNTING_MAX_FIRES} fire"
        " times (422 beyond: ask for a narrower interval)."
    ),
    responses=docs.GET_SCHEDULE_ACCOUNTING,
)
def get_schedule_accounting(
    schedule_id: ScheduleId,
    from_: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="start of the interval, excluded (default: to - 24 h)"),
    ] = None,
    to: Annotated[
        AwareDatetime | None,
        Query(description="end of the interval, included (default: now)"),
    ] = None,
) -> ScheduleAccounting:
    return schedule_accounting(
        AccountingQueryset.over(database()),
        caller_owner(),
        schedule_id,
        start=from_,
        end=to,
        now=datetime.now(UTC),
    )
