#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fl_smoke.sh: CI smoke run of chat-flood against a real gateway (ctest
# label load-smoke, ~25 s). Starts $CHAT_GATEWAY_BIN on a free loopback
# port, then checks three short runs:
#   flood     40 clients in 4 rooms of 10, 200 msg/s for 4 s, 2 processes:
#             every key present, delivered == expected == 10 x sent, lost 0
#   handshake 100 clients: all connected, delivered == expected == 100
#   idle      20 clients held 2 s with --server-pid: servers line present (RSS, CPU)
# then the other transports against $POLL_SERVER (gateway, the default: the
# gateway; node: the Node reference peer, loadtest/reference, a real
# socket.io server, which checks chat-flood itself against engine.io):
#   polling   20 clients in 2 rooms of 10, 100 msg/s for 3 s over HTTP
#             long-polling: lost 0, GETs and POSTs made, no upgrade, no error
#   upgrade   the same, opened by polling then upgraded: 20 upgrades, lost 0
#   refused   4 polling clients asking for EIO=3: engine.io's 400
#             {"code":5,...} counted as 4 HTTP errors of code 5
# Needs: CHAT_GATEWAY_BIN, CHAT_FLOOD_BIN (ctest sets both), node, and
# loadtest/reference/node_modules (scripts/setup.sh --test installs it).
set -euo pipefail

gw=${CHAT_GATEWAY_BIN:?CHAT_GATEWAY_BIN must point at chat-gateway}
flood=${CHAT_FLOOD_BIN:?CHAT_FLOOD_BIN must point at chat-flood}
POLL_SERVER=${POLL_SERVER:-gateway}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
gw_pid=
ref_pid=
cleanup() {
  for p in $gw_pid $ref_pid; do
    kill -INT "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  echo "--- gateway log (tail)" >&2
  tail -20 "$tmp/gw.log" >&2 || true
  exit 1
}

port=$(node -e 'const s=require("net").createServer();
s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$gw" --host 127.0.0.1 --port "$port" --rate-limit 0 --log-level info \
  >"$tmp/gw.log" 2>&1 &
gw_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$tmp/gw.log" 2>/dev/null && break
  kill -0 "$gw_pid" 2>/dev/null || fail "gateway exited at startup"
  sleep 0.1
done
grep -q "listening on" "$tmp/gw.log" || fail "gateway not listening after 10 s"
url="ws://127.0.0.1:$port"

# check NAME FILE JS: evaluates JS with r = the last stdout line's JSON,
# m = the server_memory line (if any) and log = the run's stderr (FILE with
# .err for .json); JS returns an error string or "".
check() {
  local name=$1 file=$2 js=$3
  node -e '
    const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n");
    const log = fs.readFileSync(process.argv[1].replace(/\.json$/, ".err"), "utf8");
    const r = JSON.parse(lines[lines.length - 1]);
    const mline = lines.find((l) => l.startsWith("{\"servers\""));
    const m = mline ? JSON.parse(mline).servers : null;
    const keys = ["clients_connected", "connect_errors", "sent", "expected",
      "delivered", "lost", "delivered_per_s", "duration_s", "latency_ms"];
    const got = Object.keys(r);
    if (JSON.stringify(got) !== JSON.stringify(keys))
      { console.log("keys " + got.join(",")); process.exit(1); }
    const lk = Object.keys(r.latency_ms).join(",");
    if (lk !== "p50,p90,p99,p999,max") { console.log("latency keys " + lk); process.exit(1); }
    const err = (function (r, m, log) { '"$js"' })(r, m, log);
    if (err) { console.log(err + " in " + JSON.stringify(r)); process.exit(1); }
  ' "$file" || { tail -12 "${file%.json}.err" >&2; fail "$name"; }
  echo "smoke: $name ok: $(tail -1 "$file")"
}

timeout 90 "$flood" --url "$url" --clients 40 --rooms 4 --rate 200 \
  --duration 4 --procs 2 --ramp 400 --json >"$tmp/flood.json" 2>"$tmp/flood.err" ||
  { cat "$tmp/flood.err" >&2; fail "flood run exited $?"; }
check flood "$tmp/flood.json" '
  if (r.clients_connected !== 40 || r.connect_errors !== 0) return "clients";
  if (r.sent < 760 || r.sent > 840) return "sent not ~800";
  if (r.expected !== 10 * r.sent) return "expected != 10 x sent";
  if (r.delivered !== r.expected || r.lost !== 0) return "lost messages";
  if (!(r.latency_ms.p50 > 0 && r.latency_ms.p50 <= r.latency_ms.p99 &&
        r.latency_ms.p99 <= r.latency_ms.max)) return "latency order";
  return "";'

timeout 60 "$flood" --url "$url" --clients 100 --handshake --ramp 0 --json \
  >"$tmp/hs.json" 2>"$tmp/hs.err" ||
  { cat "$tmp/hs.err" >&2; fail "handshake run"; }
check handshake "$tmp/hs.json" '
  if (r.clients_connected !== 100 || r.delivered !== 100 || r.lost !== 0)
    return "handshakes";
  if (!(r.delivered_per_s > 0 && r.latency_ms.max > 0)) return "rate";
  return "";'

timeout 60 "$flood" --url "$url" --clients 20 --rooms 2 --rate 0 --duration 2 \
  --server-pid "$gw_pid" --json >"$tmp/idle.json" 2>"$tmp/idle.err" ||
  { cat "$tmp/idle.err" >&2; fail "idle run"; }
check idle "$tmp/idle.json" '
  if (r.clients_connected !== 20 || r.sent !== 0) return "idle clients";
  if (!m || m.length !== 1 || !(m[0].rss_connected_kb > 0)) return "memory";
  return "";'

kill -0 "$gw_pid" 2>/dev/null || fail "gateway died during the runs"

# ---- polling and upgrade ----------------------------------------------------
case $POLL_SERVER in
node)
  [ -d "$here/reference/node_modules/socket.io" ] ||
    fail "loadtest/reference/node_modules missing (scripts/setup.sh --test)"
  ref_port=$(node -e 'const s=require("net").createServer();
s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  node "$here/reference/server.js" --host 127.0.0.1 --port "$ref_port" \
    --rate-limit 0 >"$tmp/ref.log" 2>&1 &
  ref_pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$tmp/ref.log" 2>/dev/null && break
    kill -0 "$ref_pid" 2>/dev/null || { cat "$tmp/ref.log" >&2; fail "reference exited"; }
    sleep 0.1
  done
  grep -q "listening on" "$tmp/ref.log" || fail "reference not listening after 10 s"
  purl="http://127.0.0.1:$ref_port"
  ;;
gateway) purl=${url/ws:/http:} ;;
*) fail "POLL_SERVER is node or gateway, not $POLL_SERVER" ;;
esac
echo "smoke: polling and upgrade against $POLL_SERVER ($purl)"

# polling line: "polling: GETs G, POSTs P on C connections, resent R,
# upgrades U, HTTP errors E[, code N: k...]"
pollfacts='
  const pm = log.match(/polling: GETs (\d+), POSTs (\d+) on (\d+) connections, resent (\d+), upgrades (\d+), HTTP errors (\d+)(.*)/);
  if (!pm) return "no polling line";
  const [gets, posts, conns, resent, upgrades, herr] = pm.slice(1, 7).map(Number);
  const codes = pm[7];'

for tr in polling upgrade; do
  timeout 60 "$flood" --url "$purl" --transport "$tr" --clients 20 --rooms 2 \
    --rate 100 --duration 3 --ramp 200 --json >"$tmp/$tr.json" 2>"$tmp/$tr.err" ||
    { tail -12 "$tmp/$tr.err" >&2; fail "$tr run exited $?"; }
done
check polling "$tmp/polling.json" "$pollfacts"'
  if (!/transport polling\n/.test(log)) return "transport not named";
  if (r.clients_connected !== 20 || r.connect_errors !== 0) return "clients";
  if (r.sent < 280 || r.sent > 320) return "sent not ~300";
  if (r.expected !== 10 * r.sent) return "expected != 10 x sent";
  if (r.delivered !== r.expected || r.lost !== 0) return "lost messages";
  if (!/disconnects 0, chat errors 0, protocol errors 0,/.test(log)) return "errors";
  /* every client: the handshake GET and long-polls; 40, create and the
     messages by POST; at most 2 connections each, plus keep-alive reopens */
  if (gets < 3 * 20 || posts < 2 * 20 + r.sent * 0.5) return "too few requests";
  if (conns < 40 || upgrades !== 0 || herr !== 0) return "connections, upgrades or errors";
  return "";'
check upgrade "$tmp/upgrade.json" "$pollfacts"'
  if (!/transport upgrade\n/.test(log)) return "transport not named";
  if (r.clients_connected !== 20 || r.connect_errors !== 0) return "clients";
  if (r.sent < 280 || r.sent > 320) return "sent not ~300";
  if (r.expected !== 10 * r.sent) return "expected != 10 x sent";
  if (r.delivered !== r.expected || r.lost !== 0) return "lost messages";
  if (!/disconnects 0, chat errors 0, protocol errors 0,/.test(log)) return "errors";
  /* the run is on the WebSocket: few requests, all before it */
  if (upgrades !== 20 || herr !== 0) return "upgrades";
  if (posts > 2 * 20 || gets > 10 * 20) return "sends went by POST after the upgrade";
  return "";'

timeout 60 "$flood" --url "$purl/socket.io/?EIO=3&transport=websocket" \
  --transport polling --clients 4 --rooms 1 --rate 0 --duration 1 --json \
  >"$tmp/refused.json" 2>"$tmp/refused.err" && fail "refused run exited 0"
check refused "$tmp/refused.json" "$pollfacts"'
  if (r.clients_connected !== 0 || r.connect_errors !== 4) return "clients";
  if (herr !== 4 || codes !== ", code 5: 4") return "HTTP errors " + herr + codes;
  return "";'

echo "smoke: 6 passed, 0 failed"
