#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed for the
# browser test (tests/it/browser.rs): installs the Debian packages
# `chromium` and `chromium-driver` when /usr/bin/chromium or
# /usr/bin/chromedriver is missing. Idempotent, and does nothing (no apt,
# no network) when both are present.
set -euo pipefail

log() { printf 'browser-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

log "installing chromium and chromium-driver from Debian packages"
# The package lists are refreshed only when they do not know the packages
# (a fresh image) or are too old to fetch them (the install fails).
if ! apt-cache show chromium-driver >/dev/null 2>&1 || ! apt_install chromium chromium-driver; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_install chromium chromium-driver
fi

for bin in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$bin" ]; then
    log "$bin is still missing after installing chromium and chromium-driver"
    exit 1
  fi
done
