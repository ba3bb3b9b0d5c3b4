#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the playground's browser tests.
#
# Idempotent and instant when it is there. Otherwise it installs the `chromium` package with
# apt-get: the browser comes from the distribution, never from Playwright's own download
# (`playwright install` fetches a browser build from elsewhere and is not used).
set -euo pipefail

CHROMIUM="${VISIONGATE_TEST_CHROMIUM:-/usr/bin/chromium}"

log() { echo "ensure-browser: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

[ -x "$CHROMIUM" ] && exit 0
log "installing chromium"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x "$CHROMIUM" ] || { log "chromium did not install at $CHROMIUM"; exit 1; }
