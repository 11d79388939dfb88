#!/usr/bin/env bash
# The cost of redis-server's `appendfsync always` (what deploy/ sets) against
# `everysec` and against no persistence, measured with `switchboard bench`'s
# pipeline section in alternation on the same machine, so that the ratios
# hold on a noisy box. Each policy gets its own redis-server on a free port
# in a temporary folder (never the shared one); NATS is the local one.
#
#   ROUNDS (2): alternations of the three policies.
#   MESSAGES (5000): webhooks of each maximum-throughput run.
#   BIN (target/release/switchboard): the binary to measure.
#
# Prints one line per run and the medians' ratios at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-2}"
MESSAGES="${MESSAGES:-5000}"
BIN="${BIN:-target/release/switchboard}"
deploy/local/services.sh
[ -x "$BIN" ] || cargo build --release --locked

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# One redis-server per policy: none (no AOF), everysec, always.
declare -A port
for policy in none everysec always; do
  port[$policy]="$(free_port)"
  mkdir -p "$work/$policy"
  if [ "$policy" = none ]; then
    aof=(--appendonly no)
  else
    aof=(--appendonly yes --appendfsync "$policy")
  fi
  redis-server --bind 127.0.0.1 --port "${port[$policy]}" --save "" "${aof[@]}" \
    --dir "$work/$policy" --logfile "$work/$policy/redis.log" &
  pids+=("$!")
done
for policy in none everysec always; do
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/${port[$policy]}") 2>/dev/null && break
    sleep 0.1
  done
done

for round in $(seq 1 "$ROUNDS"); do
  for policy in none everysec always; do
    out="$work/$policy.$round.json"
    "$BIN" bench --sections pipeline --messages "$MESSAGES" --open 100 --json \
      --redis-url "redis://127.0.0.1:${port[$policy]}" >"$out"
    python3 - "$policy" "$round" "$out" <<'EOF'
import json, sys
policy, rnd, path = sys.argv[1:]
p = json.load(open(path))["pipeline"]
m, h = p["max"], p["half_load"]
cpu = m.get("cpu", {}) or {}
print(f"round {rnd} {policy:>8}: max {m['messages_per_sec']:7.0f} msg/s, "
      f"half load {h['messages_per_sec']:6.0f} msg/s p99 {h['latency']['p99_ms']:6.1f} ms, "
      f"redis-server {cpu.get('redis_server_us_per_message') or 0:5.0f} µs/msg, "
      f"{m.get('redis_commands_per_message', 0):.1f} Redis commands/msg")
EOF
  done
done

python3 - "$work" "$ROUNDS" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def med(policy, pick):
    return statistics.median(pick(json.load(open(f"{work}/{policy}.{r}.json"))["pipeline"]) for r in range(1, rounds + 1))
tput = {p: med(p, lambda x: x["max"]["messages_per_sec"]) for p in ("none", "everysec", "always")}
p99 = {p: med(p, lambda x: x["half_load"]["latency"]["p99_ms"]) for p in ("none", "everysec", "always")}
print()
print("| appendfsync | max throughput (median) | vs none | half-load p99 (median) | vs none |")
print("| --- | --- | --- | --- | --- |")
for p in ("none", "everysec", "always"):
    print(f"| {p} | {tput[p]:,.0f} msg/s | {tput[p] / tput['none']:.2f} × | {p99[p]:.1f} ms | {p99[p] / p99['none']:.2f} × |")
print(f"\nalways / everysec: throughput {tput['always'] / tput['everysec']:.2f} ×, half-load p99 {p99['always'] / p99['everysec']:.2f} ×")
EOF
