"""E2E: the dashboard's search and labels in a real browser (Chromium through Playwright)
against the local stack: a row's label chip filters the table, a filter chip's remove link
removes it, the search box and the last-run filter ask the API, every filter is in the
address, and the form edits labels (one key=value a line), the API's 422 under the field.

The stack is shared by the e2e package: each test's labels and texts are its own, so other
tests' schedules never match its filters.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401  (fixtures)


def test_label_chips_filter_the_table_and_a_chip_removes_its_filter(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given three schedules: two of the team "search-e2e" (one in prod), one without labels
    prod = api1.create_schedule(
        user1.workflow_id, "0 3 * * *", labels={"team": "search-e2e", "env": "prod"}
    )
    api1.create_schedule(
        user1.workflow_id, "0 4 * * *", labels={"team": "search-e2e", "env": "dev"}
    )
    api1.create_schedule(user1.workflow_id, "0 5 * * *", note="zz-search-e2e cleanup")
    sign_in(page, stack, user1)
    table = page.get_by_role("table")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name="0 3 * * *"))

    # When the user clicks the prod row's team chip
    row.get_by_role("link", name="team=search-e2e").click()

    # Then the address and the table are filtered by it, and a chip says so
    expect(page).to_have_url(re.compile(r"#/\?label=team%3Dsearch-e2e$"))
    expect(table.get_by_role("link", name="0 3 * * *")).to_be_visible()
    expect(table.get_by_role("link", name="0 4 * * *")).to_be_visible()
    expect(table.get_by_role("link", name="0 5 * * *")).to_have_count(0)
    filters = page.get_by_role("list", name="Label filters")
    expect(filters).to_contain_text("team=search-e2e")

    # ... a second chip narrows it to the schedules with both labels
    row.get_by_role("link", name="env=prod").click()
    expect(page).to_have_url(re.compile(r"label=team%3Dsearch-e2e&label=env%3Dprod$"))
    expect(table.get_by_role("link", name="0 3 * * *")).to_be_visible()
    expect(table.get_by_role("link", name="0 4 * * *")).to_have_count(0)

    # ... removing the team chip keeps the env filter alone, and a reload keeps it too
    page.get_by_role("link", name="Remove the label filter team=search-e2e").click()
    expect(page).to_have_url(re.compile(r"#/\?label=env%3Dprod$"))
    expect(filters).not_to_contain_text("team=search-e2e")
    page.reload()
    expect(page.get_by_role("list", name="Label filters")).to_contain_text("env=prod")
    expect(table.get_by_role("link", name="0 3 * * *")).to_be_visible()
    expect(table.get_by_role("link", name="0 4 * * *")).to_have_count(0)

    # ... and the schedule's page shows its labels as chips
    page.goto(f"{stack.api_url}/dashboard#/schedules/{prod['id']}")
    expect(page.get_by_role("list", name="Labels")).to_contain_text("env=prod")
    expect(page.get_by_role("list", name="Labels")).to_contain_text("team=search-e2e")


def test_the_search_box_and_the_last_run_filter_ask_the_api_and_stay_in_the_address(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    api1.create_schedule(user1.workflow_id, "0 6 * * *", note="ZZ-search-box 100% literal")
    api1.create_schedule(user1.workflow_id, "0 8 * * *", name="other")
    sign_in(page, stack, user1)
    table = page.get_by_role("table")

    # When the user searches for the note's text, in another case
    page.get_by_label("Search").fill("zz-SEARCH-box 100%")
    page.get_by_role("button", name="Apply filters").click()

    # Then only that schedule is listed, the search in the address, kept by a reload
    expect(page).to_have_url(re.compile(r"q=zz-SEARCH-box\+100%25"))
    expect(table.get_by_role("link", name="0 6 * * *")).to_be_visible()
    expect(table.get_by_role("link", name="0 8 * * *")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Search")).to_have_value("zz-SEARCH-box 100%")
    expect(table.get_by_role("link", name="0 6 * * *")).to_be_visible()

    # ... and a last run status it never had filters it out (it never ran)
    page.get_by_label("Last run").select_option("failed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"lastRunStatus=failed"))
    expect(table).to_contain_text("No schedules match")


def test_the_form_edits_labels_one_a_line_and_shows_the_apis_refusal(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    schedule = api1.create_schedule(
        user1.workflow_id, "0 9 * * *", labels={"team": "form-e2e", "env": "prod"}
    )
    sign_in(page, stack, user1)
    page.goto(f"{stack.api_url}/dashboard#/schedules/{schedule['id']}/edit")
    labels = page.get_by_label("Labels (optional)")
    expect(labels).to_have_value("env=prod\nteam=form-e2e")

    # When the user writes a label the API refuses (an upper-case key)
    labels.fill("Team=ops")
    page.get_by_role("button", name="Save changes").click()

    # Then the API's message is under the field, and nothing changed
    expect(page.locator("#field-labels-error")).to_contain_text("'Team'")
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").body["labels"] == {
        "team": "form-e2e",
        "env": "prod",
    }

    # When the user writes valid lines (blank lines ignored, the value may hold "=")
    labels.fill("team=ops\n\nquery=a=b")
    page.get_by_role("button", name="Save changes").click()

    # Then the schedule has exactly those labels, shown on its page
    expect(page.get_by_role("list", name="Labels")).to_contain_text("query=a=b")
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").body["labels"] == {
        "team": "ops",
        "query": "a=b",
    }
