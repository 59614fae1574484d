"""ApiFunction's dashboard: its page and its files (public, as in template.yaml), read from the
directory shipped beside this module (scheduler.api.dashboard serves them).
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Response
from scheduler.api import dashboard

if TYPE_CHECKING or __package__:  # functions.api.*; in Lambda, top-level (see routing)
    from functions.api.routing import app
else:
    from routing import app


# The dashboard's HTML, CSS and ES modules, shipped beside this module (functions/Makefile).
DASHBOARD_DIR = pathlib.Path(__file__).with_name("dashboard")


@app.get("/dashboard", include_in_schema=False)
def dashboard_page() -> Response[str]:
    return _dashboard_response(dashboard.page(DASHBOARD_DIR))


@app.get("/dashboard/<file_name>", include_in_schema=False)
def dashboard_asset(file_name: str) -> Response[str]:
    return _dashboard_response(dashboard.asset(DASHBOARD_DIR, file_name))


def _dashboard_response(found: dashboard.DashboardFile) -> Response[str]:
    return Response(
        status_code=200, content_type=found.content_type, body=found.body, headers=found.headers()
    )
