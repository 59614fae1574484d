"""E2E: skipping one fire time from the dashboard, in a real browser (Chromium, Playwright)
against the local stack: the schedule's page offers Skip beside each upcoming fire time; the
skipped one leaves the list, is listed under Exceptions, and Remove brings it back."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from datetime import datetime, timedelta

from playwright.sync_api import Page, expect

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401  (fixtures)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_skip_one_fire_time_then_remove_the_exception(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a daily schedule, and its next fire times as the API previews them
    schedule = api1.create_schedule(user1.workflow_id, "15 6 * * *", note="exceptions e2e")
    path = f"/api/schedules/{schedule['id']}"
    first, second = api1.request("GET", path).body["nextRunTimes"][:2]
    sign_in(page, stack, user1)
    page.goto(f"{stack.api_url}/dashboard#/schedules/{schedule['id']}")
    fires = page.locator("section", has=page.get_by_role("heading", name="Next fire times"))
    first_time = fires.locator(f"time[datetime='{first}']")
    expect(first_time).to_be_visible()
    label = first_time.inner_text()

    # When the user skips the first one
    page.get_by_role("button", name=f"Skip {label}").click()

    # Then the page says so, the fire time leaves the list and is listed as an exception
    expect(page.get_by_text(f"Skipped {label}.")).to_be_visible()
    expect(fires.locator(f"time[datetime='{first}']")).to_have_count(0)
    expect(fires.locator(f"time[datetime='{second}']")).to_be_visible()
    exceptions = page.get_by_role("list", name="Exceptions")
    expect(exceptions).to_contain_text(f"Skipped: {label}")
    # and its audit event says what it was
    added = page.get_by_role("row").filter(has_text="Exception added")
    expect(added).to_contain_text(f"skip {label}")
    # and the API holds the exception, audited
    [exception] = api1.request("GET", f"{path}/exceptions").body["items"]
    assert (_instant(exception["occurrence"]), exception["action"]) == (_instant(first), "skip")
    detail = api1.request("GET", path).body
    assert first not in detail["nextRunTimes"]
    events = api1.request("GET", f"{path}/events").body["items"]
    assert "exception_added" in [event["action"] for event in events]

    # When the user removes the exception, the fire time is back
    page.get_by_role("button", name=f"Remove the exception of {label}").click()
    expect(fires.locator(f"time[datetime='{first}']")).to_be_visible()
    expect(page.get_by_role("list", name="Exceptions")).to_have_count(0)
    assert api1.request("GET", f"{path}/exceptions").body["items"] == []


def test_move_one_fire_time_an_hour_later(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a daily schedule and its next fire time
    schedule = api1.create_schedule(user1.workflow_id, "45 6 * * *", note="exceptions e2e move")
    path = f"/api/schedules/{schedule['id']}"
    first = api1.request("GET", path).body["nextRunTimes"][0]
    sign_in(page, stack, user1)
    page.goto(f"{stack.api_url}/dashboard#/schedules/{schedule['id']}")
    fires = page.locator("section", has=page.get_by_role("heading", name="Next fire times"))
    label = fires.locator(f"time[datetime='{first}']").inner_text()

    # When the user moves it: Move…, the new time on their own clock (an hour later), Move
    page.get_by_role("button", name=f"Move {label}").click()
    new_time = page.get_by_label(f"New time for {label}")
    expect(new_time).to_be_focused()
    shown = new_time.input_value()  # the fire time on the viewer's clock, YYYY-MM-DDThh:mm
    later = datetime.fromisoformat(shown) + timedelta(hours=1)
    new_time.fill(later.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Move", exact=True).click()

    # Then the API holds the move, an hour after the occurrence, and the page shows it
    expect(page.get_by_role("list", name="Exceptions")).to_contain_text("Moved: ")
    [exception] = api1.request("GET", f"{path}/exceptions").body["items"]
    assert exception["action"] == "move"
    assert _instant(exception["occurrence"]) == _instant(first)
    assert _instant(exception["moveTo"]) - _instant(first) == timedelta(hours=1)
    expect(fires).to_contain_text("moved from")
