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
