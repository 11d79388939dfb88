#!/usr/bin/env bash
# Makes sure NATS (with JetStream) and Redis answer on their local ports:
# reuses them when they already run, starts them when installed but
# stopped, and installs them from Debian packages when missing.
# Idempotent: running it twice changes nothing the second time.
#
#   NATS_PORT (4222) and REDIS_PORT (6379) choose the ports.
set -euo pipefail

NATS_PORT="${NATS_PORT:-4222}"
REDIS_PORT="${REDIS_PORT:-6379}"
STATE_DIR="${SWITCHBOARD_SERVICES_DIR:-/var/tmp/switchboard-services}"

log() { printf 'services: %s\n' "$*" >&2; }

port_open() {
  # bash's /dev/tcp: no extra tool needed.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do
    port_open "$port" && return 0
    sleep 0.1
  done
  log "$name did not come up on port $port"
  return 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

nats_bin() {
  command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server
}

start_nats() {
  if port_open "$NATS_PORT"; then
    log "NATS already running on $NATS_PORT"
    return
  fi
  mkdir -p "$STATE_DIR/nats"
  log "starting NATS with JetStream on $NATS_PORT"
  nohup "$(nats_bin)" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$STATE_DIR/nats" \
    >"$STATE_DIR/nats.log" 2>&1 &
  wait_port "$NATS_PORT" NATS
}

start_redis() {
  if port_open "$REDIS_PORT"; then
    log "Redis already running on $REDIS_PORT"
    return
  fi
  mkdir -p "$STATE_DIR/redis"
  log "starting Redis on $REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$STATE_DIR/redis" --logfile "$STATE_DIR/redis.log"
  wait_port "$REDIS_PORT" Redis
}

if ! port_open "$NATS_PORT" || ! port_open "$REDIS_PORT"; then
  install_packages
fi
start_nats
start_redis
