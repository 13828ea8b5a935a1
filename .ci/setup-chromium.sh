#!/usr/bin/env bash
# Headless Chromium + Playwright's Python API, for the report page's browser test
# (tests/core/report/test_browser.py). Debian 12, root. Idempotent: installs Debian's
# chromium only when /usr/lib/chromium/chromium is absent, and playwright only when the
# active python cannot import it. Playwright's own browser download is not used (no
# network but the package registries): the test launches the system executable.
# Usage: bash .ci/setup-chromium.sh      (about 40 s from scratch, < 1 s when present)
set -euo pipefail

CHROMIUM=/usr/lib/chromium/chromium
PYTHON=${PYTHON:-python3}

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup-chromium: must run as root to apt-get install chromium" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi

if ! "$PYTHON" -c "import playwright.sync_api" 2>/dev/null; then
    "$PYTHON" -m pip install -q playwright
fi

"$CHROMIUM" --version
"$PYTHON" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
