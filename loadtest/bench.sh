#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench.sh: the side-by-side benchmark of issue 6. In one run, on loopback:
#   3 chat-gateway processes + Redis  vs  3 Node reference servers
#   (loadtest/reference, Socket.IO 4 + @socket.io/redis-adapter) + Redis,
# each driven by chat-flood through the same scenarios: idle connections
# (RSS per connection), handshake rate, room fan-out (rooms of 10, a rate
# sweep on rooms of 100) and a 1000-member room broadcast. Server CPU is
# read from /proc/PID/stat over each measured window (chat-flood
# --server-pid), so the headline figure is deliveries per server CPU-second.
# Writes the results with the machine description into docs/benchmarks.md
# (between the bench markers; the rest of the file is kept) and a plot,
# docs/benchmarks-latency.svg.
#
# usage: loadtest/bench.sh [--quick]
# env:   BUILD_DIR (default build)  CHAT_GATEWAY_BIN  CHAT_FLOOD_BIN
#        INSTANCES (default 3; 1 = in-memory adapters, no Redis)
#        OUT (default docs/benchmarks.md)  DURATION (s per run, default 8)
# Bounded: every run has a timeout; the whole script stops by itself
# (about 8 minutes, --quick about 4); every process it starts is killed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
GW=${CHAT_GATEWAY_BIN:-$BUILD_DIR/chat-gateway}
FLOOD=${CHAT_FLOOD_BIN:-$BUILD_DIR/chat-flood}
REF=$root/loadtest/reference/server.js
OUT=${OUT:-$root/docs/benchmarks.md}
PLOT=${PLOT:-$(dirname "$OUT")/benchmarks-latency.svg}
DURATION=${DURATION:-8}
INSTANCES=${INSTANCES:-3}
quick=0
[ "${1:-}" = "--quick" ] && quick=1 && DURATION=${DURATION_QUICK:-4}

IDLE_CLIENTS=${IDLE_CLIENTS:-12000}
HS_CLIENTS=${HS_CLIENTS:-6000}
FAN_CLIENTS=${FAN_CLIENTS:-2000}
SWEEP=${SWEEP:-"50 100 200 400 800 1600"}
BIG_RATES=${BIG_RATES:-"10 40"}
if [ "$quick" = 1 ]; then
  IDLE_CLIENTS=${IDLE_CLIENTS_QUICK:-6000}
  SWEEP=${SWEEP_QUICK:-"100 400 1600"}
  BIG_RATES=${BIG_RATES_QUICK:-"20"}
fi
SRC_IPS=127.0.0.2-127.0.0.9

for f in "$GW" "$FLOOD"; do
  [ -x "$f" ] || { echo "bench: $f not built (set BUILD_DIR)" >&2; exit 1; }
done
[ -d "$root/loadtest/reference/node_modules" ] ||
  (cd "$root/loadtest/reference" && npm ci --no-audit --no-fund --loglevel=error)
command -v redis-server >/dev/null || { echo "bench: redis-server missing" >&2; exit 1; }

work=$(mktemp -d)
results=$work/results.jsonl
: >"$results"
started=()
cleanup() {
  for p in "${started[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

free_port() {
  node -e 'const s=require("net").createServer();
    s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_for LOG PID TEXT: until TEXT appears in LOG (10 s), or PID dies.
wait_for() {
  for _ in $(seq 100); do
    grep -q "$3" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

redis_pid=
redis_url=
start_redis() {
  local port
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --protected-mode yes >"$work/redis-$1.log" 2>&1 &
  redis_pid=$!
  started+=("$redis_pid")
  wait_for "$work/redis-$1.log" "$redis_pid" "Ready to accept" ||
    { log "redis did not start"; exit 1; }
  redis_url=redis://127.0.0.1:$port
}

stop_all() {
  for p in "${server_pids[@]}" ${redis_pid:+"$redis_pid"}; do
    kill -INT "$p" 2>/dev/null || true
  done
  for p in "${server_pids[@]}" ${redis_pid:+"$redis_pid"}; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  server_pids=()
  redis_pid=
}

# start_servers KIND N: N gateways or Node servers (+ Redis when N > 1).
server_pids=()
urls=
start_servers() {
  local kind=$1 n=$2 i port pid logf
  server_pids=()
  urls=
  redis_url=
  [ "$n" -gt 1 ] && start_redis "$kind"
  for i in $(seq "$n"); do
    port=$(free_port)
    logf=$work/$kind-$i.log
    if [ "$kind" = gateway ]; then
      "$GW" --host 127.0.0.1 --port "$port" --rate-limit 0 --log-level info \
        --max-connections-per-ip 0 \
        --node-id "bench-$i" ${redis_url:+--redis "$redis_url"} >"$logf" 2>&1 &
    else
      node "$REF" --host 127.0.0.1 --port "$port" --rate-limit 0 \
        ${redis_url:+--redis "$redis_url"} >"$logf" 2>&1 &
    fi
    pid=$!
    started+=("$pid")
    if ! wait_for "$logf" "$pid" "listening on"; then
      log "$kind $i did not start:"
      tail -5 "$logf" >&2
      return 1
    fi
    server_pids+=("$pid")
    urls=${urls:+$urls,}ws://127.0.0.1:$port
  done
}

# run KIND SCENARIO TIMEOUT FLOOD-ARGS...: one chat-flood run, one result line.
# settle waits (at most 60 s) until the servers and Redis are quiet: the
# previous scenario's clients leave when it ends, and those leaves (userList
# to every remaining member) must not be billed to the next scenario.
settle() {
  local p ticks last="" i
  for i in $(seq 1 200); do
    ticks=0
    for p in "${server_pids[@]}" ${redis_pid:+$redis_pid}; do
      [ -r "/proc/$p/stat" ] || continue
      ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    if [ -n "$last" ] && [ $((ticks - last)) -le 3 ]; then
      return 0
    fi
    last=$ticks
    sleep 0.3
  done
  log "servers still busy after 60 s; measuring anyway"
}

run() {
  local kind=$1 scen=$2 tmo=$3
  shift 3
  local pids out
  settle
  pids=$(IFS=,; echo "${server_pids[*]}${redis_pid:+,$redis_pid}")
  out=$work/$kind-$scen.out
  log "$kind $scen: chat-flood $*"
  if ! timeout "$tmo" "$FLOOD" --url "$urls" --server-pid "$pids" --json "$@" \
      >"$out" 2>"$out.err"; then
    log "$kind $scen: chat-flood failed or timed out"
    tail -3 "$out.err" >&2
  fi
  tail -2 "$out.err" | head -1 >&2 || true
  node -e '
    const fs = require("fs");
    const [file, kind, scen, redis, args, n] = process.argv.slice(1);
    const lines = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
    let r = null, s = null;
    for (const l of lines) {
      const j = JSON.parse(l);
      if (j.servers) s = j.servers; else r = j;
    }
    console.log(JSON.stringify({ kind, scenario: scen, instances: Number(n),
      redis_pid: Number(redis) || 0, args, result: r, servers: s }));
  ' "$out" "$kind" "$scen" "${redis_pid:-0}" "$*" "${#server_pids[@]}" >>"$results" ||
    log "$kind $scen: no result"
}

t_begin=$(date +%s)

# Can the gateway run as a cluster (Redis adapter)? Otherwise 1 vs 1.
if [ "$INSTANCES" -gt 1 ]; then
  if ! start_servers gateway "$INSTANCES"; then
    log "the gateway does not start with --redis: falling back to 1 gateway" \
        "(in-memory) vs 1 Node reference (in-memory)"
    INSTANCES=1
  fi
  stop_all
fi

for kind in gateway node; do
  start_servers "$kind" "$INSTANCES" || { log "cannot start $kind"; exit 1; }
  # fresh processes first: memory per idle connection, then handshakes
  # few rooms: each new room sends roomList to every connected socket
  run "$kind" idle 120 --clients "$IDLE_CLIENTS" --rooms $((IDLE_CLIENTS / 100)) \
    --rate 0 --duration "$DURATION" --ramp 4000 --procs 2 --source-ips "$SRC_IPS"
  run "$kind" handshake 120 --clients "$HS_CLIENTS" --handshake --ramp 0 \
    --procs 2 --source-ips "$SRC_IPS"
  run "$kind" room10 120 --clients "$FAN_CLIENTS" --rooms $((FAN_CLIENTS / 10)) \
    --rate $((FAN_CLIENTS)) --duration "$DURATION" --ramp 2000 --procs 2
  for rate in $SWEEP; do
    run "$kind" "room100-$rate" 120 --clients "$FAN_CLIENTS" \
      --rooms $((FAN_CLIENTS / 100)) --rate "$rate" --duration "$DURATION" \
      --ramp 2000 --drain 5 --procs 2
    # stop a sweep once the server is saturated (loss or p99 over 5 s)
    if node -e '
      const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
      const j = JSON.parse(l[l.length - 1]);
      const r = j.result;
      process.exit(!r || r.lost > 0.01 * r.expected || r.latency_ms.p99 > 5000 ? 0 : 1);
    ' "$results"; then
      log "$kind saturated at $rate msg/s in rooms of 100; sweep stops"
      break
    fi
  done
  for rate in $BIG_RATES; do
    run "$kind" "room1000-$rate" 300 --clients 1000 --rooms 1 --rate "$rate" \
      --duration "$DURATION" --ramp 250 --drain 5 --procs 2
  done
  stop_all
done

t_end=$(date +%s)
log "runs done in $((t_end - t_begin)) s; writing $OUT"

# machine and versions
{
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "cores=$(nproc)"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "nofile=$(ulimit -n)"
  echo "redis=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
  echo "node=$(node --version)"
  echo "socketio=$(node -p 'require(process.argv[1]).version' "$root/loadtest/reference/node_modules/socket.io/package.json")"
  echo "adapter=$(node -p 'require(process.argv[1]).version' "$root/loadtest/reference/node_modules/@socket.io/redis-adapter/package.json")"
  echo "lws=$(pkg-config --modversion libwebsockets 2>/dev/null || echo '?')"
  echo "libuv=$(pkg-config --modversion libuv 2>/dev/null || echo '?')"
  echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'uncommitted')"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "duration=$DURATION"
  echo "instances=$INSTANCES"
  echo "elapsed=$((t_end - t_begin))"
} >"$work/machine.env"

node "$root/loadtest/bench-report.js" "$results" "$work/machine.env" "$OUT" \
  "$work/plot.dat" "$(basename "$PLOT")"
if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$work/plot.dat'; outfile='$PLOT'" \
    "$root/loadtest/bench-plot.gp" && log "plot: $PLOT"
else
  log "gnuplot not installed: no plot"
fi
cp "$results" "$(dirname "$OUT")/benchmarks-results.jsonl"
log "done: $OUT"
