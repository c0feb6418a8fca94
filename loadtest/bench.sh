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
# usage: loadtest/bench.sh [--quick] [--transport websocket|polling|upgrade]
# env:   BUILD_DIR (default build)  CHAT_GATEWAY_BIN  CHAT_FLOOD_BIN
#        INSTANCES (default 3; 1 = in-memory adapters, no Redis)
#        OUT (default docs/benchmarks.md)  DURATION (s per run, default 8)
#        KINDS (default "gateway node": the sides to measure)
#        IDLE_CLIENTS HS_CLIENTS FAN_CLIENTS ROOM10_RATE SWEEP BIG_RATES (sizes)
# --transport polling (or upgrade) runs every scenario with chat-flood
# --transport polling against the gateway and the Node reference with its
# polling transport on, at smaller default sizes (a polling client holds two
# HTTP connections and each delivery is a GET answer): 4000 idle clients,
# 3000 handshakes, rooms of 10 at 500 msg/s, the rooms-of-100 sweep at 50,
# 200 and 800 msg/s, no 1000-member room. Its tables go into their own generated block of OUT
# (bench:polling markers; the websocket block is kept), the raw results into
# benchmarks-results-polling.jsonl and the plot into
# benchmarks-latency-polling.svg.
# Bounded: every run has a timeout; the whole script stops by itself
# (about 8 minutes, --quick about 4); every process it starts is killed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
GW=${CHAT_GATEWAY_BIN:-$BUILD_DIR/chat-gateway}
FLOOD=${CHAT_FLOOD_BIN:-$BUILD_DIR/chat-flood}
REF=$root/loadtest/reference/server.js
OUT=${OUT:-$root/docs/benchmarks.md}
DURATION=${DURATION:-8}
INSTANCES=${INSTANCES:-3}
quick=0
TRANSPORT=${TRANSPORT:-websocket}
while [ $# -gt 0 ]; do
  case $1 in
  --quick) quick=1 && DURATION=${DURATION_QUICK:-4} ;;
  --transport) TRANSPORT=${2:-} && shift ;;
  --transport=*) TRANSPORT=${1#*=} ;;
  *) echo "usage: loadtest/bench.sh [--quick] [--transport websocket|polling|upgrade]" >&2
     exit 2 ;;
  esac
  shift
done
KINDS=${KINDS:-gateway node}

if [ "$TRANSPORT" = websocket ]; then
  d_idle=12000 d_hs=6000 d_sweep="50 100 200 400 800 1600" d_big="10 40"
  q_idle=6000 q_sweep="100 400 1600" q_big="20"
  suffix=
elif [ "$TRANSPORT" = polling ] || [ "$TRANSPORT" = upgrade ]; then
  d_idle=4000 d_hs=3000 d_sweep="50 200 800" d_big=""
  q_idle=2000 q_sweep="100 400" q_big=""
  suffix=-$TRANSPORT
else
  echo "bench: --transport is websocket, polling or upgrade" >&2
  exit 2
fi
PLOT=${PLOT:-$(dirname "$OUT")/benchmarks-latency$suffix.svg}
IDLE_CLIENTS=${IDLE_CLIENTS:-$d_idle}
HS_CLIENTS=${HS_CLIENTS:-$d_hs}
FAN_CLIENTS=${FAN_CLIENTS:-2000}
# rooms of 10: one message per client per second (websocket), a quarter of
# that over polling
[ "$TRANSPORT" = websocket ] && d_r10=$FAN_CLIENTS || d_r10=$((FAN_CLIENTS / 4))
ROOM10_RATE=${ROOM10_RATE:-$d_r10}
SWEEP=${SWEEP:-$d_sweep}
BIG_RATES=${BIG_RATES:-$d_big}
if [ "$quick" = 1 ]; then
  IDLE_CLIENTS=${IDLE_CLIENTS_QUICK:-$q_idle}
  SWEEP=${SWEEP_QUICK:-$q_sweep}
  BIG_RATES=${BIG_RATES_QUICK:-$q_big}
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
      # Socket.IO's default transports, said explicitly for the record
      node "$REF" --host 127.0.0.1 --port "$port" --rate-limit 0 \
        --transports polling,websocket \
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
  [ "$TRANSPORT" = websocket ] || set -- "$@" --transport "$TRANSPORT"
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
    const [file, kind, scen, redis, args, n, transport] = process.argv.slice(1);
    const lines = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
    let r = null, s = null, polling;
    for (const l of lines) {
      const j = JSON.parse(l);
      if (j.servers) s = j.servers; else r = j;
    }
    // chat-flood names the requests of a polling run on stderr
    const pm = fs.readFileSync(file + ".err", "utf8").match(
      /polling: GETs (\d+), POSTs (\d+) on (\d+) connections, resent (\d+), upgrades (\d+), HTTP errors (\d+)/);
    if (pm) {
      const [gets, posts, connections, resent, upgrades, http_errors] = pm.slice(1).map(Number);
      polling = { gets, posts, connections, resent, upgrades, http_errors };
    }
    console.log(JSON.stringify({ kind, scenario: scen, instances: Number(n),
      redis_pid: Number(redis) || 0, args, transport, polling, result: r, servers: s }));
  ' "$out" "$kind" "$scen" "${redis_pid:-0}" "$*" "${#server_pids[@]}" "$TRANSPORT" >>"$results" ||
    log "$kind $scen: no result"
}

t_begin=$(date +%s)

# Can the gateway run as a cluster (Redis adapter)? Otherwise 1 vs 1.
if [ "$INSTANCES" -gt 1 ] && [[ " $KINDS " == *" gateway "* ]]; then
  if ! start_servers gateway "$INSTANCES"; then
    log "the gateway does not start with --redis: falling back to 1 gateway" \
        "(in-memory) vs 1 Node reference (in-memory)"
    INSTANCES=1
  fi
  stop_all
fi

for kind in $KINDS; do
  start_servers "$kind" "$INSTANCES" || { log "cannot start $kind"; exit 1; }
  # fresh processes first: memory per idle connection, then handshakes
  # few rooms: each new room sends roomList to every connected socket
  run "$kind" idle 120 --clients "$IDLE_CLIENTS" --rooms $((IDLE_CLIENTS / 100)) \
    --rate 0 --duration "$DURATION" --ramp 4000 --procs 2 --source-ips "$SRC_IPS"
  run "$kind" handshake 120 --clients "$HS_CLIENTS" --handshake --ramp 0 \
    --procs 2 --source-ips "$SRC_IPS"
  run "$kind" room10 120 --clients "$FAN_CLIENTS" --rooms $((FAN_CLIENTS / 10)) \
    --rate "$ROOM10_RATE" --duration "$DURATION" --ramp 2000 --procs 2
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
  echo "transport=$TRANSPORT"
} >"$work/machine.env"

node "$root/loadtest/bench-report.js" "$results" "$work/machine.env" "$OUT" \
  "$work/plot.dat" "$(basename "$PLOT")"
if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$work/plot.dat'; outfile='$PLOT'" \
    "$root/loadtest/bench-plot.gp" && log "plot: $PLOT"
else
  log "gnuplot not installed: no plot"
fi
cp "$results" "$(dirname "$OUT")/benchmarks-results$suffix.jsonl"
log "done: $OUT"
