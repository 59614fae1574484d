"""E2E: "Pause all matching…" and "Resume all matching…" on the dashboard's schedules list, in
Chromium against the local stack: the dialog says how many schedules the list's filter matches
(a dry run), asks for the note, changes exactly those, and shows the result.
"""

# ruff: noqa: F811  (pytest fixtures imported from another test module are parameters here)

from __future__ import annotations

from playwright.sync_api import Page, expect

from devstack.stack import Stack, StackUser
from tests.e2e.conftest import Api, MakeWorkflow
from tests.e2e.test_dashboard import browser, page, sign_in  # noqa: F401  (fixtures)


def _states(api: Api) -> dict[str, tuple[bool, str | None]]:
    items = api.request("GET", "/api/schedules?limit=100").body["items"]
    return {item["id"]: (item["enabled"], item.get("note")) for item in items}


def test_pause_all_matching_asks_with_the_count_pauses_the_filtered_ones_and_resume_undoes_it(
    page: Page, stack: Stack, user1: StackUser, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given three schedules of one workflow and one of another
    incident = make_workflow()
    matching = [api1.create_schedule(incident.id, f"{m} 3 * * *")["id"] for m in (1, 2, 3)]
    other = api1.create_schedule(user1.workflow_id, "4 3 * * *")["id"]

    # When the user filters the list by the workflow and asks to pause all matching
    sign_in(page, stack, user1)
    page.get_by_label("Workflow").select_option(str(incident.id))
    page.get_by_role("button", name="Apply filters").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="4 3 * * *")).to_have_count(0)
    page.get_by_role("button", name="Pause all matching…").click()

    # Then the dialog says how many will change, from a dry run that changed nothing
    dialog = page.get_by_role("dialog", name="Pause all matching schedules?")
    expect(dialog).to_contain_text("3 schedules match the filter: 3 schedules will be paused.")
    assert all(enabled for enabled, _ in _states(api1).values())

    # When the user gives the note and confirms
    dialog.get_by_label("Note (why; required)").fill("INC-42: vendor down")
    dialog.get_by_role("button", name="Pause 3 schedules").click()

    # Then the result is shown; closing shows the list with the three paused, with the note
    expect(dialog.get_by_role("status")).to_contain_text("Paused 3 schedules.")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(table.get_by_text("INC-42: vendor down")).to_have_count(3)
    expect(table.get_by_text("Paused")).to_have_count(3)
    states = _states(api1)
    assert [states[i] for i in matching] == [(False, "INC-42: vendor down")] * 3
    assert states[other] == (True, None)

    # When the user resumes all matching (no note: the notes stay)
    page.get_by_role("button", name="Resume all matching…").click()
    dialog = page.get_by_role("dialog", name="Resume all matching schedules?")
    expect(dialog).to_contain_text("3 schedules match the filter: 3 schedules will be resumed.")
    dialog.get_by_role("button", name="Resume 3 schedules").click()
    expect(dialog.get_by_role("status")).to_contain_text("Resumed 3 schedules.")
    dialog.get_by_role("button", name="Close").click()

    # Then they are enabled again
    expect(table.get_by_text("Enabled")).to_have_count(3)
    assert all(_states(api1)[i][0] for i in matching)


def test_cancel_changes_nothing(page: Page, stack: Stack, user1: StackUser, api1: Api) -> None:
    schedule = api1.create_schedule(user1.workflow_id, "5 3 * * *")["id"]
    sign_in(page, stack, user1)

    page.get_by_role("button", name="Pause all matching…").click()
    dialog = page.get_by_role("dialog", name="Pause all matching schedules?")
    expect(dialog).to_contain_text("1 schedule matches the filter")
    dialog.get_by_role("button", name="Cancel").click()

    expect(dialog).to_be_hidden()
    assert _states(api1)[schedule] == (True, None)
