#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cluster.sh: a local chat-gateway cluster on loopback: one redis-server,
# N chat-gateway instances (--redis) and nginx in front of them.
#
#   cluster.sh up [--gateways N] [--port P] [--listen ADDR] [-- GATEWAY-ARGS...]
#   cluster.sh down [--drain]
#   cluster.sh status
#
# up       starts redis, N gateways (default 3) on free ports and nginx on
#          ADDR:P (default 127.0.0.1:8080); returns once every part answers,
#          printing the URL. Arguments after "--" go to every gateway (e.g.
#          -- --drain-time 2000 --log-level debug).
# down     stops exactly what up started (nginx, gateways, redis, in that
#          order) and exits 0. Gateways get SIGINT (shutdown without drain
#          delay); with --drain they get SIGTERM and drain over --drain-time.
# status   lists the parts with pid, port and health; exit 0 if all run,
#          1 if some died, 3 if no cluster is up.
#
# Environment:
#   CHAT_GATEWAY_BIN   gateway binary (default: <repo>/$BUILD_DIR/chat-gateway,
#                      built first if missing)
#   BUILD_DIR          build directory relative to the repo (default: build)
#   CHAT_CLUSTER_DIR   state directory (default: $TMPDIR or /tmp, then
#                      chat-cluster-<uid>): pid files, ports, logs, nginx prefix
#   CLUSTER_TIMEOUT    seconds to wait for each part to answer (default 30)
#
# Exit codes: 0 ok; 1 usage or environment error, or "already up";
# 3 a part failed to start (its log tail is printed; nothing is left running).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true
# nginx reads $NGINX as a list of inherited listening sockets.
unset NGINX

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${CHAT_CLUSTER_DIR:-${TMPDIR:-/tmp}/chat-cluster-$(id -u)}
timeout_s=${CLUSTER_TIMEOUT:-30}
me="cluster.sh"

say() { printf '%s: %s\n' "$me" "$*"; }
warn() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { warn "$*"; exit 1; }
usage() { sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- helpers

# Ports in LISTEN state on this host (IPv4 and IPv6), one per line.
listening_ports() {
  # awk filters (these tables can hold tens of thousands of connections
  # under load); bash converts the few hex ports that listen.
  local hex
  for hex in $(awk '$4 == "0A" { n = split($2, a, ":"); print a[n] }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    printf '%d\n' "0x$hex"
  done
  return 0
}

port_in_use() { listening_ports | grep -qx "$1"; }

# A free loopback port below the kernel's ephemeral range (so it cannot
# clash with outgoing connections or with other tests binding port 0),
# not listening now and not handed out earlier in this run.
taken_ports=" "
# Sets FREE_PORT (no subshell, so taken_ports persists).
free_port() {
  local p used i
  used=" $(listening_ports | tr '\n' ' ') "
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    case "$used$taken_ports" in *" $p "*) continue ;; esac
    taken_ports+="$p "
    FREE_PORT=$p
    return 0
  done
  warn "no free port found in 20000-31999"
  started_failed
}

# HTTP status code of GET http://HOST:PORT/PATH, or nothing on failure.
http_status() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$2" "$0" "$1" >&3
    IFS=" " read -r _ code _ <&3 && printf "%s" "$code"' "$1" "$2" "$3" 2>/dev/null || true
}

redis_ping() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r line <&3 && [ "${line%$'"'\r'"'}" = "+PONG" ]' "$1" 2>/dev/null
}

# alive PID: the process exists and is not a zombie.
alive() {
  local s
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# ours PID NEEDLE: the live process PID's command line contains NEEDLE, so a
# recycled pid is never signalled.
ours() {
  alive "$1" || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# Stop PID (if it is ours) with SIG, escalate to SIGKILL after WAIT seconds.
stop_pid() {
  local name=$1 pid=$2 needle=$3 sig=$4 wait_s=$5 i
  if ! ours "$pid" "$needle"; then
    say "$name (pid $pid) was not running"
    return 0
  fi
  kill "-$sig" "$pid" 2>/dev/null || true
  wait_pid "$name" "$pid" "$sig" "$wait_s"
}

# Wait for an already signalled PID; SIGKILL it after WAIT seconds.
wait_pid() {
  local name=$1 pid=$2 sig=$3 wait_s=$4 i
  for ((i = 0; i < wait_s * 10; i++)); do
    alive "$pid" || { say "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  warn "$name (pid $pid) did not exit within ${wait_s}s after SIG$sig: killing it"
  # The nginx master leads its own process group: take the whole group so
  # no worker is orphaned.
  if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  else
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
  warn "$name (pid $pid) survived SIGKILL"
  return 1
}

log_tail() {
  [ -s "$1" ] || { echo "    (log $1 is empty)"; return; }
  echo "    --- last lines of $1 ---"
  tail -n 15 "$1" | sed 's/^/    /'
}

find_nginx() {
  command -v nginx 2>/dev/null && return 0
  [ -x /usr/sbin/nginx ] && { echo /usr/sbin/nginx; return 0; }
  return 1
}

find_redis() {
  command -v redis-server 2>/dev/null && return 0
  [ -x /usr/bin/redis-server ] && { echo /usr/bin/redis-server; return 0; }
  return 1
}

gateway_bin() {
  if [ -n "${CHAT_GATEWAY_BIN:-}" ]; then
    [ -x "$CHAT_GATEWAY_BIN" ] || die "CHAT_GATEWAY_BIN=$CHAT_GATEWAY_BIN is not an executable file"
    echo "$CHAT_GATEWAY_BIN"
    return
  fi
  local bdir=${BUILD_DIR:-build}
  case "$bdir" in /*) ;; *) bdir=$repo/$bdir ;; esac
  if [ ! -x "$bdir/chat-gateway" ]; then
    say "building chat-gateway in $bdir (first run) ..." >&2
    { cmake -S "$repo" -B "$bdir" >/dev/null &&
      cmake --build "$bdir" --target chat-gateway -j"$(nproc)" >&2; } ||
      die "build failed; fix it or set CHAT_GATEWAY_BIN"
  fi
  echo "$bdir/chat-gateway"
}

# Any pid file whose process still runs?
running_parts() {
  local f pid
  for f in "$state"/*.pid "$state"/nginx/nginx.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    alive "$pid" && echo "$(basename "$f" .pid):$pid"
  done
  return 0
}

have_state() {
  compgen -G "$state/*.pid" >/dev/null || [ -f "$state/nginx/nginx.pid" ] ||
    [ -f "$state/cluster.env" ]
}

lock_state() {
  mkdir -p "$state"
  chmod 755 "$state"
  exec 9>"$state/.lock"
  flock -w 60 9 || die "another cluster.sh is working on $state"
}

# ---------------------------------------------------------------- up

started_failed() {
  # Roll back whatever this up started; never leave half a cluster.
  warn "stopping what was started"
  do_down INT >&2 || true
  exit 3
}

start_redis() {
  local redis_bin=$1 port pid i
  mkdir -p "$state/redis"
  for _ in 1 2 3; do
    free_port
    port=$FREE_PORT
    : >"$state/redis.log"
    setsid "$redis_bin" --bind 127.0.0.1 --port "$port" --protected-mode yes \
      --save "" --appendonly no --dir "$state/redis" --daemonize no \
      --logfile "" --loglevel notice \
      </dev/null >>"$state/redis.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$state/redis.pid"
    echo "$port" >"$state/redis.port"
    for ((i = 0; i < timeout_s * 10; i++)); do
      if redis_ping "$port"; then
        say "redis     pid $pid  redis://127.0.0.1:$port"
        return 0
      fi
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      warn "redis-server (pid $pid) did not answer PING on port $port within ${timeout_s}s"
      log_tail "$state/redis.log" >&2
      started_failed
    fi
    if grep -qiE 'in use|bind' "$state/redis.log"; then
      warn "port $port was taken, retrying"
      continue
    fi
    warn "redis-server exited at start"
    log_tail "$state/redis.log" >&2
    started_failed
  done
  warn "redis-server could not get a free port after 3 attempts"
  started_failed
}

# start_gateway INDEX BIN REDIS_URL EXTRA...
start_gateway() {
  local idx=$1 bin=$2 url=$3 node port pid log i
  shift 3
  node=gw$idx
  log=$state/$node.log
  for _ in 1 2 3; do
    free_port
    port=$FREE_PORT
    : >"$log"
    rm -f "$state/$node.pid" "$state/$node.exit"
    echo "$port" >"$state/$node.port"
    # A small waiter shell runs the gateway as its child and records the
    # exit status in gwN.exit (status and the drain test read it). The pid
    # file holds the gateway's own pid: signals go to the gateway directly.
    GW_LOG=$log GW_PID=$state/$node.pid GW_EXIT=$state/$node.exit \
      setsid bash -c '"$@" </dev/null >>"$GW_LOG" 2>&1 & echo $! >"$GW_PID.tmp" &&
        mv "$GW_PID.tmp" "$GW_PID"; wait $!; echo $? >"$GW_EXIT"' \
      chat-gateway-waiter "$bin" --host 127.0.0.1 --port "$port" --redis "$url" \
      --node-id "$node" --trusted-proxies 127.0.0.1 "$@" </dev/null >/dev/null 2>&1 9>&- &
    for ((i = 0; i < 50; i++)); do
      [ -s "$state/$node.pid" ] && break
      sleep 0.02
    done
    pid=$(cat "$state/$node.pid" 2>/dev/null || true)
    [ -n "$pid" ] || { warn "$node: could not start $bin"; started_failed; }
    # Give an immediate failure (bad flag, no Redis support, port taken) a
    # moment to show before moving on to the next instance.
    sleep 0.2
    if alive "$pid"; then
      return 0
    fi
    if grep -qiE 'address already in use|EADDRINUSE|in use' "$log"; then
      warn "$node: port $port was taken, retrying"
      continue
    fi
    gateway_failed "$node" "$pid" "$log"
  done
  warn "$node could not get a free port after 3 attempts"
  started_failed
}

gateway_failed() {
  local node=$1 pid=$2 log=$3
  if grep -qiE 'redis adapter (is )?not (available|built|compiled|supported)' "$log"; then
    warn "$node (pid $pid) exited: this chat-gateway has no Redis adapter" \
      "(--redis is not available in this build), so it cannot run as a cluster"
  else
    warn "$node (pid $pid) failed to start"
  fi
  log_tail "$log" >&2
  started_failed
}

wait_gateways() {
  local n=$1 i idx pid port code pending
  for ((i = 0; i < timeout_s * 10; i++)); do
    pending=0
    for ((idx = 1; idx <= n; idx++)); do
      [ -f "$state/gw$idx.ready" ] && continue
      pid=$(cat "$state/gw$idx.pid")
      port=$(cat "$state/gw$idx.port")
      if ! alive "$pid"; then
        gateway_failed "gw$idx" "$pid" "$state/gw$idx.log"
      fi
      code=$(http_status 127.0.0.1 "$port" /readyz)
      if [ "$code" = 200 ]; then
        : >"$state/gw$idx.ready"
        say "gw$idx       pid $pid  http://127.0.0.1:$port"
      else
        pending=$((pending + 1))
      fi
    done
    [ "$pending" = 0 ] && return 0
    sleep 0.1
  done
  for ((idx = 1; idx <= n; idx++)); do
    [ -f "$state/gw$idx.ready" ] && continue
    warn "gw$idx (pid $(cat "$state/gw$idx.pid")) is running but /readyz did not answer 200 within ${timeout_s}s"
    log_tail "$state/gw$idx.log" >&2
  done
  started_failed
}

start_nginx() {
  local nginx_bin=$1 listen=$2 port=$3 n=$4 prefix=$state/nginx ups=() idx i pid code
  mkdir -p "$prefix/logs" "$prefix/temp"
  chmod 755 "$prefix" "$prefix/logs" "$prefix/temp"
  for ((idx = 1; idx <= n; idx++)); do
    ups+=(--upstream "gw$idx=127.0.0.1:$(cat "$state/gw$idx.port")")
  done
  "$repo/deploy/nginx/render.sh" --prefix "$prefix" --listen "$listen:$port" \
    "${ups[@]}" >"$prefix/nginx.conf" || started_failed
  : >"$prefix/logs/error.log"
  if ! "$nginx_bin" -t -q -p "$prefix" -c "$prefix/nginx.conf" >"$state/nginx-t.log" 2>&1; then
    warn "nginx -t rejected $prefix/nginx.conf"
    log_tail "$state/nginx-t.log" >&2
    started_failed
  fi
  # nginx daemonizes itself; its master pid lands in $prefix/nginx.pid.
  if ! "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" </dev/null >"$state/nginx.log" 2>&1 9>&-; then
    warn "nginx failed to start on $listen:$port"
    log_tail "$state/nginx.log" >&2
    log_tail "$prefix/logs/error.log" >&2
    started_failed
  fi
  for ((i = 0; i < timeout_s * 10; i++)); do
    pid=$(cat "$prefix/nginx.pid" 2>/dev/null || true)
    if alive "$pid"; then
      code=$(http_status "$listen" "$port" /healthz)
      if [ "$code" = 200 ]; then
        say "nginx     pid $pid  http://$listen:$port"
        return 0
      fi
    fi
    sleep 0.1
  done
  warn "nginx did not answer /healthz with 200 on $listen:$port within ${timeout_s}s"
  log_tail "$prefix/logs/error.log" >&2
  started_failed
}

do_up() {
  local n=3 port=8080 listen=127.0.0.1 extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --gateways | -n) n=${2:?--gateways needs a number}; shift 2 ;;
      --gateways=*) n=${1#*=}; shift ;;
      --port | -p) port=${2:?--port needs a number}; shift 2 ;;
      --port=*) port=${1#*=}; shift ;;
      --listen) listen=${2:?--listen needs an address}; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) die "up: unknown argument '$1' (see $0 --help)" ;;
    esac
  done
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 64 ] ||
    die "--gateways must be a number from 1 to 64, got '$n'"
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
    die "--port must be a TCP port number, got '$port'"

  local nginx_bin redis_bin bin
  redis_bin=$(find_redis) || die "redis-server not found: install it (sudo apt-get install redis-server, or scripts/setup.sh)"
  nginx_bin=$(find_nginx) || die "nginx not found: install it (sudo apt-get install nginx-light, or scripts/setup.sh)"
  command -v flock >/dev/null || die "flock (util-linux) not found"

  lock_state
  local parts
  parts=$(running_parts)
  if [ -n "$parts" ]; then
    warn "a cluster is already up in $state ($(echo "$parts" | tr '\n' ' '| sed 's/ $//'))"
    [ -f "$state/cluster.env" ] && warn "$(grep '^URL=' "$state/cluster.env" | sed 's/^URL=/it serves /')"
    die "run '$0 down' first (or set CHAT_CLUSTER_DIR for a second cluster)"
  fi
  if have_state; then
    say "removing stale state of a cluster that is no longer running"
    rm -f "$state"/*.pid "$state"/*.port "$state"/*.ready "$state"/*.exit "$state/cluster.env" "$state/nginx/nginx.pid"
  fi
  if port_in_use "$port"; then
    die "port $port is already in use: choose another with --port"
  fi
  bin=$(gateway_bin)
  taken_ports=" $port "

  trap 'warn "interrupted"; started_failed' INT TERM
  start_redis "$redis_bin"
  local rport url idx
  rport=$(cat "$state/redis.port")
  url="redis://127.0.0.1:$rport"
  rm -f "$state"/gw*.ready
  for ((idx = 1; idx <= n; idx++)); do
    start_gateway "$idx" "$bin" "$url" "${extra[@]}"
  done
  wait_gateways "$n"
  start_nginx "$nginx_bin" "$listen" "$port" "$n"
  trap - INT TERM

  {
    echo "URL=http://$listen:$port"
    echo "PORT=$port"
    echo "LISTEN=$listen"
    echo "GATEWAYS=$n"
    echo "REDIS_URL=$url"
    echo "GATEWAY_BIN=$bin"
  } >"$state/cluster.env"
  say "cluster up: $n gateway(s) behind http://$listen:$port  (state and logs: $state)"
  echo "http://$listen:$port"
}

# ---------------------------------------------------------------- down

# do_down SIG: SIG is what gateways get (INT = no drain delay, TERM = drain).
do_down() {
  local gsig=${1:-INT} f pid name stopped=0 rc=0 prefix=$state/nginx
  local gwait=15
  if [ "$gsig" = TERM ]; then
    # Drain takes --drain-time (default 10 s); leave a margin.
    gwait=$((${CHAT_DRAIN_TIME:-10000} / 1000 + 20))
  fi
  if [ -f "$prefix/nginx.pid" ]; then
    pid=$(cat "$prefix/nginx.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      # TERM = fast shutdown: open WebSockets are cut now (QUIT would keep
      # workers alive until every WebSocket closes). The gateways go next
      # anyway, and clients reconnect when the cluster is back.
      stop_pid nginx "$pid" "$prefix" TERM 10 || rc=1
      stopped=1
    fi
    rm -f "$prefix/nginx.pid"
  fi
  # Signal all gateways first, then wait, so N drains run in parallel.
  local gws=()
  for f in "$state"/gw*.pid; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .pid)
    pid=$(cat "$f" 2>/dev/null || true)
    if ours "$pid" "--node-id $name "; then
      kill "-$gsig" "$pid" 2>/dev/null || true
      gws+=("$name:$pid")
    else
      say "$name (pid ${pid:-?}) was not running"
    fi
    stopped=1
  done
  local g
  for g in "${gws[@]}"; do
    wait_pid "${g%%:*}" "${g#*:}" "$gsig" "$gwait" || rc=1
  done
  rm -f "$state"/gw*.pid "$state"/gw*.port "$state"/gw*.ready "$state"/gw*.pid.tmp
  if [ -f "$state/redis.pid" ]; then
    pid=$(cat "$state/redis.pid" 2>/dev/null || true)
    stop_pid redis "${pid:-0}" "127.0.0.1:$(cat "$state/redis.port" 2>/dev/null || echo x)" TERM 10 || rc=1
    stopped=1
    rm -f "$state/redis.pid" "$state/redis.port"
  fi
  rm -f "$state/cluster.env"
  [ "$stopped" = 1 ] || return 2
  return "$rc"
}

cmd_down() {
  local sig=INT
  while [ $# -gt 0 ]; do
    case "$1" in
      --drain) sig=TERM; shift ;;
      *) die "down: unknown argument '$1'" ;;
    esac
  done
  if [ ! -d "$state" ] || ! have_state; then
    say "no cluster is up (nothing in $state); nothing to stop"
    exit 0
  fi
  lock_state
  local rc=0
  do_down "$sig" || rc=$?
  case "$rc" in
    0) say "cluster down (logs kept in $state)" ;;
    2) say "no cluster is up (nothing in $state); nothing to stop"; rc=0 ;;
    *) warn "cluster down, but some parts needed SIGKILL or would not die" ;;
  esac
  exit "$rc"
}

# ---------------------------------------------------------------- status

cmd_status() {
  if [ ! -d "$state" ] || ! have_state; then
    say "no cluster is up (state dir $state)"
    exit 3
  fi
  local bad=0 pid port f name code
  [ -f "$state/cluster.env" ] && say "$(grep '^URL=' "$state/cluster.env" | sed 's/^URL=/serving /')  (state: $state)"
  if [ -f "$state/nginx/nginx.pid" ]; then
    pid=$(cat "$state/nginx/nginx.pid")
    port=$(sed -n 's/^PORT=//p' "$state/cluster.env" 2>/dev/null || true)
    if ours "$pid" "$state/nginx"; then
      printf '%-7s pid %-8s port %-6s running\n' nginx "$pid" "${port:-?}"
    else
      printf '%-7s pid %-8s port %-6s DEAD\n' nginx "$pid" "${port:-?}"
      bad=1
    fi
  fi
  for f in "$state"/gw*.pid; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .pid)
    pid=$(cat "$f")
    port=$(cat "$state/$name.port" 2>/dev/null || echo "?")
    if ours "$pid" "--node-id $name "; then
      code=$(http_status 127.0.0.1 "$port" /readyz)
      case "$code" in
        200) printf '%-7s pid %-8s port %-6s running, ready\n' "$name" "$pid" "$port" ;;
        503) printf '%-7s pid %-8s port %-6s running, draining\n' "$name" "$pid" "$port" ;;
        *) printf '%-7s pid %-8s port %-6s running, not answering\n' "$name" "$pid" "$port" ;;
      esac
    else
      local ex="exit status unknown"
      [ -s "$state/$name.exit" ] && ex="exited with status $(cat "$state/$name.exit")"
      printf '%-7s pid %-8s port %-6s DEAD, %s (log: %s)\n' "$name" "$pid" "$port" "$ex" "$state/$name.log"
      bad=1
    fi
  done
  if [ -f "$state/redis.pid" ]; then
    pid=$(cat "$state/redis.pid")
    port=$(cat "$state/redis.port" 2>/dev/null || echo "?")
    if ours "$pid" "127.0.0.1:$port" && redis_ping "$port"; then
      printf '%-7s pid %-8s port %-6s running\n' redis "$pid" "$port"
    else
      printf '%-7s pid %-8s port %-6s DEAD or not answering\n' redis "$pid" "$port"
      bad=1
    fi
  fi
  exit "$bad"
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || { usage >&2; exit 1; }
cmd=$1
shift
case "$cmd" in
  up) do_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help | help) usage ;;
  *) warn "unknown command '$cmd'"; usage >&2; exit 1 ;;
esac
