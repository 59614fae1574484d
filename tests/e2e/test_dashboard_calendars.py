# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

"""E2E: exclusion calendars in a real browser (Debian's Chromium, headless, through Playwright)
against the local stack: a calendar made in the Calendars view, chosen in the schedule form,
its excluded fires on the schedule's page and its own preview, and a delete refused while a
schedule uses it, then detached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import (  # noqa: F401  (fixtures)
    browser,
    open_schedule,
    page,
    sign_in,
)


def test_a_calendar_is_made_chosen_for_a_schedule_previewed_and_detached_on_delete(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a daily schedule of the user's
    today = datetime.now(UTC).date()
    name = f"Freeze {datetime.now(UTC):%H%M%S%f}"
    schedule = api1.create_schedule(user1.workflow_id, "41 12 * * *", name="Noon report")

    # When she makes a calendar of today and tomorrow in the Calendars view
    sign_in(page, stack, user1)
    page.get_by_role("link", name="Calendars").click()
    expect(page.get_by_role("heading", name="Calendars")).to_be_visible()
    page.get_by_role("link", name="New calendar").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Timezone").fill("UTC")
    page.get_by_label("Dates").fill(f"{today}..{today + timedelta(days=1)}")
    page.get_by_role("button", name="Create calendar").click()
    expect(page.get_by_role("heading", name=f"Calendar {name}")).to_be_visible()
    expect(page.get_by_text("No schedule uses it.")).to_be_visible()

    # and chooses it in the schedule's form
    page.goto(f"{stack.api_url}/dashboard#/schedules/{schedule['id']}/edit")
    page.get_by_label("Excluded calendars (optional)").select_option(label=name)
    page.get_by_role("button", name="Save changes").click()

    # Then the schedule's page shows its next fire as excluded by the calendar
    expect(page.get_by_role("heading", name="Schedule 41 12 * * *")).to_be_visible()
    excluded = page.get_by_role("list", name="Excluded fire times")
    expect(excluded).to_contain_text(f"skipped by calendar {name}")
    stored = api1.request("GET", f"/api/schedules/{schedule['id']}").body
    assert len(stored["excludeCalendars"]) == 1
    assert stored["excludedRunTimes"][0]["calendar"] == name

    # and the calendar's page lists what it removes from the schedule
    page.get_by_role("link", name="Calendars").click()
    page.get_by_role("link", name=name).click()
    removes = page.get_by_role("list", name="Fires it removes")
    expect(removes).to_contain_text("Noon report")

    # When she deletes it: refused, naming the schedule, until she detaches it
    page.get_by_role("button", name="Delete calendar").click()
    expect(page.get_by_text("the calendar is used by 1 schedule(s)")).to_be_visible()
    expect(page.locator(".in-use")).to_contain_text("Noon report")
    assert api1.request("GET", f"/api/calendars/{stored['excludeCalendars'][0]}").status == 200
    page.get_by_role("button", name="Detach from them and delete").click()
    expect(page.get_by_role("heading", name="Calendars")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted the calendar {name}")
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").body["excludeCalendars"] == []
