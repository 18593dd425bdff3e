#!/usr/bin/env bash
# A load run of `GET /api/me` on the example web app with wrk (Debian's package), on
# loopback: requests/s with the caller checked online (SQLite, then Redis; with the
# online-check cache, then without it), offline, and not at all (the ceiling). Client and
# server share this machine's cores, so compare the rows with each other, not with
# another machine. Ends with one summary line per backend:
# `online sqlite: N req/s, R.RRx offline`.
#
# Usage: scripts/load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
cargo build --release --example web --all-features -q
bin=target/release/examples/web
work=$(mktemp -d)
export TOK_KEY=BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly yes \
  --appendfsync always --dir "$work" >/dev/null &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

declare -A rate
run() {
  local name=$1 check=$2 store=$3
  shift 3
  "$bin" --listen 127.0.0.1:0 --store "$store" --check "$check" --access-ttl 1h "$@" \
    > "$work/$name.out" 2>&1 &
  pids+=($!)
  until grep -q '^listening on' "$work/$name.out"; do sleep 0.05; done
  local url
  url=$(sed -n 's/^listening on //p' "$work/$name.out")
  local token
  token=$(curl -s -X POST "$url/login" -H 'content-type: application/json' \
    -d '{"username":"load","password":"demo"}' | jq -r .access_token)
  local rps
  rps=$(wrk -t1 -c"$connections" -d"${seconds}s" -H "Authorization: Bearer $token" \
    "$url/api/me" | awk '/Requests\/sec/ {print $2}')
  printf '%-36s %10.0f requests/s\n' "$name" "$rps"
  rate[$name]=$rps
}

echo "GET /api/me, wrk -t1 -c$connections -d${seconds}s, $(nproc) cores shared by client and server"
run "no auth (ceiling)" none "sqlite:$work/none.db"
run "offline (signature, claims)" offline "sqlite:$work/offline.db"
run "online, SQLite" online "sqlite:$work/online.db"
run "online, Redis (AOF always)" online "redis://127.0.0.1:$redis_port"
# The same with the change feed's heartbeat (50 ms by default) nearly off: what the
# heartbeats cost under load.
run "online, Redis, heartbeat 60 s" online "redis://127.0.0.1:$redis_port?heartbeat_ms=60000&prefix=quiet"
run "online, SQLite, no cache" online "sqlite:$work/uncached.db" --no-online-cache
run "online, Redis, no cache" online "redis://127.0.0.1:$redis_port" --no-online-cache
offline=${rate["offline (signature, claims)"]}
summary() {
  awk -v n="$2" -v o="$offline" -v b="$1" 'BEGIN {printf "%s: %.0f req/s, %.2fx offline\n", b, n, n / o}'
}
summary "online sqlite" "${rate["online, SQLite"]}"
summary "online redis" "${rate["online, Redis (AOF always)"]}"
summary "online redis, heartbeat 60 s" "${rate["online, Redis, heartbeat 60 s"]}"
awk -v n="$offline" -v c="${rate["no auth (ceiling)"]}" 'BEGIN {printf "offline: %.0f req/s, %.2fx no auth\n", n, n / c}'
