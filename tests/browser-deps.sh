#!/usr/bin/env bash
# Makes sure headless Chromium, its WebDriver and a CJK font are installed
# for the browser tests (tests/it/browser.rs, tests/it/dashboard.rs):
# installs the Debian packages `chromium`, `chromium-driver` and
# `fonts-noto-cjk` (so Chinese text renders in the screenshots) when
# /usr/bin/chromium, /usr/bin/chromedriver or the Noto CJK font is missing.
# Idempotent, and does nothing (no apt, no network) when all are present.
set -euo pipefail

log() { printf 'browser-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

CJK_FONT=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
PACKAGES=(chromium chromium-driver fonts-noto-cjk)

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -f "$CJK_FONT" ]; then
  exit 0
fi

log "installing ${PACKAGES[*]} from Debian packages"
# The package lists are refreshed only when they do not know the packages
# (a fresh image) or are too old to fetch them (the install fails).
if ! apt-cache show chromium-driver fonts-noto-cjk >/dev/null 2>&1 || ! apt_install "${PACKAGES[@]}"; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_install "${PACKAGES[@]}"
fi

for file in /usr/bin/chromium /usr/bin/chromedriver "$CJK_FONT"; do
  if [ ! -e "$file" ]; then
    log "$file is still missing after installing ${PACKAGES[*]}"
    exit 1
  fi
done
