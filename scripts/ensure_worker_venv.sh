#!/usr/bin/env bash
# Creates (or refreshes) ./.venv-worker the way docker/worker.Dockerfile
# builds the Dataflow worker image, without Docker (no engine runs here):
# the Dockerfile's COPY sources are copied into a staging folder and its
# `RUN pip install ...` line runs there in a fresh virtual environment.
# Rebuilt from scratch when the Dockerfile, setup.py or constraints change;
# when only the project's code changes, the project alone is reinstalled
# from a fresh copy (same install line, --no-deps). Prints the venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/venv_lib.sh"
DOCKERFILE="$ROOT/docker/worker.Dockerfile"
VENV="$ROOT/.venv-worker"
DEPS_KEY="$(venv_key "$DOCKERFILE" "$ROOT/setup.py" "$ROOT/constraints.txt" \
            "$ROOT/scripts/ensure_worker_venv.sh")"
CODE_KEY="$(venv_key $(find "$ROOT/pipelines" "$ROOT/transforms" -name '*.py' \
                       | sort))"

_stage_context() {  # the Dockerfile's plain COPY sources, into $VENV/context
  local stage="$VENV/context"
  rm -rf "$stage"
  mkdir -p "$stage"
  grep -E '^COPY ' "$DOCKERFILE" | grep -v '\$' | while read -r _ args; do
    set -- $args
    for src in "${@:1:$#-1}"; do
      cp -r "$ROOT/$src" "$stage/"
    done
  done
}

_install_line() {
  grep -E '^RUN pip install' "$DOCKERFILE" | sed 's/^RUN //'
}

_install_image() {
  _stage_context
  (cd "$VENV/context" && "$VENV_PYTHON" -m $(_install_line))
}

_reinstall_code() {
  _stage_context
  (cd "$VENV/context" &&
   "$VENV_PYTHON" -m $(_install_line) --no-deps --force-reinstall)
}

if [ ! -f "$VENV/.installed-$DEPS_KEY" ]; then
  rm -rf "$VENV"
  ensure_cached_venv "$VENV" "$DEPS_KEY" \
    "from $DOCKERFILE; a few minutes the first time" _install_image >&2
  touch "$VENV/.code-$CODE_KEY"
elif [ ! -f "$VENV/.code-$CODE_KEY" ]; then
  echo "Reinstalling the project into $VENV (code changed)..." >&2
  if ! (VENV_PYTHON="$VENV/bin/python" _reinstall_code) \
      >"$VENV/install-code.log" 2>&1; then
    tail -40 "$VENV/install-code.log" >&2
    exit 1
  fi
  rm -f "$VENV"/.code-*
  touch "$VENV/.code-$CODE_KEY"
fi
echo "$VENV/bin/python"
