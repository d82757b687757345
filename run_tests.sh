#!/usr/bin/env bash
# Sets up ./.venv if needed and runs the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec python -m pytest tests "$@"
