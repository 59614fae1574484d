# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

"""E2E: a schedule's page shows its last 24 hours, expected versus actual, in a real browser
(Debian's Chromium, headless, through Playwright) against the local stack: a cell per expected
fire time coloured by its outcome, its time and cause in its title, a legend with the totals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from scheduler.store.db import Database

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import (  # noqa: F401  (fixtures)
    browser,
    open_schedule,
    page,
    sign_in,
)

CRON = "7 * * * *"


def _past_of(stack: Stack, schedule: dict[str, object], now: datetime) -> dict[str, datetime]:
    """Make the schedule two days old and give two of its past fire times a run: the one of
    three hours ago succeeded, the one of two hours ago failed."""
    last = now.replace(minute=7, second=0, microsecond=0)
    if last > now:
        last -= timedelta(hours=1)
    ran = {"succeeded": last - timedelta(hours=3), "failed": last - timedelta(hours=2)}
    database = Database(stack.database_url)
    try:
        with database.transaction():  # past the trigger that keeps created_at as inserted
            database.execute("set local session_replication_role = replica")
            database.execute(
                "update schedules set created_at = %s where id = %s",
                (now - timedelta(days=2), schedule["id"]),
            )
        for status, at in ran.items():
            database.execute(
                """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                              started_at, finished_at, error)
                   values (%s, %s, %s, %s, %s, %s, %s)""",
                (
                    schedule["id"],
                    schedule["workflowId"],
                    at,
                    status,
                    at,
                    at + timedelta(seconds=2),
                    "step 1: HTTP 500" if status == "failed" else None,
                ),
            )
    finally:
        database.close()
    return ran


def test_a_schedules_page_shows_a_strip_of_its_expected_fire_times_with_their_outcomes(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given an hourly schedule, two days old, whose fire times of 3 and 2 hours ago ran
    schedule = api1.create_schedule(user1.workflow_id, CRON)
    _past_of(stack, schedule, datetime.now(UTC))

    # When its owner opens its page
    sign_in(page, stack, user1)
    open_schedule(page, CRON)

    # Then the strip has a cell per hourly fire time of the last 24 hours, by outcome
    strip = page.get_by_role("list", name="Expected fire times, oldest first")
    cells = strip.get_by_role("listitem")
    expect(cells).to_have_count(24)
    succeeded = strip.locator("[data-outcome=succeeded]")
    failed = strip.locator("[data-outcome=failed]")
    expect(succeeded).to_have_count(1)
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute(
        "title", re.compile(r"Failed\. ran and failed: step 1: HTTP 500$")
    )
    # ... the others had no run: before the schedule last started firing anew (its creation)
    expect(strip.locator("[data-outcome=noRecord]")).to_have_count(22)
    # oldest on the left: the newest cell is the last fire time, the runs 3 and 2 before it
    outcomes = cells.evaluate_all("cells => cells.map(cell => cell.dataset.outcome)")
    assert outcomes[20:22] == ["succeeded", "failed"]
    expect(succeeded).to_have_attribute("aria-label", re.compile(r"Succeeded\. ran and succeeded$"))

    # ... and the legend counts each outcome, with the totals
    legend = page.get_by_role("list", name="Outcomes")
    expect(legend).to_contain_text("Succeeded: 1")
    expect(legend).to_contain_text("Failed: 1")
    expect(legend).to_contain_text("No record: 22")
    expect(page.locator("#accounting-totals")).to_have_text(
        "24 expected fire times; 0 other runs (run now, backfill)."
    )
