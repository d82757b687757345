#!/usr/bin/env bash
# Sourced by the ensure_*venv.sh scripts: the one way this project creates a
# cached virtual environment. Needs only python3 on the machine.
#
#   ensure_cached_venv VENV KEY WHAT COMMAND [ARGS...]
#
# Does nothing when VENV/.installed-KEY exists. Otherwise creates VENV (with
# $PYTHON, default python3) if needed, upgrades pip, runs COMMAND ARGS (with
# VENV's python as $VENV_PYTHON) with its output in VENV/install.log, and on
# success leaves only the new stamp. On failure it prints the log's tail and
# returns 1.

venv_key() {  # sha1 (12 hex digits) of the named files' contents
  cat "$@" | sha1sum | cut -c1-12
}

ensure_cached_venv() {
  local venv="$1" key="$2" what="$3"
  shift 3
  local stamp="$venv/.installed-$key"
  [ -f "$stamp" ] && return 0
  echo "Setting up $venv ($what)..." >&2
  [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
  local log="$venv/install.log"
  export VENV_PYTHON="$venv/bin/python"
  if ! { "$VENV_PYTHON" -m pip install --upgrade "pip>=23" && "$@"; } \
      >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "Setting up $venv failed; full log: $log" >&2
    return 1
  fi
  rm -f "$venv"/.installed-*
  touch "$stamp"
}
