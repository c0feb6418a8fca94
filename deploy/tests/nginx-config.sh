#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy.nginx_config: render deploy/nginx/nginx.conf.template for three
# 127.0.0.1 upstreams, require `nginx -t` (Debian nginx-light) to accept it,
# check the directives the deploy issue requires, and show the check is live
# (a broken copy must be rejected).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nginx=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

mkdir -p "$tmp/logs" "$tmp/temp"
"$here/../nginx/render.sh" --prefix "$tmp" --listen 127.0.0.1:18080 \
  --upstream gw1=127.0.0.1:19001 --upstream gw2=127.0.0.1:19002 \
  --upstream gw3=127.0.0.1:19003 >"$tmp/nginx.conf"
conf=$tmp/nginx.conf

if "$nginx" -t -p "$tmp" -c "$conf" >"$tmp/t.out" 2>&1; then
  ok "nginx -t accepts the rendered config"
else
  bad "nginx -t rejected the rendered config:"; sed 's/^/    /' "$tmp/t.out"
fi

# Directives the issue asks for (comments stripped before matching).
body=$(sed 's/#.*//' "$conf")
need() {
  if grep -qE -- "$1" <<<"$body"; then ok "has: $2"; else bad "missing: $2 (/$1/)"; fi
}
need 'map \$http_upgrade \$connection_upgrade' 'map $http_upgrade $connection_upgrade'
need 'proxy_http_version 1\.1;' 'proxy_http_version 1.1'
need 'proxy_set_header Upgrade \$http_upgrade;' 'Upgrade header passed'
need 'proxy_set_header Connection \$connection_upgrade;' 'Connection header from the map'
need 'proxy_buffering off;' 'proxy_buffering off'
need 'location /socket\.io/' 'location /socket.io/'
need 'location = /healthz' 'location = /healthz (passthrough)'
need 'location / \{' 'location / (static page)'
need 'max_fails=[0-9]+ fail_timeout=[0-9]+s' 'max_fails/fail_timeout on every pool server'
need 'proxy_next_upstream [^;]*http_503' 'proxy_next_upstream on 503 (draining gateway refuses upgrades)'
need 'worker_connections [0-9]+;' 'worker_connections'
need 'worker_rlimit_nofile [0-9]+;' 'worker_rlimit_nofile'
need 'map \$arg_sid \$chat_backend' 'sid-prefix routing map for long-polling'
need 'server 127\.0\.0\.1:19003 max_fails' 'all three upstreams rendered'

# Timeouts above pingInterval + pingTimeout (25 s + 20 s).
for d in proxy_read_timeout proxy_send_timeout; do
  v=$(awk '/location \/socket\.io\//,/}/' <<<"$body" | sed -n "s/.*$d \([0-9]*\)s;.*/\1/p" | head -1)
  if [ -n "$v" ] && [ "$v" -gt 45 ]; then ok "$d ${v}s > 45s"; else bad "$d '${v}' is not above 45s"; fi
done
wc=$(sed -n 's/.*worker_connections \([0-9]*\);.*/\1/p' <<<"$body")
rl=$(sed -n 's/.*worker_rlimit_nofile \([0-9]*\);.*/\1/p' <<<"$body")
if [ "$wc" -ge 4096 ] && [ "$wc" -lt "$rl" ]; then ok "worker_connections $wc >= 4096 and < worker_rlimit_nofile $rl"
else bad "worker_connections $wc / worker_rlimit_nofile $rl"; fi
if grep -qE 'hash \$arg_sid' <<<"$body"; then bad "uses hash \$arg_sid (breaks Engine.IO handshakes)"; else ok "no hash \$arg_sid"; fi
if grep -qE '/var/|/run/' <<<"$body"; then bad "refers to /var or /run paths"; else ok "all paths under the prefix"; fi

# The check is live: a typo and an unresolvable upstream are rejected.
sed 's/proxy_read_timeout/proxy_read_timout/' "$conf" >"$tmp/typo.conf"
if "$nginx" -t -p "$tmp" -c "$tmp/typo.conf" >/dev/null 2>&1; then bad "nginx -t accepted a typo"
else ok "nginx -t rejects a misspelt directive"; fi
"$here/../nginx/render.sh" --prefix "$tmp" --listen 127.0.0.1:18080 \
  --upstream gw1=no-such-host.invalid:19001 >"$tmp/dns.conf"
if "$nginx" -t -p "$tmp" -c "$tmp/dns.conf" >/dev/null 2>&1; then bad "nginx -t accepted an unresolvable upstream"
else ok "nginx -t rejects an unresolvable upstream"; fi
if "$here/../nginx/render.sh" --prefix "$tmp" --listen 1 --upstream 'bad id=1:2' >/dev/null 2>&1; then
  bad "render.sh accepted a bad node id"; else ok "render.sh rejects a bad node id"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
