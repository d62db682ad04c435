#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/test_web.py), from Debian's packages — never Playwright's
# own browser downloads, which a closed network refuses.
#   scripts/browser.sh          # install chromium + chromium-driver with apt if /usr/bin/chromium is missing
#   scripts/browser.sh path     # print the browser's path (exit 1 if it is not installed)
# Idempotent and quiet: prints nothing when the browser is already there. Needs root (CI runs as root).
set -euo pipefail

BROWSER="${SALESPLAN_CHROMIUM:-/usr/bin/chromium}"
LOCK="/tmp/salesplan-browser.lock"

log() { echo "browser.sh: $*" >&2; }
die() { log "$*"; exit 1; }

if [[ "${1:-install}" == path ]]; then
    [[ -x "$BROWSER" ]] || die "$BROWSER is not installed: run scripts/browser.sh (as root)"
    echo "$BROWSER"
    exit 0
fi

[[ -x "$BROWSER" ]] && exit 0
[[ "$(id -u)" == 0 ]] || die "$BROWSER is missing and we are not root: install Debian's 'chromium' and 'chromium-driver'"
command -v apt-get >/dev/null 2>&1 || die "$BROWSER is missing and apt-get is unavailable"

# One installer at a time (parallel pytest workers may all call this).
exec 9>"$LOCK"
flock 9
[[ -x "$BROWSER" ]] && exit 0

log "installing chromium and chromium-driver with apt-get (once)…"
export DEBIAN_FRONTEND=noninteractive
rc=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation; } \
    >/tmp/salesplan-browser-apt.log 2>&1 || rc=$?
if [[ $rc != 0 ]]; then
    tail -n 20 /tmp/salesplan-browser-apt.log >&2
    die "apt-get install chromium failed (exit $rc); full log in /tmp/salesplan-browser-apt.log"
fi
[[ -x "$BROWSER" ]] || die "apt-get finished but $BROWSER is still missing"
log "installed $("$BROWSER" --version 2>/dev/null || echo chromium)"
