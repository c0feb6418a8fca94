#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fl_smoke.sh: CI smoke run of chat-flood against a real gateway (ctest
# label load-smoke, ~15 s). Starts $CHAT_GATEWAY_BIN on a free loopback
# port, then checks three short runs:
#   flood     40 clients in 4 rooms of 10, 200 msg/s for 4 s, 2 processes:
#             every key present, delivered == expected == 10 x sent, lost 0
#   handshake 100 clients: all connected, delivered == expected == 100
#   idle      20 clients held 2 s with --server-pid: servers line present (RSS, CPU)
# Needs: CHAT_GATEWAY_BIN, CHAT_FLOOD_BIN (ctest sets both), node.
set -euo pipefail

gw=${CHAT_GATEWAY_BIN:?CHAT_GATEWAY_BIN must point at chat-gateway}
flood=${CHAT_FLOOD_BIN:?CHAT_FLOOD_BIN must point at chat-flood}
tmp=$(mktemp -d)
gw_pid=
cleanup() {
  if [ -n "$gw_pid" ]; then
    kill -INT "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  fi
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

# check NAME FILE JS: evaluates JS with r = the last stdout line's JSON and
# m = the server_memory line (if any); JS returns an error string or "".
check() {
  local name=$1 file=$2 js=$3
  node -e '
    const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n");
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
    const err = (function (r, m) { '"$js"' })(r, m);
    if (err) { console.log(err + " in " + JSON.stringify(r)); process.exit(1); }
  ' "$file" || fail "$name"
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
echo "smoke: 3 passed, 0 failed"
