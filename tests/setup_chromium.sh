#!/usr/bin/env bash
# Install headless Chromium for the browser test of the report (tests/test_report_browser.py):
# Debian's `chromium` package, when no chromium is on PATH. Needs root (apt-get); CI runs as root.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "setup_chromium.sh: needs root to apt-get install chromium" >&2; exit 2; }
echo "setup_chromium.sh: installing chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
