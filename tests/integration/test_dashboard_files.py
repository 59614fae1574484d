"""The dashboard's files as ApiFunction serves them: public, typed, under a strict CSP.

Through the handler and through the local gateway (which routes the template's public routes
without the authorizer, as API Gateway does). The browser tests (tests/e2e/test_dashboard.py)
drive what these files do.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from devstack.apigw import WsgiGateway
from functions.api.app import DASHBOARD_DIR, PUBLIC_ROUTES, lambda_handler
from tests.integration.test_api import Api, api, eventbridge  # noqa: F401  (fixtures)
from tests.integration.test_template import template  # noqa: F401  (fixture)

SHIPPED = sorted(path.name for path in DASHBOARD_DIR.iterdir())


def _get(api: Api, path: str) -> dict[str, Any]:
    from devstack.apigw import LambdaContext

    response: dict[str, Any] = api.handler(api.event("GET", path, claims=None), LambdaContext())
    return response


def test_the_dashboard_is_html_es_modules_and_css_with_nothing_to_fetch_elsewhere() -> None:
    assert {"index.html", "app.js", "api.js", "style.css"} <= set(SHIPPED)
    for name in SHIPPED:
        text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        # The SVG namespace is a name, never fetched.
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "://" not in text, f"{name} names another origin"
        if name.endswith(".js"):
            assert text.startswith("// @ts-check\n"), f"{name} is not type-checked"


def test_the_page_and_every_file_are_public_with_their_type_and_a_self_only_policy(
    api: Api,
) -> None:
    page = _get(api, "/dashboard")

    assert page["statusCode"] == 200, page
    assert page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="dashboard/app.js">' in page["body"]
    policy = page["headers"]["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "unsafe" not in policy
    assert page["headers"]["X-Content-Type-Options"] == "nosniff"
    types = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
    for name in SHIPPED:
        if name == "index.html":
            continue
        response = _get(api, f"/dashboard/{name}")
        assert response["statusCode"] == 200, name
        assert response["headers"]["Content-Type"] == types[name[name.rindex(".") :]]
        assert response["headers"]["Content-Security-Policy"] == policy
        assert response["body"] == (DASHBOARD_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    ["/dashboard/nope.js", "/dashboard/index.html", "/dashboard/..%2Fapp.py", "/dashboard/app.py"],
)
def test_an_unknown_file_is_404_in_the_api_error_shape(api: Api, path: str) -> None:
    response = _get(api, path)

    assert response["statusCode"] == 404, response
    assert '"code":"not_found"' in response["body"].replace(" ", "")


def test_the_local_gateway_serves_the_dashboard_without_a_token(api: Api) -> None:
    client = Client(WsgiGateway(lambda_handler, lambda _: None, PUBLIC_ROUTES))

    page = client.get("/dashboard")
    module = client.get("/dashboard/app.js")
    icon = client.get("/dashboard/icon.svg")  # the page's icon (so no /favicon.ico, a 401)
    deeper = client.get("/dashboard/a/app.js")  # no such route is public
    data = client.get("/api/schedules")

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert module.status_code == 200
    assert module.headers["Content-Type"].startswith("text/javascript")
    assert (icon.status_code, icon.headers["Content-Type"]) == (200, "image/svg+xml")
    assert '<link rel="icon" href="dashboard/icon.svg"' in page.get_data(as_text=True)
    assert (deeper.status_code, data.status_code) == (401, 401)


def test_the_template_routes_exactly_the_public_routes_without_the_authorizer(
    template: dict[str, Any],
) -> None:
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
    public = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for event in events.values()
        if event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
    }

    assert public == set(PUBLIC_ROUTES)
