"""E2E: the DST policy in the dashboard, in a real browser (Chromium, Playwright) against the
local stack: the form's two selects, the preview's notes following them as they change, the
saved dstPolicy, the schedule page's line, and an edit back to the default."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from playwright.sync_api import Page, expect

from devstack.demo import DEMO_WORKFLOW_NAME
from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401  (fixtures)


def test_the_form_offers_the_policy_and_the_preview_says_what_it_does(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    sign_in(page, stack, user1)
    page.get_by_role("button", name="New schedule").click()
    expect(page.get_by_role("heading", name="New schedule")).to_be_visible()

    # Given 02:30 daily in Berlin, a time skipped in spring and repeated in autumn
    page.get_by_label("Cron expression").fill("30 2 * * *")
    page.get_by_label("Timezone").fill("Europe/Berlin")
    preview = page.locator("#cron-preview")
    # Then the preview's notes say today's behaviour
    expect(preview).to_contain_text("this fire is skipped")
    expect(preview).to_contain_text("this fire runs once")

    # When the user picks shift and both
    page.get_by_label("A time the clocks skip (spring)").select_option("shift")
    page.get_by_label("A time the clocks repeat (autumn)").select_option("both")
    # Then the notes follow the choice
    expect(preview).to_contain_text("(springForward shift)")
    expect(preview).to_contain_text("this fire runs twice")
    expect(preview).not_to_contain_text("this fire is skipped")

    # And the saved schedule holds the policy, and its page says it
    page.get_by_label("Workflow", exact=True).select_option(label=DEMO_WORKFLOW_NAME)
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("button", name="Edit")).to_be_visible()
    (created,) = api1.request("GET", "/api/schedules").body["items"]
    assert created["dstPolicy"] == {"springForward": "shift", "fallBack": "both"}
    expect(page.get_by_text("a skipped time runs after the gap")).to_be_visible()
    expect(page.get_by_text("(fallBack both)")).to_be_visible()

    # When the user edits it back to the default
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("A time the clocks skip (spring)")).to_have_value("shift")
    expect(page.get_by_label("A time the clocks repeat (autumn)")).to_have_value("both")
    page.get_by_label("A time the clocks skip (spring)").select_option("skip")
    page.get_by_label("A time the clocks repeat (autumn)").select_option("first")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("a skipped time does not run")).to_be_visible()
    stored = api1.request("GET", f"/api/schedules/{created['id']}").body
    assert stored["dstPolicy"] == {"springForward": "skip", "fallBack": "first"}

    # And an edit of another field leaves the policy as it is (not sent again)
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Note (optional)").fill("Berlin nightly")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Berlin nightly", exact=True)).to_be_visible()
    events = api1.request("GET", f"/api/schedules/{created['id']}/events").body["items"]
    assert "dstPolicy" not in events[0]["changes"]
    assert events[0]["changes"]["note"]["after"] == "Berlin nightly"
