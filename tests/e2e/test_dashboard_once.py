"""E2E: one-time schedules (`at`) in the dashboard, in a real browser (Chromium, Playwright)
against the local stack: the form's "Once at" (a date and time on the schedule's clock), the
table and the schedule page showing "once at …" with "pending", then "ran" after its fire."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from scheduler.store.db import Database

from devstack.demo import DEMO_WORKFLOW_NAME
from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401  (fixtures)

# A winter evening next year: the same offset (+01:00) whenever the suite runs.
WALL = f"{datetime.now(UTC).year + 1}-01-15T18:30"


def test_new_schedule_once_at_a_time_in_its_zone_then_the_table_shows_it_pending(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    sign_in(page, stack, user1)
    page.get_by_role("button", name="New schedule").click()
    expect(page.get_by_role("heading", name="New schedule")).to_be_visible()

    # When the user chooses "Once at", the cron and the window give way to a date and time
    page.get_by_label("Kind of schedule").select_option("once")
    expect(page.get_by_label("Cron expression")).to_be_hidden()
    expect(page.get_by_label("Start (optional)")).to_be_hidden()
    page.get_by_label("Once at").fill(WALL)
    page.get_by_label("Timezone").fill("Europe/Berlin")
    page.get_by_label("Workflow", exact=True).select_option(label=DEMO_WORKFLOW_NAME)
    page.get_by_role("button", name="Create schedule").click()

    # Then the schedule fires once at that wall time in Berlin, and its page says so
    label = f"once at {WALL.replace('T', ' ')}"
    expect(page.get_by_role("heading", name=f"Schedule {label}")).to_be_visible()
    (created,) = api1.request("GET", "/api/schedules").body["items"]
    assert (created["cron"], created["at"]) == (None, f"{WALL}:00+01:00")
    assert created["eventbridgeExpressions"] == [f"at({WALL}:00)"]
    expect(page.locator("[data-once]")).to_have_text("pending")

    # And the table shows it as once at … and pending
    page.get_by_role("link", name="← All schedules").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=label))
    expect(row).to_contain_text("pending")
    expect(row).to_contain_text("Once, at")

    # When the user edits only its note, the stored `at` is not sent again (no change to it)
    page.get_by_role("link", name=label).click()
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Kind of schedule")).to_have_value("once")
    expect(page.get_by_label("Once at")).to_have_value(WALL)
    page.get_by_label("Note (optional)").fill("launch reminder")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name=f"Schedule {label}")).to_be_visible()
    stored = api1.request("GET", f"/api/schedules/{created['id']}").body
    assert (stored["note"], stored["at"]) == ("launch reminder", created["at"])


def test_a_one_time_schedule_that_ran_shows_ran(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a one-time schedule whose minute passed an hour ago, and its run (written as the
    # runner does: the database's now() is real time, the API reads by it)
    response = api1.request(
        "POST", "/api/schedules", {"workflowId": str(user1.workflow_id), "at": f"{WALL}:00Z"}
    )
    assert response.status == 201, response.body
    schedule_id = response.body["id"]
    fired = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    database = Database(stack.database_url)
    try:
        database.execute("update schedules set run_at = %s where id = %s", (fired, schedule_id))
        database.execute(
            """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time,
                                          status, finished_at)
               values (%s, %s, 'schedule', %s, 'succeeded', now())""",
            (schedule_id, user1.workflow_id, fired),
        )
    finally:
        database.close()

    sign_in(page, stack, user1)
    label = f"once at {fired:%Y-%m-%d %H:%M}"
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=label))
    expect(row.locator("[data-once]")).to_have_text("ran")
    row.get_by_role("link", name=label).click()
    expect(page.locator("[data-once]")).to_have_text("ran")
