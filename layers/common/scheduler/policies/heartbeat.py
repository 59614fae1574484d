"""The periodic pass's ping to an outside watchdog (HeartbeatUrl, healthchecks.io style).

CloudWatch alarms live in the account they watch: a scheduler whose account, region or alarm
topic goes silent raises none. An outside watchdog expecting a ping every interval catches that.
The coordinator pings once per pass: the URL itself when the pass completed, the URL with `/fail`
appended when a part of it failed (healthchecks.io alerts at once on /fail, rather than after its
grace time). A ping never fails the pass: it is waited for PING_TIMEOUT_S at most, and a failure
is logged and counted (HeartbeatPingFailed). The URL holds the check's token (its
path, or a query): it is never logged whole, only its host.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.observability import logger, metrics

# How long the pass waits for the ping: a watchdog that hangs delays the pass's end by this much
# at most, never its work (the ping comes after it).
PING_TIMEOUT_S = 3.0


def ping_url(url: str, *, passed: bool) -> str:
    """The URL to GET: `url` for a pass that completed, `url` + "/fail" (before any query)
    for one that failed."""
    if passed:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def redacted(url: str) -> str:
    """What a log line may say of the URL: its scheme and host, not its token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def ping(url: str | None, *, passed: bool) -> bool:
    """GET the watchdog's URL for this pass; True when it answered 2xx. No URL: nothing.

    In a thread, waited for PING_TIMEOUT_S in all: urllib's timeout bounds each network
    operation, so a watchdog that trickles its answer a byte at a time could hold it far longer.
    A ping still in flight then is left to its own timeouts (a daemon thread)."""
    if not url:
        return False
    errors: list[Exception] = []
    thread = threading.Thread(target=_get, args=(url, passed, errors), daemon=True)
    thread.start()
    thread.join(PING_TIMEOUT_S)
    if thread.is_alive():
        errors.append(TimeoutError("no answer in time"))
    if not errors:
        return True
    logger.warning(
        "heartbeat ping failed; the pass itself is unaffected",
        extra={"heartbeat": redacted(url), "reason": _reason(errors[0]), "passed": passed},
    )
    metrics.add_metric(name="HeartbeatPingFailed", unit=MetricUnit.Count, value=1)
    return False


def _get(url: str, passed: bool, errors: list[Exception]) -> None:
    try:
        target = ping_url(url, passed=passed)
        if urlsplit(target).scheme not in ("http", "https"):  # urllib also opens file: and ftp:
            raise ValueError("not an http(s) URL")
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            target, headers={"User-Agent": "workflow-scheduler"}
        )
        with urllib.request.urlopen(request, timeout=PING_TIMEOUT_S) as answer:  # noqa: S310
            answer.read(1024)  # a short body ("OK"); the connection is then closed
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, refused, a bad URL
        errors.append(exc)


def _reason(exc: Exception) -> str:
    """Why a ping failed, without the URL: a ValueError's text ("unknown url type: ...") and
    some others quote it whole."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):  # the socket's error: refused, timed out, DNS
        return str(exc.reason)
    return type(exc).__name__
