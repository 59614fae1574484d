"""Regenerate the dashboard's screenshots (docs/screenshots/*.png) from a real run of the local
stack: start it on a free port with a fresh database, seed demo user 1's schedules (one that
succeeds, one whose workflow fails, one paused), run each now, and photograph the pages in
Debian's Chromium through Playwright.

    PYTHONPATH=layers/common:. .venv/bin/python tools/screenshots.py [output directory]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect, sync_playwright

from devstack.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 120.0


class Caller:
    """The API as one bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)  # noqa: S310 (the local stack)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def finished_runs(self, schedule_id: str, count: int) -> list[dict[str, Any]]:
        """Wait (polling: this is a tool, not a test) until the schedule has `count` runs done."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            runs = self.call("GET", f"/api/schedules/{schedule_id}/runs")["items"]
            if len(runs) >= count and all(run["status"] != "running" for run in runs):
                return list(runs)
            time.sleep(0.5)
        raise TimeoutError(f"schedule {schedule_id}: no {count} finished runs in {WAIT_S} s")


def seed(stack: Stack) -> dict[str, str]:
    """Demo user 1's schedules, each run once (but the paused one); their ids by cron."""
    from scheduler.store.db import Database
    from scheduler.store.workflows import WorkflowQueries

    user = stack.users[0]
    database = Database(stack.database_url)
    try:
        failing = WorkflowQueries(database).create_workflow(
            user.sub,
            "Nightly export (endpoint gone)",
            {"steps": [{"type": "http", "method": "POST", "url": f"{stack.api_url}/demo/export"}]},
        )["id"]
    finally:
        database.close()
    api = Caller(stack.api_url, user.token)
    created = {
        "0 7 * * MON-FRI": {
            "workflowId": str(user.workflow_id),
            "timezone": "Europe/Berlin",
            "note": "owner: ops team",
            "labels": {"team": "ops", "env": "prod"},
        },
        "30 2 * * *": {
            "workflowId": str(failing),
            "timezone": "America/New_York",
            "labels": {"team": "billing"},
        },
        "*/15 9-17 * * *": {
            "workflowId": str(user.workflow_id),
            "enabled": False,
            "note": "paused during the migration",
            "labels": {"env": "staging"},
        },
    }
    ids = {}
    for cron, fields in created.items():
        schedule = api.call("POST", "/api/schedules", {"cron": cron, **fields})
        ids[cron] = schedule["id"]
        if schedule["enabled"]:
            api.call("POST", f"/api/schedules/{schedule['id']}/run")
            api.finished_runs(schedule["id"], 1)
    return ids


def capture(page: Page, stack: Stack, out: Path) -> None:
    token = stack.users[0].token
    page.goto(f"{stack.api_url}/dashboard#access_token={token}")
    table = page.get_by_role("table")
    expect(table).to_contain_text("Failed")
    expect(page.get_by_role("status")).to_be_empty()  # the "Signed in." notice has gone
    page.screenshot(path=out / "schedules.png", full_page=True)

    page.get_by_role("link", name="30 2 * * *", exact=True).click()
    page.get_by_role("list", name="Runs, oldest first").get_by_role("button").first.click()
    details = page.get_by_role("region", name="Selected run")
    details.locator("summary").first.click()
    expect(details.locator(".step-error")).to_be_visible()
    page.screenshot(path=out / "schedule.png", full_page=True)


def capture_phone(page: Page, stack: Stack, out: Path) -> None:
    page.goto(f"{stack.api_url}/dashboard#access_token={stack.users[0].token}")
    expect(page.get_by_role("table")).to_contain_text("Failed")
    expect(page.get_by_role("status")).to_be_empty()
    page.screenshot(path=out / "schedules-phone.png", full_page=True)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    expect.set_options(timeout=WAIT_S * 1000)
    data_dir = Path(tempfile.mkdtemp(prefix="devstack-screenshots-"))
    stack = Stack(data_dir, port=0, poll_interval_s=0.5, missed_check_interval_s=None).start()
    try:
        seed(stack)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            for viewport, shoot in (
                ({"width": 1280, "height": 800}, capture),
                ({"width": 390, "height": 844}, capture_phone),
            ):
                context = browser.new_context(
                    viewport=viewport, locale="en-GB", color_scheme="light"
                )
                shoot(context.new_page(), stack, out)
                context.close()
            browser.close()
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"Screenshots written to {out}")


if __name__ == "__main__":
    main()
