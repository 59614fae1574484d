"""E2E: the operations dashboard in a real browser (Debian's Chromium, headless, through
Playwright) against the local stack: sign in through the URL fragment, the schedules table,
a schedule's page and its actions, the form with the API's live preview, Delete's confirmation.

Elements are found by role and accessible name, as assistive technology finds them, so the
names the brief fixes (Pause, Resume, Run now, Edit, Delete, New schedule) are tested too. The
table and a schedule's page are photographed to .dev/screenshots/ (docs/screenshots/ holds the
ones docs/dashboard.md shows, made by tools/screenshots.py). One browser for the module; a
fresh context (sessionStorage) per test.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from scheduler.store.db import Database

from devstack.demo import DEMO_WORKFLOW_NAME
from devstack.stack import Stack, StackUser
from tests.conftest import ROOT
from tests.e2e.conftest import (
    WAIT_S,
    Api,
    MakeWorkflow,
    advance_to_next_minute,
    parse_time,
    sync_engine,
)

SCREENSHOTS = ROOT / ".dev" / "screenshots"
WAIT_MS = WAIT_S * 1000
# Each wait ends as soon as the page gets there; only a hang runs this out.
expect.set_options(timeout=WAIT_MS)


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert shutil.which(path), "Debian's chromium is missing: make test installs it with apt-get"
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, stack: Stack, user: StackUser, search: str = "") -> None:
    """Open the dashboard with the user's token in the fragment, as `make run`'s link does
    (`search`: the page's own parameters, e.g. "?refresh=1")."""
    page.goto(f"{stack.api_url}/dashboard{search}#access_token={user.token}")
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible(timeout=WAIT_MS)


def open_schedule(page: Page, cron: str) -> None:
    page.get_by_role("link", name=cron, exact=True).click()
    expect(page.get_by_role("heading", name=f"Schedule {cron}")).to_be_visible(timeout=WAIT_MS)


def wait_for_runs(stack: Stack, api: Api, schedule_id: str, count: int) -> list[dict[str, Any]]:
    assert stack.lambdas is not None
    stack.lambdas.wait_in_flight(0, WAIT_S)
    runs = api.runs(schedule_id)
    assert len(runs) == count, runs
    return runs


def test_the_fragment_signs_in_and_the_table_shows_the_schedule_with_its_last_run(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a schedule of user 1 with a note, run once
    schedule = api1.create_schedule(
        user1.workflow_id, "0 7 * * MON-FRI", timezone="Europe/Berlin", note="owner: ops team"
    )
    assert api1.request("POST", f"/api/schedules/{schedule['id']}/run").status == 202
    wait_for_runs(stack, api1, schedule["id"], 1)

    # When the user opens `make run`'s link
    sign_in(page, stack, user1)

    # Then the token left the address bar for sessionStorage, and the table shows the schedule
    assert "access_token" not in page.url
    assert page.evaluate("Object.values(sessionStorage)") == [user1.token]
    table = page.get_by_role("table")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name="0 7 * * MON-FRI"))
    expect(row).to_contain_text(schedule["description"])
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text("Succeeded")  # the last run's status as a word
    expect(row).to_contain_text("Enabled")
    expect(row).to_contain_text("owner: ops team")
    expect(row).to_contain_text("CET")  # the next fire time in the schedule's own zone
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "schedules.png", full_page=True)

    # ... and the filters ask the API: no paused schedule
    page.get_by_label("State").select_option("false")
    page.get_by_role("button", name="Apply filters").click()
    expect(table).to_contain_text("No schedules match")


def test_pause_resume_and_run_now_from_a_schedule_page(
    page: Page, stack: Stack, user1: StackUser, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule whose workflow's http step fails, and a succeeded run of another
    failing = make_workflow(path="/demo/no-such-endpoint")
    schedule = api1.create_schedule(failing.id, "30 6 * * *", timezone="America/New_York")
    path = f"/api/schedules/{schedule['id']}"
    sign_in(page, stack, user1)
    open_schedule(page, "30 6 * * *")
    expect(page.get_by_text("cron(30 6 * * ? *)")).to_be_visible()  # its EventBridge expression

    # When the user pauses it, the API says it is disabled
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    assert api1.request("GET", path).body["enabled"] is False

    # ... and resuming enables it again
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    assert api1.request("GET", path).body["enabled"] is True

    # When the user runs it now, the run appears in the timeline, selected, with its error
    page.get_by_role("button", name="Run now").click()
    mark = page.get_by_role("list", name="Runs, oldest first").get_by_role("button")
    expect(mark).to_have_count(1)
    expect(mark).to_have_accessible_name(re.compile(r"^Failed run, .*, run now$"))
    (run,) = wait_for_runs(stack, api1, schedule["id"], 1)
    assert (run["status"], run["trigger"]) == ("failed", "manual")
    details = page.get_by_role("region", name="Selected run")
    expect(details).to_contain_text(run["error"])
    expect(mark).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=SCREENSHOTS / "schedule.png", full_page=True)


def test_new_schedule_shows_the_api_message_for_an_invalid_cron_then_creates_a_valid_one(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    expected = api1.request("POST", "/api/cron/preview", {"cron": "61 * * * *"}).body["error"]
    sign_in(page, stack, user1)
    page.get_by_role("button", name="New schedule").click()
    expect(page.get_by_role("heading", name="New schedule")).to_be_visible()
    cron = page.get_by_label("Cron expression")

    # When the user types an invalid cron, the API's message shows under the field as they type
    cron.fill("61 * * * *")
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-cron-error")).to_have_text(expected)

    # ... and submitting it anyway creates nothing, the API's answer shown
    page.get_by_role("button", name="Create schedule").click()
    expect(
        page.get_by_role("alert").filter(has_text="cron: minute: 61 is out of range")
    ).to_be_visible()
    expect(page.locator("#field-cron-error")).to_contain_text("61 is out of range")
    assert api1.request("GET", "/api/schedules").body["items"] == []

    # When the user types a valid one, the preview explains it
    cron.fill("*/5 * * * *")
    expect(page.locator("#cron-preview")).to_contain_text("Every 5 minutes")
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Workflow", exact=True).select_option(label=DEMO_WORKFLOW_NAME)
    page.get_by_label("Note (optional)").fill("made in the browser")
    page.get_by_role("button", name="Create schedule").click()

    # Then it is created, and its page shows it
    expect(page.get_by_role("heading", name="Schedule */5 * * * *")).to_be_visible()
    (created,) = api1.request("GET", "/api/schedules").body["items"]
    assert (created["cron"], created["workflowId"]) == ("*/5 * * * *", str(user1.workflow_id))
    assert created["note"] == "made in the browser"
    assert page.url.endswith(f"#/schedules/{created['id']}")


def test_edit_changes_the_cron_through_the_form(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    schedule = api1.create_schedule(user1.workflow_id, "0 9 * * *")
    sign_in(page, stack, user1)
    open_schedule(page, "0 9 * * *")

    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Cron expression").fill("15 9 * * *")
    expect(page.locator("#cron-preview")).to_contain_text("09:15")
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("heading", name="Schedule 15 9 * * *")).to_be_visible()
    stored = api1.request("GET", f"/api/schedules/{schedule['id']}").body
    assert (stored["cron"], stored["timezone"], stored["enabled"]) == ("15 9 * * *", "UTC", True)


def test_delete_asks_first_and_cancel_keeps_the_schedule(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    schedule = api1.create_schedule(user1.workflow_id, "45 23 * * *")
    path = f"/api/schedules/{schedule['id']}"
    sign_in(page, stack, user1)
    open_schedule(page, "45 23 * * *")

    # Cancel in the confirmation keeps it
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this schedule?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api1.request("GET", path).status == 200

    # Confirming deletes it and returns to the table
    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete schedule").click()
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Deleted the schedule 45 23 * * *")
    assert api1.request("GET", path).status == 404


def test_a_refused_token_returns_to_sign_in_where_a_pasted_token_works_until_sign_out(
    page: Page, stack: Stack, user1: StackUser
) -> None:
    # Given a token the API refuses
    page.goto(f"{stack.api_url}/dashboard#access_token=not-a-token")

    # Then the user is asked to sign in again, told why
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Please sign in again")).to_be_visible()

    # When they paste a valid one, the table shows; Sign out forgets it
    page.get_by_label("Access token").fill(user1.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_table_and_a_schedule_page_show_new_runs_without_a_reload(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given the dashboard open, refreshing every second, and a schedule made after it loaded
    sign_in(page, stack, user1, "?refresh=1")
    expect(page.get_by_text(re.compile(r"^Updated \d\d:\d\d:\d\d$"))).to_be_visible()
    expect(page.get_by_role("button", name="Refresh")).to_be_visible()
    page.evaluate("window.loadedOnce = true")  # gone if the page were loaded again
    schedule = api1.create_schedule(user1.workflow_id, "* * * * *")
    sync_engine(stack)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="* * * * *"))
    expect(row).to_contain_text("Never run")
    next_fire = row.get_by_role("cell").nth(2).inner_text()

    # When it fires (the engine, not the page)
    advance_to_next_minute(stack)
    wait_for_runs(stack, api1, schedule["id"], 1)

    # Then the table shows its run and its new next fire time, without a reload
    expect(row).to_contain_text("Succeeded")
    expect(row.get_by_role("cell").nth(2)).not_to_have_text(next_fire)
    assert page.evaluate("window.loadedOnce") is True

    # ... and so does its page: the next fire's mark appears
    open_schedule(page, "* * * * *")
    marks = page.get_by_role("list", name="Runs, oldest first").get_by_role("button")
    expect(marks).to_have_count(1)
    advance_to_next_minute(stack)
    wait_for_runs(stack, api1, schedule["id"], 2)
    expect(marks).to_have_count(2)
    assert page.evaluate("window.loadedOnce") is True


def test_the_run_history_pages_past_the_newest_50_and_says_older_runs_exist(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a schedule with 53 runs, one a minute
    schedule = api1.create_schedule(user1.workflow_id, "0 5 * * *")
    database = Database(stack.database_url)
    try:
        database.execute(
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          started_at, finished_at)
               select %s, %s, fired, 'succeeded', fired, fired + interval '2 seconds'
               from generate_series(1, 53) as n, lateral (
                   select date_trunc('minute', now()) - n * interval '1 minute'
               ) as t(fired)""",
            (schedule["id"], str(user1.workflow_id)),
        )
    finally:
        database.close()

    # When its page opens, the newest 50 show, and the page says there are older ones
    sign_in(page, stack, user1)
    open_schedule(page, "0 5 * * *")
    marks = page.get_by_role("list", name="Runs, oldest first").get_by_role("button")
    expect(marks).to_have_count(50)
    expect(page.get_by_text("The newest 50 runs; older runs exist.")).to_be_visible()

    # ... and Older runs adds the page before them, oldest on the left, and says that is all
    page.get_by_role("button", name="Older runs").click()
    expect(marks).to_have_count(53)
    expect(page.get_by_text("All 53 runs kept.")).to_be_visible()
    expect(page.get_by_role("button", name="Older runs")).to_have_count(0)
    oldest = page.evaluate("document.querySelector('ol.timeline time').getAttribute('datetime')")
    assert oldest == min(run["scheduledTime"] for run in all_runs(api1, schedule["id"]))


def all_runs(api: Api, schedule_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = api.request("GET", f"/api/schedules/{schedule_id}/runs?limit=100{cursor}").body
        runs += body["items"]
        if not body["nextCursor"]:
            return runs
        cursor = f"&cursor={body['nextCursor']}"


def test_a_selected_run_shows_its_times_to_the_second_its_duration_and_each_step_expandable(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    # Given a run of the demo workflow (one http step)
    schedule = api1.create_schedule(user1.workflow_id, "0 4 * * *")
    assert api1.request("POST", f"/api/schedules/{schedule['id']}/run").status == 202
    (run,) = wait_for_runs(stack, api1, schedule["id"], 1)
    (step,) = run["output"]["steps"]
    started, finished = parse_time(run["startedAt"]), parse_time(run["finishedAt"])

    # When its mark is selected
    sign_in(page, stack, user1)
    open_schedule(page, "0 4 * * *")
    page.get_by_role("list", name="Runs, oldest first").get_by_role("button").click()
    details = page.get_by_role("region", name="Selected run")

    # Then start and end read to the second, with the duration between them
    expect(details.locator("dt:text-is('Started') + dd")).to_have_text(
        re.compile(rf"\d\d:\d\d:{started.second:02d}$")
    )
    expect(details.locator("dt:text-is('Finished') + dd")).to_have_text(
        re.compile(rf"\d\d:\d\d:{finished.second:02d}$")
    )
    expect(details.locator("dt:text-is('Duration') + dd")).to_have_text(
        re.compile(r"^(\d+ ms|\d+\.\d s)$")
    )

    # ... and the step's row says its type, status and duration; expanded, its response
    row = details.get_by_role("list", name="Steps of the run").get_by_role("listitem")
    expect(row).to_have_count(1)
    summary = f"Step 1 · http · ✓ Succeeded · {duration_text(step['durationMs'])}"
    expect(row.locator("summary")).to_have_text(summary)
    expect(row.locator("pre")).to_be_hidden()
    row.locator("summary").click()
    expect(row).to_contain_text(f"Response status {step['detail']['status']}")
    expect(row.locator("pre")).to_have_text(step["detail"]["body"])


def test_the_signed_in_notice_goes_by_itself_and_a_notice_can_be_dismissed(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    api1.create_schedule(user1.workflow_id, "0 3 * * *")
    notice = page.get_by_role("status")

    # The notice of the sign-in goes by itself
    sign_in(page, stack, user1)
    expect(notice).to_have_text(re.compile(r"^Signed in\."))
    expect(notice).to_be_empty()

    # ... and another one goes at once with its Dismiss button
    open_schedule(page, "0 3 * * *")
    page.get_by_role("button", name="Pause").click()
    expect(notice).to_have_text(re.compile(r"^Paused\."))
    notice.get_by_role("button", name="Dismiss").click()
    expect(notice).to_be_empty()


def test_the_filters_are_in_the_address_and_a_reload_or_back_restores_them(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    api1.create_schedule(user1.workflow_id, "0 2 * * *")
    sign_in(page, stack, user1)
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="0 2 * * *")).to_be_visible()

    # When the user filters by workflow and on paused schedules
    page.get_by_label("Workflow").select_option(str(user1.workflow_id))
    page.get_by_label("State").select_option("false")
    page.get_by_role("button", name="Apply filters").click()

    # Then the address says so, and the table is filtered
    expect(page).to_have_url(re.compile(rf"#/\?workflowId={user1.workflow_id}&enabled=false$"))
    expect(table).to_contain_text("No schedules match")

    # ... a reload keeps the filters
    page.reload()
    expect(page.get_by_label("State")).to_have_value("false")
    expect(page.get_by_label("Workflow")).to_have_value(str(user1.workflow_id))
    expect(table).to_contain_text("No schedules match")

    # ... and Back returns to the table unfiltered
    page.go_back()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.get_by_label("State")).to_have_value("")
    expect(table.get_by_role("link", name="0 2 * * *")).to_be_visible()


def test_a_failing_schedule_shows_its_last_error_in_the_table(
    page: Page, stack: Stack, user1: StackUser, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule whose last run failed
    failing = make_workflow(path="/demo/no-such-endpoint")
    schedule = api1.create_schedule(failing.id, "0 1 * * *")
    assert api1.request("POST", f"/api/schedules/{schedule['id']}/run").status == 202
    (run,) = wait_for_runs(stack, api1, schedule["id"], 1)
    assert run["status"] == "failed", run
    assert run["error"], run

    # Then its row in the table says so, with the run's error (whole on hover)
    sign_in(page, stack, user1)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="0 1 * * *"))
    expect(row).to_contain_text("Failed")
    error = row.get_by_text(run["error"], exact=True)
    expect(error).to_be_visible()
    expect(error).to_have_attribute("title", run["error"])


def test_an_invalid_timezone_is_shown_under_the_timezone_field_not_the_cron_field(
    page: Page, stack: Stack, user1: StackUser, api1: Api
) -> None:
    preview = {"cron": "*/5 * * * *", "timezone": "Mars/Olympus_Mons"}
    expected = api1.request("POST", "/api/cron/preview", preview).body["error"]
    sign_in(page, stack, user1)
    page.get_by_role("button", name="New schedule").click()
    cron, timezone = page.get_by_label("Cron expression"), page.get_by_label("Timezone")

    # When the user types a valid cron, then a zone that does not exist
    cron.fill("*/5 * * * *")
    expect(page.locator("#cron-preview")).to_contain_text("Every 5 minutes")
    timezone.fill("Mars/Olympus_Mons")

    # Then the API's message shows under the timezone, and the cron is not marked invalid
    expect(page.locator("#field-timezone-error")).to_have_text(expected)
    expect(timezone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-cron-error")).to_be_empty()
    expect(cron).not_to_have_attribute("aria-invalid", "true")

    # ... and a real zone clears it
    timezone.fill("Europe/Berlin")
    expect(page.locator("#cron-preview")).to_contain_text("Every 5 minutes")
    expect(page.locator("#field-timezone-error")).to_be_empty()
    expect(timezone).not_to_have_attribute("aria-invalid", "true")


def test_the_page_names_its_own_icon_which_loads_without_a_token(
    page: Page, stack: Stack, user1: StackUser
) -> None:
    """Without an icon of its own, a browser asks for /favicon.ico, which the gateway refuses
    (401) on every page load. Headless Chromium asks for no icon, so the test loads the one
    the page names as the browser would: an image of this origin, without a token, under the
    page's Content-Security-Policy."""
    refused: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda response: (
            refused.append((response.status, response.url)) if response.status >= 400 else None
        ),
    )
    sign_in(page, stack, user1)

    expect(page.locator("link[rel=icon]")).to_have_attribute("href", "dashboard/icon.svg")
    loaded = page.evaluate(
        """() => new Promise((resolve) => {
            const image = new Image();
            image.onload = () => resolve(image.naturalWidth > 0);
            image.onerror = () => resolve(false);
            image.src = document.querySelector("link[rel=icon]").href;
        })"""
    )
    assert loaded is True
    assert refused == []


PHONE_WIDTH = 390


def test_the_table_is_readable_at_390_px_without_the_page_scrolling_sideways(
    browser: Browser, stack: Stack, user1: StackUser, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule with a run and a note, of a workflow with a long name (the filter's
    # options and the card show it), and a phone-wide window
    workflow = make_workflow()
    schedule = api1.create_schedule(
        workflow.id, "0 7 * * MON-FRI", timezone="Europe/Berlin", note="owner: ops team"
    )
    assert api1.request("POST", f"/api/schedules/{schedule['id']}/run").status == 202
    wait_for_runs(stack, api1, schedule["id"], 1)
    context = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 844}, locale="en-GB")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        sign_in(page, stack, user1)
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name="0 7 * * MON-FRI"))
        expect(row).to_contain_text("Succeeded")

        # Then nothing is wider than the window
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH

        # ... and the key cells are whole on screen once scrolled to (down only)
        # (the row's top on the page: its offsetTop is within the table, below the filters)
        row.evaluate(
            "element => window.scrollTo(0, element.getBoundingClientRect().top + window.scrollY)"
        )
        for cell in (
            row.get_by_role("link", name="0 7 * * MON-FRI"),
            row.get_by_text("Succeeded"),
            row.get_by_text("Enabled"),
            row.get_by_text("CET").first,
        ):
            expect(cell).to_be_in_viewport(ratio=1)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "schedules-phone.png", full_page=True)
    finally:
        context.close()


def duration_text(ms: int) -> str:
    """A duration as the dashboard writes it (format.js durationText)."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{round(ms / 1000) // 60} min {round(ms / 1000) % 60} s"
