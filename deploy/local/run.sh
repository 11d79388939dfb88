#!/usr/bin/env bash
# Runs the daemon with config/demo.toml (or the file given), after making
# sure NATS and Redis run. The README's "run" command.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/services.sh
exec cargo run --release --locked -- serve --config "${1:-config/demo.toml}"
