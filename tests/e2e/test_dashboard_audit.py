# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

"""E2E: a schedule's page shows its audit log in a real browser (Debian's Chromium, headless,
through Playwright) against the local stack: when, who, what, and each changed field's value
before and after, newest first."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import (  # noqa: F401  (fixtures)
    browser,
    open_schedule,
    page,
    sign_in,
)


def test_a_schedules_page_lists_its_changes_newest_first_with_before_and_after(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a schedule whose cron was changed, then paused with a note
    schedule = api1.create_schedule(user1.workflow_id, "17 4 * * *")
    path = f"/api/schedules/{schedule['id']}"
    assert api1.request("PATCH", path, {"cron": "19 4 * * *"}).status == 200
    assert api1.request("PATCH", path, {"enabled": False, "note": "audit test"}).status == 200

    # When its owner opens its page
    sign_in(page, stack, user1)
    open_schedule(page, "19 4 * * *")

    # Then the Changes table lists the pause, the change and the creation, newest first
    table = page.get_by_role("table", name="Changes")
    rows = table.get_by_role("row")
    expect(rows).to_have_count(4)  # the header and three events
    expect(rows.nth(1)).to_contain_text("Paused (audit test)")
    expect(rows.nth(1)).to_contain_text("enabled: true → false")
    expect(rows.nth(1)).to_contain_text(f"user:{user1.sub}")
    expect(rows.nth(2)).to_contain_text("Changed")
    expect(rows.nth(2)).to_contain_text("cron: 17 4 * * * → 19 4 * * *")
    expect(rows.nth(3)).to_contain_text("Created")
    expect(rows.nth(3)).to_contain_text("cron: — → 17 4 * * *")

    # and after Resume, the page shows the resumption first
    page.get_by_role("button", name="Resume").click()
    expect(rows.nth(1)).to_contain_text("Resumed")
    expect(rows).to_have_count(5)


def test_older_changes_load_the_next_page_and_stay_when_the_page_is_shown_again(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a schedule with more changes than the page shows at first (20)
    schedule = api1.create_schedule(user1.workflow_id, "23 4 * * *")
    path = f"/api/schedules/{schedule['id']}"
    for n in range(21):
        assert api1.request("PATCH", path, {"note": f"change {n}"}).status == 200

    sign_in(page, stack, user1, "?refresh=1")  # shown again every second
    open_schedule(page, "23 4 * * *")
    rows = page.get_by_role("table", name="Changes").get_by_role("row")
    expect(rows).to_have_count(21)  # the header and the newest 20
    expect(rows.nth(1)).to_contain_text("note: change 19 → change 20")

    # When the user asks for older changes, the rest follow, down to the creation
    older = page.get_by_role("button", name="Older changes")
    older.click()
    expect(rows).to_have_count(23)
    expect(rows.nth(22)).to_contain_text("Created")
    expect(older).to_be_hidden()

    # and a change made meanwhile shows on top at the next refresh, with as many as were shown
    # below it and none skipped: the oldest one shown moves to the next page
    assert api1.request("PATCH", path, {"note": "change 21"}).status == 200
    expect(rows.nth(1)).to_contain_text("note: change 20 → change 21")
    expect(rows).to_have_count(23)
    expect(rows.nth(21)).to_contain_text("note: change 0 → change 1")
    expect(rows.nth(22)).to_contain_text("note: — → change 0")
    expect(older).to_be_visible()
    older.click()
    expect(rows).to_have_count(24)
    expect(rows.nth(23)).to_contain_text("Created")
