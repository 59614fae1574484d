"""A loopback JWKS endpoint, like Supabase's /auth/v1/.well-known/jwks.json, for token tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


def public_jwk(private_key: Any, kid: str, **fields: Any) -> dict[str, Any]:
    """The JWK Supabase would publish for `private_key` (an EC P-256 or RSA key)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk, alg = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()), "ES256"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        jwk, alg = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()), "RS256"
    else:
        raise TypeError(type(private_key))
    return {**json.loads(jwk), "kid": kid, "alg": alg, "use": "sig", **fields}


@dataclass
class JwksEndpoint:
    url: str
    keys: list[dict[str, Any]]  # what the endpoint publishes; tests may replace it (rotation)
    requests: list[str] = field(default_factory=list)
    status: int = 200  # anything else: the endpoint is failing (an auth service outage)


@contextmanager
def serve_jwks(keys: list[dict[str, Any]]) -> Iterator[JwksEndpoint]:
    endpoint = JwksEndpoint(url="", keys=keys)

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.requests.append(self.path)
            if endpoint.status != 200:
                self.send_error(endpoint.status)
                return
            body = json.dumps({"keys": endpoint.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    endpoint.url = f"http://127.0.0.1:{server.server_port}{JWKS_PATH}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
