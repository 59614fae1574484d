"""The operations dashboard's files as ApiFunction serves them: static HTML, CSS and ES modules.

The files ship in ApiFunction's package (functions/api/dashboard/, copied by functions/Makefile)
and are read once per cold start. Only the files found there are served, by exact name, so no
request can name anything else. Their Content-Security-Policy allows nothing but this origin:
no inline script or style, no CDN; the data calls go to the API on the same origin with the
user's bearer token, which the page keeps in sessionStorage (never in a cookie or the URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scheduler.errors import NotFound

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load: a deploy's new files are picked up at once.
    "Cache-Control": "no-cache",
}


class DashboardFileNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"dashboard file {name[:100]!r} not found")


@dataclass(frozen=True)
class DashboardFile:
    content_type: str
    body: str

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **HEADERS}


@cache
def _files(directory: Path) -> dict[str, DashboardFile]:
    if not directory.is_dir():
        return {}
    return {
        path.name: DashboardFile(CONTENT_TYPES[path.suffix], path.read_text(encoding="utf-8"))
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def page(directory: Path) -> DashboardFile:
    """The dashboard's page (GET /dashboard)."""
    return asset(directory, INDEX, page=True)


def asset(directory: Path, name: str, *, page: bool = False) -> DashboardFile:
    """The file `name` of the dashboard in `directory` (GET /dashboard/{name});
    DashboardFileNotFound for any other, and for the page itself, whose relative links only
    resolve from /dashboard."""
    found = _files(directory).get(name)
    if found is None or (name == INDEX and not page):
        raise DashboardFileNotFound(name)
    return found
