#!/usr/bin/env bash
# Runs openapi_check.py with its validators: the ones installed if they
# import, else a virtualenv under target/ with them installed from PyPI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py=python3
if ! python3 -c "import jsonschema, referencing, openapi_spec_validator" 2>/dev/null; then
  venv="$here/../../target/openapi-venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet "jsonschema>=4.18" "openapi-spec-validator>=0.7" >&2
  py="$venv/bin/python"
fi
exec "$py" "$here/openapi_check.py" "$@"
