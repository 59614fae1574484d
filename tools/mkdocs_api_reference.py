"""MkDocs hook: the docs site's API reference page, rendered from the API's own OpenAPI document.

At every build (`make docs`, `make docs-build`) `tools/openapi_document.py` produces the document
`GET /api/openapi.json` answers, by calling ApiFunction's handler in-process (no AWS, no server,
no database), and this hook turns its operations and schemas into Markdown as the page
`api-reference.md`. The page exists only in the build: nothing generated is committed, so it
cannot drift from the code. The rendering is deterministic (operations by path, then method;
schemas by name), so the same code gives the same page.

mkdocs.yml names this file under `hooks:`; MkDocs puts this folder on `sys.path` while it loads
the hook, which is how `openapi_document` is found (the Makefile's PYTHONPATH supplies the
`scheduler` package and `functions`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGE = "api-reference.md"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")

with contextlib.redirect_stdout(sys.stderr):
    # The app's logger writes to the stdout it finds at import: keep it off the build's output.
    from openapi_document import openapi_document


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated page to the site's files, so the nav and links can name it."""
    with contextlib.redirect_stdout(sys.stderr):
        document = json.loads(openapi_document())
    files.append(File.generated(config, PAGE, content=render(document)))
    return files


def render(document: dict[str, Any]) -> str:
    info = document["info"]
    lines = [
        "# API reference",
        "",
        f"**{info['title']}**, version {info['version']}, OpenAPI {document['openapi']}.",
        "",
        "!!! note",
        "    Generated when the site is built, from the OpenAPI document the API serves",
        "    (`GET /api/openapi.json`; `tools/openapi_document.py` prints it from the code as it",
        "    is). The running API also serves it interactively at `/api/docs`. For what the routes",
        "    mean together, see [The API](api.md).",
        "",
        _markdown(info.get("description", "")),
        "",
    ]
    lines += _security(document)
    lines += _operations(document)
    lines += _schemas(document)
    return "\n".join(lines).rstrip() + "\n"


def _security(document: dict[str, Any]) -> list[str]:
    schemes = document.get("components", {}).get("securitySchemes", {})
    if not schemes:
        return []
    lines = ["## Authentication", "", "| Scheme | Type | Description |", "|---|---|---|"]
    for name, scheme in schemes.items():
        kind = " ".join(
            str(scheme.get(k)) for k in ("type", "scheme", "bearerFormat") if k in scheme
        )
        lines.append(f"| `{name}` | {kind} | {_cell(scheme.get('description', ''))} |")
    required = [" + ".join(f"`{n}`" for n in option) for option in document.get("security", [])]
    if required:
        lines += ["", f"Every operation accepts any one of: {', '.join(required)}."]
    return [*lines, ""]


def _sorted_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHOD_ORDER
    ]
    return sorted(found, key=lambda f: (f[0], METHOD_ORDER.index(f[1])))


def _operation_anchor(operation: dict[str, Any], method: str, path: str) -> str:
    name = operation.get("operationId") or f"{method}-{path}"
    return "op-" + "".join(c if c.isalnum() else "-" for c in name.lower())


def _operations(document: dict[str, Any]) -> list[str]:
    operations = _sorted_operations(document)
    lines = ["## Operations", "", "| Operation | Route | Summary |", "|---|---|---|"]
    for path, method, operation in operations:
        anchor = _operation_anchor(operation, method, path)
        name = operation.get("operationId", "")
        summary = _cell(operation.get("summary", ""))
        lines.append(f"| [`{name}`](#{anchor}) | `{method.upper()} {path}` | {summary} |")
    lines.append("")
    for path, method, operation in operations:
        lines += _operation(path, method, operation, document)
    return lines


def _operation(
    path: str, method: str, operation: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    anchor = _operation_anchor(operation, method, path)
    title = operation.get("operationId") or f"{method.upper()} {path}"
    lines = [f"### {title} {{ #{anchor} }}", "", f"`{method.upper()} {path}`", ""]
    for key in ("summary", "description"):
        if operation.get(key):
            lines += [_markdown(operation[key]), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| Parameter | In | Type | Required | Description |", "|---|---|---|---|---|"]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            description = parameter.get("description") or schema.get("description", "")
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)} "
                f"| {'yes' if parameter.get('required') else 'no'} "
                f"| {_cell(_described(description, schema))} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        required = "required" if body.get("required") else "optional"
        for media, content in body.get("content", {}).items():
            lines += [
                f"Request body ({required}, `{media}`): {_type(content.get('schema', {}))}",
                "",
            ]
    lines += ["| Status | Description | Body |", "|---|---|---|"]
    for status, response in sorted(operation.get("responses", {}).items()):
        bodies = " or ".join(
            _type(c.get("schema", {})) for c in response.get("content", {}).values()
        )
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {bodies or '—'} |")
    lines.append("")
    links = [
        (status, name, link)
        for status, response in sorted(operation.get("responses", {}).items())
        for name, link in response.get("links", {}).items()
    ]
    if links:
        by_id = {
            op.get("operationId"): _operation_anchor(op, m, p)
            for p, m, op in _sorted_operations(document)
        }
        lines.append("Links from the answer:")
        lines.append("")
        for status, name, link in links:
            target = link.get("operationId", "")
            parameters = ", ".join(f"`{k}` = `{v}`" for k, v in link.get("parameters", {}).items())
            reference = f"[`{target}`](#{by_id[target]})" if target in by_id else f"`{target}`"
            lines.append(f"- {status} → {reference} ({name}): {parameters}")
        lines.append("")
    return lines


def _schemas(document: dict[str, Any]) -> list[str]:
    schemas = document.get("components", {}).get("schemas", {})
    lines = ["## Schemas", ""]
    for name in sorted(schemas):
        schema = schemas[name]
        lines += [f"### {name} {{ #{_schema_anchor(name)} }}", ""]
        if schema.get("description"):
            lines += [_markdown(schema["description"]), ""]
        properties = schema.get("properties")
        if not properties:
            lines += [f"Type: {_type({k: v for k, v in schema.items() if k != 'title'})}", ""]
            continue
        required = set(schema.get("required", []))
        lines += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
        for field, field_schema in properties.items():
            description = _described(field_schema.get("description", ""), field_schema)
            lines.append(
                f"| `{field}` | {_type(field_schema)} | {'yes' if field in required else 'no'} "
                f"| {_cell(description)} |"
            )
        if schema.get("additionalProperties") is False:
            lines += ["", "No other field is accepted."]
        lines.append("")
    return lines


def _schema_anchor(name: str) -> str:
    return "schema-" + name.lower()


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short, readable type: links for references, `or` for alternatives."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_schema_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key])
    if "allOf" in schema:
        return " and ".join(_type(s) for s in schema["allOf"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"object of {_type(schema['additionalProperties'])}"
    else:
        text = f"{kind} ({schema['format']})" if "format" in schema else str(kind)
    return text + _constraints(schema)


def _constraints(schema: dict[str, Any]) -> str:
    words = {
        "minLength": "min length",
        "maxLength": "max length",
        "minimum": "≥",
        "maximum": "≤",
        "minItems": "min items",
        "maxItems": "max items",
        "minProperties": "min fields",
        "pattern": "pattern",
    }
    found = [f"{word} {_number(schema[key])}" for key, word in words.items() if key in schema]
    return f", {', '.join(found)}" if found else ""


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"`{value}`" if isinstance(value, str) else str(value)


def _described(description: str, schema: dict[str, Any]) -> str:
    """A field's description with its default and examples, as the document gives them."""
    parts = [description.strip()] if description.strip() else []
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    if schema.get("examples"):
        parts.append("example " + ", ".join(f"`{json.dumps(e)}`" for e in schema["examples"]))
    return "; ".join(parts)


def _markdown(text: str) -> str:
    """A description as Markdown: a list right under a line of text gets the blank line
    Python-Markdown needs to see it as a list (the document's descriptions are written without)."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if line.startswith("- ") and lines and lines[-1].strip() and not lines[-1].startswith("- "):
            lines.append("")
        lines.append(line)
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
