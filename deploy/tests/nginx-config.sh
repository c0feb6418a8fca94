#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy.nginx_config: render deploy/nginx/nginx.conf.template for three
# 127.0.0.1 upstreams in each affinity mode (none, the default; cookie; ip),
# require `nginx -t` (Debian nginx-light) to accept each, check the
# directives the deploy and long-polling issues require, show the check is
# live (a broken copy must be rejected), and run each mode for real in
# front of three stub upstreams (python3) to see where requests land:
# spread with no affinity, pinned by the chat_node cookie (and re-pinned
# when its instance dies), pinned by the client address.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
render=$here/../nginx/render.sh
nginx=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

mkdir -p "$tmp/logs" "$tmp/temp"
chmod 755 "$tmp" # as root, the workers run as nobody
ups=(--upstream gw1=127.0.0.1:19001 --upstream gw2=127.0.0.1:19002
  --upstream gw3=127.0.0.1:19003)
for mode in none cookie ip; do
  "$render" --prefix "$tmp" --listen 127.0.0.1:18080 "${ups[@]}" \
    --affinity "$mode" >"$tmp/$mode.conf"
  if "$nginx" -t -p "$tmp" -c "$tmp/$mode.conf" >"$tmp/t.out" 2>&1; then
    ok "nginx -t accepts the rendered config (--affinity $mode)"
  else
    bad "nginx -t rejected the rendered config (--affinity $mode):"; sed 's/^/    /' "$tmp/t.out"
  fi
done
# The default is no affinity.
"$render" --prefix "$tmp" --listen 127.0.0.1:18080 "${ups[@]}" >"$tmp/nginx.conf"
if cmp -s "$tmp/nginx.conf" "$tmp/none.conf"; then ok "the default is --affinity none"
else bad "the default differs from --affinity none"; fi
conf=$tmp/nginx.conf

# Directives the issues ask for (comments stripped before matching).
strip() { sed 's/#.*//' "$1"; }
body=$(strip "$conf")
sio=$(awk '/location \/socket\.io\//,/^        }/' <<<"$body")
need() {
  if grep -qE -- "$1" <<<"${3:-$body}"; then ok "has: $2"; else bad "missing: $2 (/$1/)"; fi
}
need 'map \$http_upgrade \$connection_upgrade' 'map $http_upgrade $connection_upgrade'
need 'proxy_http_version 1\.1;' 'proxy_http_version 1.1'
need 'proxy_set_header Upgrade \$http_upgrade;' 'Upgrade header passed'
need 'proxy_set_header Connection \$connection_upgrade;' 'Connection header from the map'
need 'location /socket\.io/' 'location /socket.io/'
need 'proxy_buffering off;' 'proxy_buffering off in /socket.io/ (long-poll answers flow at once)' "$sio"
need 'proxy_request_buffering off;' 'proxy_request_buffering off in /socket.io/' "$sio"
need 'location = /healthz' 'location = /healthz (passthrough)'
need 'location / \{' 'location / (static page)'
need 'max_fails=[0-9]+ fail_timeout=[0-9]+s' 'max_fails/fail_timeout on every pool server'
need 'proxy_next_upstream [^;]*http_503' 'proxy_next_upstream on 503 (draining gateway refuses upgrades)'
need 'worker_connections [0-9]+;' 'worker_connections'
need 'worker_rlimit_nofile [0-9]+;' 'worker_rlimit_nofile'
need 'server 127\.0\.0\.1:19003 max_fails' 'all three upstreams rendered'
need 'least_conn;' 'least_conn in the pool (no affinity)'
if grep -qE 'proxy_next_upstream[^;]*http_50[24]' <<<"$sio"; then
  bad "/socket.io/ retries (and counts against max_fails) a gateway's 502/504, which mean a failed relay"
else ok "/socket.io/ does not retry a failed relay's 502/504"; fi
if grep -qE 'proxy_next_upstream[^;]*non_idempotent' <<<"$body"; then
  bad "proxy_next_upstream retries POSTs (a polling POST would be delivered twice)"
else ok "polling POSTs are never retried (no non_idempotent)"; fi

# Long-polling: the read timeout holds a long-poll GET past pingInterval
# (25 s) plus slack, and more than pingInterval + pingTimeout (25 s + 20 s)
# keeps an idle WebSocket; POST bodies up to --max-payload (1000000).
for d in proxy_read_timeout proxy_send_timeout; do
  v=$(sed -n "s/.*$d \([0-9]*\)s;.*/\1/p" <<<"$sio" | head -1)
  if [ -n "$v" ] && [ "$v" -gt 45 ]; then ok "$d ${v}s > 45s"; else bad "$d '${v}' is not above 45s"; fi
done
cmb=$(sed -n 's/.*client_max_body_size \([0-9]*\)\([kKmM]\{0,1\}\);.*/\1 \2/p' <<<"$sio" | head -1)
read -r n unit <<<"${cmb:-0 x}"
case "$unit" in m | M) n=$((n * 1048576)) ;; k | K) n=$((n * 1024)) ;; x) n=0 ;; esac
if [ "$n" -ge 1000000 ]; then ok "client_max_body_size in /socket.io/ ($n bytes) >= --max-payload 1000000"
else bad "client_max_body_size in /socket.io/ is missing or below 1000000 bytes"; fi

wc=$(sed -n 's/.*worker_connections \([0-9]*\);.*/\1/p' <<<"$body")
rl=$(sed -n 's/.*worker_rlimit_nofile \([0-9]*\);.*/\1/p' <<<"$body")
if [ "$wc" -ge 4096 ] && [ "$wc" -lt "$rl" ]; then ok "worker_connections $wc >= 4096 and < worker_rlimit_nofile $rl"
else bad "worker_connections $wc / worker_rlimit_nofile $rl"; fi
if grep -qE '/var/|/run/' <<<"$body"; then bad "refers to /var or /run paths"; else ok "all paths under the prefix"; fi

# No affinity by default; each mode has its own and nothing else.
if grep -qE '^\s*(hash|ip_hash|sticky)\b|\$cookie_' <<<"$body"; then bad "the default config has affinity"
else ok "the default config has no affinity (no hash, ip_hash, sticky, cookie)"; fi
ip=$(strip "$tmp/ip.conf")
need 'hash \$remote_addr consistent;' '--affinity ip: hash $remote_addr consistent' "$ip"
if grep -qE 'least_conn|\$cookie_' <<<"$ip"; then bad "--affinity ip keeps least_conn or a cookie"; else ok "--affinity ip: nothing else"; fi
ck=$(strip "$tmp/cookie.conf")
need 'map \$cookie_chat_node \$chat_backend' '--affinity cookie: routes by the chat_node cookie' "$ck"
need 'add_header Set-Cookie \$chat_node_set_cookie always;' '--affinity cookie: sets the cookie' "$ck"
need 'upstream chat_node_gw2 \{' '--affinity cookie: one upstream per instance' "$ck"
need 'server 127\.0\.0\.1:19001 backup;' '--affinity cookie: the others back an instance up' "$ck"
for mode in none cookie ip; do
  if grep -qE 'hash \$arg_sid' <(strip "$tmp/$mode.conf"); then bad "--affinity $mode uses hash \$arg_sid (a handshake has no sid)"
  else ok "--affinity $mode: no hash \$arg_sid"; fi
  if grep -qE '@[A-Z_]+@|^# \[(affinity:|end\])' "$tmp/$mode.conf"; then bad "--affinity $mode left a placeholder or section marker"
  else ok "--affinity $mode: no placeholder or section marker left"; fi
done

# The check is live: a typo and an unresolvable upstream are rejected.
sed 's/proxy_read_timeout/proxy_read_timout/' "$conf" >"$tmp/typo.conf"
if "$nginx" -t -p "$tmp" -c "$tmp/typo.conf" >/dev/null 2>&1; then bad "nginx -t accepted a typo"
else ok "nginx -t rejects a misspelt directive"; fi
"$render" --prefix "$tmp" --listen 127.0.0.1:18080 \
  --upstream gw1=no-such-host.invalid:19001 >"$tmp/dns.conf"
if "$nginx" -t -p "$tmp" -c "$tmp/dns.conf" >/dev/null 2>&1; then bad "nginx -t accepted an unresolvable upstream"
else ok "nginx -t rejects an unresolvable upstream"; fi
if "$render" --prefix "$tmp" --listen 1 --upstream 'bad id=1:2' >/dev/null 2>&1; then
  bad "render.sh accepted a bad node id"; else ok "render.sh rejects a bad node id"; fi
if "$render" --prefix "$tmp" --listen 1 --upstream gw1=1.2.3.4:5 --affinity sid >/dev/null 2>&1; then
  bad "render.sh accepted --affinity sid"; else ok "render.sh rejects an unknown --affinity"; fi
if "$render" --prefix "$tmp" --listen 1 --upstream gw1=gw1.local:5 --affinity cookie >/dev/null 2>&1; then
  bad "render.sh accepted --affinity cookie with a host name"
else ok "render.sh --affinity cookie wants IP:PORT upstreams"; fi

# ---- live: where do requests land? ----------------------------------
if ! command -v python3 >/dev/null || ! command -v curl >/dev/null; then
  bad "python3 and curl are needed for the live checks (scripts/setup.sh --test)"
  echo "$pass passed, $fail failed"; exit 1
fi
# Three stub upstreams: each answers every GET with its name, on a free
# port it prints.
cat >"$tmp/stub.py" <<'EOF'
import http.server, sys
name = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
declare -A stub_pid
live=()
for n in gw1 gw2 gw3; do
  mkfifo "$tmp/$n.port"
  python3 "$tmp/stub.py" "$n" >"$tmp/$n.port" &
  stub_pid[$n]=$!
  pids+=($!)
  read -r -t 10 port <"$tmp/$n.port" || { bad "stub $n did not start"; echo "$pass passed, $fail failed"; exit 1; }
  live+=(--upstream "$n=127.0.0.1:$port")
done
lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$lport/socket.io/?EIO=4

# run_nginx MODE: renders MODE for the stubs and starts nginx in front.
ngx_pid=""
run_nginx() {
  "$render" --prefix "$tmp" --listen "127.0.0.1:$lport" "${live[@]}" --affinity "$1" >"$tmp/live.conf"
  "$nginx" -p "$tmp" -c "$tmp/live.conf" -g 'daemon off;' 2>>"$tmp/logs/live.err" &
  ngx_pid=$!
  pids+=("$ngx_pid")
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$lport/nginx-healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  bad "nginx ($1) did not come up: $(cat "$tmp/logs/live.err")"
  return 1
}
stop_nginx() { kill "$ngx_pid" 2>/dev/null || true; wait "$ngx_pid" 2>/dev/null || true; }
# hits [CURL ARGS]: the names of the stubs that answered 6 requests, sorted
# and deduplicated, e.g. "gw1 gw2 gw3".
hits() {
  local i
  for i in 1 2 3 4 5 6; do curl -s "$@" "$url&i=$i"; echo; done | sort -u | xargs
}

if run_nginx none; then
  got=$(hits)
  [ "$got" = "gw1 gw2 gw3" ] && ok "--affinity none: 6 requests reach all 3 instances" ||
    bad "--affinity none: 6 requests reached '$got', not all 3"
  got=$(hits -c "$tmp/jar0" -b "$tmp/jar0")
  [ "$got" = "gw1 gw2 gw3" ] && ok "--affinity none: a client with a cookie jar is spread too" ||
    bad "--affinity none: a client with a cookie jar reached '$got'"
  stop_nginx
fi

if run_nginx ip; then
  got=$(hits)
  [ "$(wc -w <<<"$got")" = 1 ] && ok "--affinity ip: one client address, one instance ($got)" ||
    bad "--affinity ip: one address reached '$got'"
  stop_nginx
fi

if run_nginx cookie; then
  got=$(hits)
  [ "$got" = "gw1 gw2 gw3" ] && ok "--affinity cookie: clients without the cookie are spread" ||
    bad "--affinity cookie: cookie-less requests reached '$got'"
  jar=$tmp/jar
  first=$(curl -s -c "$jar" -b "$jar" "$url")
  pinned=$(awk '$6 == "chat_node" {print $7}' "$jar")
  [ -n "$first" ] && [ "$pinned" = "$first" ] && ok "--affinity cookie: the first answer sets chat_node=$first (path /socket.io/)" ||
    bad "--affinity cookie: first answer from '$first', cookie '$pinned'"
  got=$(hits -c "$jar" -b "$jar")
  [ "$got" = "$first" ] && ok "--affinity cookie: 6 more requests stay on $first" ||
    bad "--affinity cookie: pinned to $first, reached '$got'"
  hdr=$(curl -s -D - -o /dev/null -c "$jar" -b "$jar" "$url")
  if grep -qi '^set-cookie' <<<"$hdr"; then bad "--affinity cookie: the cookie is re-sent although it is right"
  else ok "--affinity cookie: no Set-Cookie when the cookie already names the instance"; fi
  forged=$(hits -b "chat_node=nope")
  [ "$forged" = "gw1 gw2 gw3" ] && ok "--affinity cookie: an unknown chat_node value is balanced" ||
    bad "--affinity cookie: chat_node=nope reached '$forged'"
  # Its instance dies: a backup answers (the gateway would say "Session ID
  # unknown" and the client reconnects), and the cookie follows it.
  kill "${stub_pid[$first]}"
  wait "${stub_pid[$first]}" 2>/dev/null || true
  second=$(curl -s -c "$jar" -b "$jar" "$url")
  pinned=$(awk '$6 == "chat_node" {print $7}' "$jar")
  if [ -n "$second" ] && [ "$second" != "$first" ] && [ "$pinned" = "$second" ]; then
    ok "--affinity cookie: $first down, a backup ($second) answers and the cookie follows it"
  else bad "--affinity cookie: $first down, answer '$second', cookie '$pinned'"; fi
  got=$(hits -c "$jar" -b "$jar")
  [ "$got" = "$second" ] && ok "--affinity cookie: then stays on $second" ||
    bad "--affinity cookie: re-pinned to $second, reached '$got'"
  stop_nginx
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
