#!/usr/bin/env bash
# Installs headless Chromium for tests/test_html_report.py (the HTML report drawn by a real browser).
# Idempotent: does nothing when chromium is already there. Never fails the build: without chromium the
# browser test is skipped, and this script says so loudly.
set -u

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi

run_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

if command -v apt-get >/dev/null 2>&1 \
    && { run_as_root apt-get install -y -q chromium >/dev/null 2>&1 \
         || { run_as_root apt-get update -q >/dev/null 2>&1 \
              && run_as_root apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    && command -v chromium >/dev/null 2>&1; then
    echo "chromium-setup: installed $(chromium --version 2>/dev/null || echo chromium)"
    exit 0
fi

cat >&2 <<'WARNING'
################################################################################
# WARNING: could not install chromium (apt-get missing, no root/sudo, or no
# package). The headless-browser test of the HTML report WILL BE SKIPPED.
# Install it by hand (Debian/Ubuntu: apt-get install -y chromium) to run it.
################################################################################
WARNING
exit 0
