"""What a newcomer gets to play with: two demo users with tokens, a workflow each, and the
HTTP endpoint those workflows call (so a run visibly does something: `GET /demo/hits`)."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import jwt
from scheduler.steps.definitions import with_loaded_definition

if TYPE_CHECKING:
    from scheduler.store.api_keys import ApiKeyQueries
    from scheduler.store.workflows import WorkflowQueries

DEMO_WORKFLOW_NAME = "Demo: ping the local stack"
DEMO_SERVICE_KEY_NAME = "make run: demo service key"
TOKEN_TTL = timedelta(days=1)
ISSUER = "https://devstack.local/auth/v1"
_SLOW_HOLD_MAX_S = 60.0  # a held /demo/slow call gives up after this, so nothing hangs forever
_KEPT_HITS = 200
_DEMO_HOOK_URL = re.compile(r"http://127\.0\.0\.1:\d+/demo/hook")


@dataclass(frozen=True)
class DemoUser:
    sub: UUID
    name: str


DEMO_USERS = (
    DemoUser(UUID("11111111-1111-4111-8111-111111111111"), "demo-user-1"),
    DemoUser(UUID("22222222-2222-4222-8222-222222222222"), "demo-user-2"),
)


def load_or_create_secret(path: Path) -> str:
    """The HS256 signing secret of the stack, generated once into a file only we can read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    with path.open("x", encoding="utf-8") as handle:
        path.chmod(0o600)
        handle.write(secret)
    return secret


def sign_token(secret: str, *, role: str, sub: UUID | None = None) -> str:
    """A Supabase-shaped access token (HS256), valid for a day."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"role": role, "iat": now, "exp": now + TOKEN_TTL}
    if role == "service_role":
        claims["iss"] = "supabase"  # Supabase's service_role key: no audience, no subject
    else:
        claims.update(sub=str(sub), aud="authenticated", iss=ISSUER)
    return jwt.encode(claims, secret, algorithm="HS256")


def demo_definition(hook_url: str, user: DemoUser) -> dict[str, Any]:
    body = {"demoUser": user.name, "message": "hello from a scheduled workflow"}
    return {"steps": [{"type": "http", "method": "POST", "url": hook_url, "body": body}]}


def _is_demo_definition(definition: Any, user: DemoUser) -> bool:
    """A definition this module wrote for `user`, whatever port its hook URL names."""
    try:
        url = definition["steps"][0]["url"]
    except (KeyError, IndexError, TypeError):
        return False
    return (
        isinstance(url, str)
        and _DEMO_HOOK_URL.fullmatch(url) is not None
        and definition == demo_definition(url, user)
    )


def _all_workflows(workflows: WorkflowQueries, owner: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while page := workflows.list_workflows(
        owner, limit=100, after=(rows[-1]["created_at"], rows[-1]["id"]) if rows else None
    ):
        rows.extend(page)
    return [with_loaded_definition(row) for row in rows]


def ensure_demo_workflow(workflows: WorkflowQueries, user: DemoUser, hook_url: str) -> UUID:
    """The user's demo workflow calling `hook_url`, created if the user has none.

    Its http step calls the stack's own port, so a start on another PORT points every demo
    workflow of the user at the new one (their schedules keep working); a workflow this module
    did not write (another name, an edited definition) is never touched. The oldest demo
    workflow is the one returned: the same across restarts.
    """
    definition = demo_definition(hook_url, user)
    demos = [
        row
        for row in _all_workflows(workflows, user.sub)
        if row["name"] == DEMO_WORKFLOW_NAME and _is_demo_definition(row["definition"], user)
    ]
    for row in demos:
        if row["definition"] != definition:
            workflows.set_workflow_definition(UUID(str(row["id"])), definition)
    if demos:
        return UUID(str(demos[-1]["id"]))  # listed newest first
    created = workflows.create_workflow(user.sub, DEMO_WORKFLOW_NAME, definition)
    return UUID(str(created["id"]))


class DemoEndpoint:
    """WSGI app under /demo: the hook workflows call, a slow variant, and the hit list.

    `POST /demo/hook` answers at once; `POST /demo/slow` answers when `release_slow()` is
    called (or after a minute), so a run stays busy as long as a test needs; `GET /demo/hits`
    shows what arrived, newest last; `GET /demo/heartbeat`, the stack's heartbeats.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._hits: deque[dict[str, Any]] = deque(maxlen=_KEPT_HITS)
        self._total = 0
        self._slow_gate = threading.Event()
        self._slow_gate.set()
        # GET /demo/heartbeat: the stack's heartbeats (devstack.heartbeats), once it has them
        self.heartbeat: Callable[[], dict[str, Any]] | None = None

    # --- for tests

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    def hits(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [hit for hit in self._hits if path is None or hit["path"] == path]

    def wait_for_hit(
        self, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
    ) -> None:
        """Wait until a hit for which `matches` is true has arrived."""
        with self._lock:
            if not self._lock.wait_for(lambda: any(matches(h) for h in self._hits), timeout_s):
                raise TimeoutError("the expected demo hit did not arrive")

    def hold_slow(self) -> None:
        self._slow_gate.clear()

    def release_slow(self) -> None:
        self._slow_gate.set()

    # --- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if method == "GET" and path == "/demo/hits":
            with self._lock:
                body = {"total": self._total, "hits": list(self._hits)}
            return _json(start_response, HTTPStatus.OK, body)
        if method == "GET" and path == "/demo/heartbeat" and self.heartbeat is not None:
            return _json(start_response, HTTPStatus.OK, self.heartbeat())
        if method == "POST" and path in ("/demo/hook", "/demo/slow"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length > 0 else b""
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            with self._lock:
                self._total += 1
                hit = {
                    "n": self._total,
                    "path": path,
                    "at": _now_text(),
                    "scheduledTime": environ.get("HTTP_X_SCHEDULED_TIME"),
                    "runId": environ.get("HTTP_X_WORKFLOW_RUN_ID"),
                    "body": payload,
                }
                self._hits.append(hit)
                self._lock.notify_all()
            if path == "/demo/slow":
                self._slow_gate.wait(_SLOW_HOLD_MAX_S)
            return _json(start_response, HTTPStatus.OK, {"ok": True, "hit": hit["n"]})
        return _json(start_response, HTTPStatus.NOT_FOUND, {"message": "Not Found"})


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(start_response: Any, status: HTTPStatus, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def ensure_demo_service_key(keys: ApiKeyQueries, previous: str | None) -> str:
    """A service key for every tenant, as a backend would hold: the one the last start printed
    while it still works (so a script keeps its key across restarts), else a new one."""
    # Here, not at the top: they configure logging from the environment the stack sets first.
    from scheduler.auth import api_keys, key_service
    from scheduler.errors import Unauthorized
    from scheduler.models.api_keys import ApiKeyCreate

    presented = api_keys.presented(previous or "")
    if presented is not None:
        try:
            key_service.authenticate(keys, presented)
            return str(previous)
        except Unauthorized:
            pass
    request = ApiKeyCreate(name=DEMO_SERVICE_KEY_NAME)
    return key_service.issue_key(keys, request, created_by="operator:make-run").key
