#!/usr/bin/env bash
# The README's test command: makes sure NATS and Redis run and headless
# Chromium is installed (for the browser test), then runs the whole suite
# (unit tests, the integration binary against the real services, and the
# clippy gate). CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/local/services.sh
tests/browser-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
# Doc tests are not run by nextest.
cargo test --workspace --locked --doc
cargo clippy --workspace --all-targets --locked -- -D warnings
