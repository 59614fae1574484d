"""Print the OpenAPI document `GET /api/openapi.json` serves, from the code as it is now.

No AWS and no database: ApiFunction's handler is called in-process with the API Gateway (HTTP
API, payload v2.0) event of an anonymous request for that public route, and its body is
written to stdout byte for byte. clients/typescript/generate.sh turns it into TypeScript types.

    PYTHONPATH=layers/common:. .venv/bin/python tools/openapi_document.py > openapi.json

(A script, not `python -m tools....`: a dependency installs a `tools` package of its own.)
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

ROUTE = "/api/openapi.json"


def openapi_request() -> dict[str, Any]:
    """An anonymous GET of the document, as API Gateway hands it over (no authorizer ran)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": ROUTE,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "localhost"},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": ROUTE,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "tools/openapi_document.py",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def openapi_document() -> str:
    """The document's text, exactly as the route answers it."""
    from devstack.apigw import LambdaContext
    from functions.api.app import lambda_handler

    response = lambda_handler(openapi_request(), LambdaContext())
    if response["statusCode"] != 200:
        raise RuntimeError(f"{ROUTE} answered {response['statusCode']}: {response.get('body')}")
    body: str = response["body"]
    json.loads(body)  # the route promises JSON; anything else must not become a client's types
    return body


def main() -> None:
    document = sys.stdout
    # The app's logger writes to the stdout it finds when it is imported: send that to stderr,
    # so no log line can end up inside the document.
    sys.stdout = sys.stderr
    try:
        text = openapi_document()
    finally:
        sys.stdout = document
    document.write(text)


if __name__ == "__main__":
    main()
