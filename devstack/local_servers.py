"""The local stack's HTTP serving: a WSGI app on 127.0.0.1 in threads, an app set once the stack
is ready, and the gateway's port that sends /demo/* to the demo endpoint and the rest to the API."""

from __future__ import annotations

import logging
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from devstack.demo import DemoEndpoint

log = logging.getLogger("devstack")


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request still running never blocks the stop


class Server:
    """A WSGI app on 127.0.0.1, bound at once (a busy port fails early), served on start()."""

    def __init__(self, port: int, app: Any) -> None:
        self.httpd = make_server(
            "127.0.0.1", port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
        )
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()


class LateApp:
    """A WSGI app whose target is set once the rest of the stack is ready."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "served before the stack started"
        return self.app(environ, start_response)


class Router:
    """The gateway's port: /demo/* is the demo endpoint, everything else goes to the API."""

    def __init__(self, demo: DemoEndpoint) -> None:
        self.demo = demo
        self.api: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/demo/") or self.api is None:
            return self.demo(environ, start_response)
        return self.api(environ, start_response)
