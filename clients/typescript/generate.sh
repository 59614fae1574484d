#!/usr/bin/env sh
# Regenerates the API's TypeScript types (src/api.d.ts, or the file given as $1) from the
# OpenAPI document the current code serves: tools/openapi_document.py prints it (in-process,
# no AWS), openapi-typescript turns it into types. Needs the repository's .venv (make run or
# make test set it up; PYTHON overrides it) and node_modules (npm ci here). `make types` runs it.
#
# --default-non-nullable false: a field with a default stays optional, as the document says
# (`enabled`, `timezone`, `flexibleWindowMinutes` of a create may be left out); openapi-typescript
# would otherwise make every such field required, in request bodies too.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
out=${1:-$here/src/api.d.ts}
document=$(mktemp "${TMPDIR:-/tmp}/openapi.XXXXXX")
trap 'rm -f "$document"' EXIT
(cd "$root" && PYTHONPATH=layers/common:. "$python" tools/openapi_document.py) >"$document"
"$here/node_modules/.bin/openapi-typescript" "$document" --output "$out" --default-non-nullable false
