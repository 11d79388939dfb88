#!/usr/bin/env bash
# The fault suite at its large size: 20,000 signed SMS through three
# replicas, a 60-second kill storm and a 75-second Redis outage (about six
# minutes). Prints the table; exits non-zero on any loss.
# FAULTS_MESSAGES / FAULTS_STORM_SECS / FAULTS_REDIS_OUTAGE_SECS /
# FAULTS_APPENDFSYNC override the sizes (FAULTS_APPENDFSYNC=everysec shows
# what redis-server's default fsync policy can lose).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/services.sh
export FAULTS_MESSAGES="${FAULTS_MESSAGES:-20000}"
export FAULTS_STORM_SECS="${FAULTS_STORM_SECS:-60}"
export FAULTS_REDIS_OUTAGE_SECS="${FAULTS_REDIS_OUTAGE_SECS:-75}"
cargo test --release --locked --test faults -- --nocapture --test-threads 1
