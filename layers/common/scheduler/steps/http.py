"""The workflow `http` step: one request to a vetted address, one deadline for all of it.

A header value may be a secret reference (`SecretRef`), read at run time from Secrets Manager.
The address connected to is the one checked (public unless private targets are allowed), and one
wall-clock deadline bounds resolving, connecting, TLS, sending and reading.

What a run stores and logs never holds a header value or a URL's path and query: a step's
error is built from parts known to be safe (step, method, host, status code, exception class,
a secret's name), never from an exception's text, which may quote what was sent or received.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, field_validator

from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.errors import SecretUnavailable, StepFailed, WorkflowSecretError
from scheduler.steps.definitions import check_headers, header_value_problem
from scheduler.steps.engine import RunContext, StepModel, register_step
from scheduler.steps.placeholders import (
    check_url_template,
    has_placeholder,
    substitute_json,
    substitute_text,
    substitute_url,
)
from scheduler.steps.secrets import workflow_secrets

_MAX_BODY_CHARS = 2000
_SEND_CHUNK = 64 * 1024
# A header value this long or longer is masked in a response body kept in the run's output.
_MIN_MASKED_CHARS = 8
_MASK = "[redacted]"
# spaces, control characters: http.client's InvalidURL would quote the URL
_URL_UNSENDABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class SecretRef(StepModel):
    """A header value read at run time from the Secrets Manager secret `secretRef` (the whole
    string, or with `jsonKey` that key of the JSON object it holds)."""

    secret_ref: str = Field(alias="secretRef")
    json_key: str | None = Field(default=None, alias="jsonKey")

    def describe(self) -> str:
        key = f" key '{self.json_key}'" if self.json_key is not None else ""
        return f"secret '{self.secret_ref}'{key}"


class HttpStep(StepModel):
    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    url: str = Field(max_length=2048)
    # names and values checked by definitions.check_headers; a value is a string or a SecretRef
    headers: dict[str, str | SecretRef] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: float | None = Field(default=None, alias="timeoutSeconds", gt=0, le=300)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("headers", mode="before")
    @classmethod
    def _sendable_headers(cls, value: Any) -> Any:
        settings = get_settings()
        own_secrets = (settings.database_secret_name, settings.jwt_secret_name)
        protected = {name for name in own_secrets if name}
        check_headers(
            value, secret_prefix=settings.workflow_secret_prefix, protected_secrets=protected
        )
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if _URL_UNSENDABLE.search(value):
            raise ValueError("url must not contain spaces or control characters (percent-encode)")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            raise ValueError("url is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http or https URL")
        if "@" in parts.netloc:
            raise ValueError(
                "url must not contain user:password@ (send credentials in a header, which may"
                " come from a secretRef)"
            )
        if not f"{parts.path}?{parts.query}".isascii():
            raise ValueError("url path and query must be ASCII (percent-encode other characters)")
        check_url_template(value)
        return value

    def secret_refs(self) -> list[SecretRef]:
        return [value for value in self.headers.values() if isinstance(value, SecretRef)]

    def has_placeholders(self) -> bool:
        texts = [self.url, json.dumps(self.body)]
        texts += [value for value in self.headers.values() if isinstance(value, str)]
        return any(has_placeholder(text) for text in texts)


@register_step("http", HttpStep)
def execute_http_step(step: HttpStep, run: RunContext) -> dict[str, Any]:
    """Send the request; a non-2xx status is a failure. Redirects are not followed.

    One wall-clock bound covers the whole exchange (resolve, connect, TLS, send, read): a
    socket timeout alone bounds each read, and a server sending a byte at a time never trips it.
    Failures name the method and host only, never the URL's path or query, nor a header.
    The schedule's values replace the placeholders of the URL, header values and body first
    (scheduler.steps.placeholders).
    """
    parts = urlsplit(substitute_url(step.url, run))
    host = parts.hostname or ""
    target = f"{step.method} {host}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    given = request_headers(step, run)  # read before the first step, so mostly cached here
    # never past the run's deadline: a run the Lambda timeout cuts off records nothing
    timeout = min(step.timeout_seconds or get_settings().http_step_timeout_s, run.remaining_s())
    if timeout <= 0:
        raise StepFailed("not started: the run's time ran out")
    deadline = time.monotonic() + timeout
    own = {
        "X-Workflow-Run-Id": str(run.run_id),
        "X-Scheduled-Time": iso_utc(run.scheduled_time),
        "User-Agent": "workflow-scheduler",
    }
    body: bytes | None = None
    if step.body is not None:
        body = json.dumps(substitute_json(step.body, run)).encode()
        own["Content-Type"] = "application/json"
    # the step's own headers win, whatever case the definition spells them in
    ours = {name.lower() for name in own}
    headers = {name: value for name, value in given.items() if name.lower() not in ours} | own
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    connection: http.client.HTTPConnection | None = None
    try:
        address = _permitted_address(host, port, deadline)
        connection = connection_class(host, port, address=address, deadline=deadline)
        connection.request(step.method, path, body=body, headers=headers)
        response = connection.getresponse()
        # read past the kept length, so that a value cut at its end is still masked
        raw = response.read(_MAX_BODY_CHARS + max(map(len, given.values()), default=0) + 2048)
    except StepFailed:
        raise
    except TimeoutError:
        raise StepFailed(f"{target}: timed out after {timeout:g}s") from None
    except ConnectionRefusedError:
        raise StepFailed(f"{target}: connection refused") from None
    except (OSError, http.client.HTTPException) as exc:
        raise StepFailed(f"{target}: {_describe(exc)}") from None
    except Exception as exc:  # e.g. http.client's ValueError, which quotes what it refused
        raise StepFailed(f"{target}: request not sent ({type(exc).__name__})") from None
    finally:
        if connection is not None:
            connection.close()
    if not 200 <= response.status < 300:
        raise StepFailed(f"{target}: HTTP {response.status}")
    # an endpoint may echo what it was sent: the step's header values and query values
    query = [part.partition("=")[2] for part in parts.query.split("&")]
    query += [value for _, value in parse_qsl(parts.query)]
    text = _masked(raw.decode("utf-8", errors="replace"), [*given.values(), *query])
    return {"status": response.status, "body": text[:_MAX_BODY_CHARS]}


def check_request(step: HttpStep, run: RunContext) -> None:
    """StepFailed if the request cannot be built: a secret it names cannot be read, or one of
    its placeholders has no value or gives a value that cannot be sent where it stands."""
    request_headers(step, run)
    substitute_url(step.url, run)
    substitute_json(step.body, run)


def request_headers(step: HttpStep, run: RunContext) -> dict[str, str]:
    """The step's headers with each secret reference replaced by the secret's value and the
    placeholders of each other value by the schedule's values.

    StepFailed names the header and the secret or placeholder, never a value: a secret that
    cannot be read, or a value that cannot be sent as a header, fails the run but leaves the
    schedule enabled.
    """
    headers: dict[str, str] = {}
    for name, value in step.headers.items():
        if isinstance(value, SecretRef):
            value = _secret_value(name, value, run)
        elif has_placeholder(value):
            value = _substituted_value(name, value, run)
        headers[name] = value
    return headers


def _substituted_value(header: str, value: str, run: RunContext) -> str:
    try:
        value = substitute_text(value, run)
    except StepFailed as exc:
        raise StepFailed(f"header '{header}': {exc}") from None
    problem = header_value_problem(value)
    if problem is not None:
        raise StepFailed(f"header '{header}': with its placeholders replaced, the value {problem}")
    return value


def _secret_value(header: str, ref: SecretRef, run: RunContext) -> str:
    wait_s = run.remaining_s()
    if wait_s <= 0:
        raise StepFailed("not started: the run's time ran out")
    try:
        value = workflow_secrets().value(ref.secret_ref, ref.json_key, wait_s=wait_s)
    except (WorkflowSecretError, SecretUnavailable) as exc:
        raise StepFailed(f"header '{header}': {exc}") from None
    problem = header_value_problem(value)
    if problem is not None:
        raise StepFailed(f"header '{header}': the value of {ref.describe()} {problem}")
    return value


def _describe(exc: BaseException) -> str:
    """An OS, TLS or HTTP failure in words that cannot quote what was sent or received: its
    class, and the OS's or OpenSSL's own reason (http.client's exceptions quote the server)."""
    name = type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"{name}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{name}: {exc.reason}"
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and isinstance(exc.strerror, str):
        return f"{name}: {exc.strerror[:100]}"
    return name


def _masked(text: str, values: list[str]) -> str:
    """`text` with each of `values` (and each word of one) masked, if long enough to be a
    credential."""
    words = {word for value in values for word in (value, *value.split())}
    for word in sorted((w for w in words if len(w) >= _MIN_MASKED_CHARS), key=len, reverse=True):
        text = text.replace(word, _MASK)
    return text


def _time_left(deadline: float) -> float:
    """What is left until `deadline` (time.monotonic()) for the next blocking call."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the step's deadline passed")
    return left


def _permitted_address(host: str, port: int, deadline: float) -> str:
    """The IP to connect to; StepFailed if it is private and private targets are not allowed.

    The check is on the address actually connected to, so DNS rebinding cannot slip past it.
    """
    try:
        infos = _resolve(host, port, _time_left(deadline))
    except TimeoutError:  # the step's deadline: the caller says so
        raise
    except OSError as exc:
        raise StepFailed(f"cannot resolve {host}: {_describe(exc)}") from None
    address = str(infos[0][4][0])
    if (
        not get_settings().allow_private_http_targets
        and not ipaddress.ip_address(address).is_global
    ):
        raise StepFailed(f"refused: {host} resolves to non-public address {address}")
    return address


def _resolve(host: str, port: int, timeout: float) -> list[Any]:
    """socket.getaddrinfo within `timeout`.

    getaddrinfo has no timeout of its own, so a daemon thread asks and we stop waiting: a hung
    resolver costs a parked thread until the system resolver gives up, not the run.
    """
    answer: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def ask() -> None:
        try:
            answer.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # handed to the caller, raised there
            answer.put(exc)

    threading.Thread(target=ask, name=f"resolve {host}", daemon=True).start()
    try:
        result = answer.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"resolving {host}") from None
    if isinstance(result, Exception):
        raise result
    return result


class _DeadlineSocket:
    """A connected socket whose every send and read gets only what is left before `deadline`.

    All http.client asks of its socket is sendall, makefile("rb") and close.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def arm(self) -> None:
        self._sock.settimeout(_time_left(self._deadline))

    def sendall(self, data: bytes) -> None:
        # in chunks, each armed: the timeout of one send is not the step's whole budget
        view = memoryview(data).cast("B")
        while view:
            self.arm()
            sent = self._sock.send(view[:_SEND_CHUNK])
            view = view[sent:]

    def makefile(self, mode: str) -> io.BufferedReader:
        # the socket's own raw file underneath: it keeps the socket open until the response is
        # read, even after http.client closes the connection (it does when the server will)
        return io.BufferedReader(_ArmedReader(self._sock.makefile("rb", buffering=0), self.arm))

    def close(self) -> None:
        self._sock.close()


class _ArmedReader(io.RawIOBase):
    """A raw socket file that arms the socket's timeout before each read."""

    def __init__(self, raw: socket.SocketIO, arm: Callable[[], None]) -> None:
        self._raw = raw
        self._arm = arm

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._arm()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a vetted IP while the Host header keeps the URL's host name."""

    def __init__(self, host: str, port: int, *, address: str, deadline: float) -> None:
        super().__init__(host, port)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), _time_left(self._deadline))
        self.sock = _DeadlineSocket(sock, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the URL's host name (SNI and certificate)."""

    def __init__(self, host: str, port: int, *, address: str, deadline: float) -> None:
        super().__init__(host, port, context=ssl.create_default_context())
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), _time_left(self._deadline))
        # CPython bounds the whole handshake by the socket's timeout, so arming it once suffices
        sock.settimeout(_time_left(self._deadline))
        tls = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
        self.sock = _DeadlineSocket(tls, self._deadline)
