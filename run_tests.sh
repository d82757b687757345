#!/usr/bin/env bash
# Sets up ./.venv if needed, type-checks the packages and runs the whole test
# suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
python -m mypy -p transforms -p pipelines -p benchmarks
exec python -m pytest tests "$@"
