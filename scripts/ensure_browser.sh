#!/usr/bin/env bash
# Installs Debian's chromium (for the report's browser test) when missing.
# Playwright drives it with executable_path=/usr/bin/chromium; it never
# downloads a browser of its own. Needs root (CI is root) or sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing Debian's chromium (first run only)..." >&2
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
