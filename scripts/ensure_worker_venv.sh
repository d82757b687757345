#!/usr/bin/env bash
# Creates (or refreshes) ./.venv-worker the way docker/worker.Dockerfile
# builds the Dataflow worker image, without Docker (no engine runs here):
# the Dockerfile's COPY sources are copied into a staging folder and its
# `RUN pip install ...` line runs there in a fresh virtual environment.
# Cached: rebuilt only when the Dockerfile, setup.py or constraints change.
# Prints the venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILE="$ROOT/docker/worker.Dockerfile"
VENV="$ROOT/.venv-worker"
PY="${PYTHON:-python3}"
KEY="$(cat "$DOCKERFILE" "$ROOT/setup.py" "$ROOT/constraints.txt" "$0" \
       $(find "$ROOT/pipelines" "$ROOT/transforms" -name '*.py' | sort) \
       | sha1sum | cut -c1-12)"
STAMP="$VENV/.installed-$KEY"
if [ ! -f "$STAMP" ]; then
  echo "Setting up $VENV from $DOCKERFILE (a few minutes the first time)..." >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  STAGE="$VENV/context"
  mkdir -p "$STAGE"
  # COPY lines with plain sources (not ${ARG}s): the build context's files.
  grep -E '^COPY ' "$DOCKERFILE" | grep -v '\$' | while read -r _ args; do
    set -- $args
    dest="${!#}"
    for src in "${@:1:$#-1}"; do
      cp -r "$ROOT/$src" "$STAGE/"
    done
  done
  INSTALL="$(grep -E '^RUN pip install' "$DOCKERFILE" | sed 's/^RUN //')"
  LOG="$VENV/install.log"
  if ! (cd "$STAGE" && "$VENV/bin/python" -m pip install --upgrade "pip>=23" &&
        "$VENV/bin/python" -m $INSTALL) >"$LOG" 2>&1; then
    tail -40 "$LOG" >&2
    echo "Setting up $VENV failed; full log: $LOG" >&2
    exit 1
  fi
  touch "$STAMP"
fi
echo "$VENV/bin/python"
