#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy.dockerfile: static checks of deploy/docker/Dockerfile. No container
# engine runs here, so the image is not built; instead:
#   - multi-stage on Debian bookworm, non-root USER, entrypoint;
#   - the runtime stage installs libwebsockets17 AND libwebsockets-evlib-uv
#     (lws loads its libuv plugin at run time; ldd cannot see it), libuv1,
#     libhiredis0.14, libjansson4, and these names exist in apt;
#   - if the gateway binary is built (CHAT_GATEWAY_BIN), every shared library
#     it links comes from a runtime package or one of their dependencies;
#   - the files the build stage copies exist in the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
df=$repo/deploy/docker/Dockerfile
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# Joined logical lines, comments dropped.
body=$(sed 's/#.*//' "$df" | sed ':a;/\\$/{N;s/\\\n/ /;ba}')
runtime=$(awk '/^FROM .* AS runtime/{r=1} r' <<<"$body")

grep -qE '^FROM debian:bookworm(@|\s)' <<<"$body" && ok "build stage FROM debian:bookworm" || bad "build stage is not debian:bookworm"
grep -qE '^FROM debian:bookworm-slim AS runtime' <<<"$body" && ok "runtime stage FROM debian:bookworm-slim" || bad "no bookworm-slim runtime stage"
[ "$(grep -cE '^FROM ' <<<"$body")" -ge 2 ] && ok "multi-stage" || bad "single stage"
pkgs=(libwebsockets17 libwebsockets-evlib-uv libuv1 libhiredis0.14 libjansson4)
for p in "${pkgs[@]}"; do
  grep -qE "apt-get install[^&]* $p( |$)" <<<"$runtime" && ok "runtime installs $p" || bad "runtime does not install $p"
done
u=$(sed -n 's/^USER \([^ ]*\).*/\1/p' <<<"$runtime" | tail -1)
case "$u" in "" | root | 0 | 0:*) bad "runtime USER is '${u:-unset}' (must be non-root)" ;; *) ok "runtime USER $u" ;; esac
grep -qE '^ENTRYPOINT \["/usr/local/bin/chat-gateway"\]' <<<"$runtime" && ok "ENTRYPOINT chat-gateway" || bad "no ENTRYPOINT"
grep -qE '^ENV .*CHAT_HOST=0\.0\.0\.0' <<<"$runtime" && ok "listens on 0.0.0.0 in the container" || bad "CHAT_HOST not 0.0.0.0"
for f in package.json package-lock.json web CMakeLists.txt; do
  [ -e "$repo/$f" ] && ok "build input $f exists" || bad "build input $f missing from the repository"
done
grep -q 'socket.io-client' "$repo/package.json" && ok "package.json provides socket.io-client (copied from dist/)" || bad "package.json lacks socket.io-client"
ign=$repo/deploy/docker/Dockerfile.dockerignore
for p in '**/node_modules' build 'build-*' .git; do
  grep -qxF -- "$p" "$ign" && ok "build context ignores $p" || bad "$ign does not ignore $p"
done

if command -v apt-cache >/dev/null && [ -n "$(apt-cache policy libc6 2>/dev/null | sed -n 's/ *Candidate: //p' | grep -v none)" ]; then
  for p in "${pkgs[@]}"; do
    apt-cache show "$p" >/dev/null 2>&1 && ok "apt knows $p" || bad "apt has no package $p"
  done
  if [ -n "${CHAT_GATEWAY_BIN:-}" ] && ldd "$CHAT_GATEWAY_BIN" 2>/dev/null | grep -qE 'lib(a|ub|t|l)san'; then
    echo "SKIP ldd check: $CHAT_GATEWAY_BIN is a sanitizer build (it links runtimes a release image does not ship)"
  elif [ -n "${CHAT_GATEWAY_BIN:-}" ] && [ -x "$CHAT_GATEWAY_BIN" ] && command -v dpkg >/dev/null; then
    closure=" $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "${pkgs[@]}" 2>/dev/null |
      sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([^ <>]*\).*/\2/p; s/^\([a-z0-9][^ ]*\)$/\1/p' |
      sed 's/:.*//' | sort -u | tr '\n' ' ') "
    missing=""
    while read -r lib; do
      [ -n "$lib" ] || continue
      real=$(readlink -f "$lib")
      owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
      owner=${owner%%:*}
      if [ -z "$owner" ]; then missing+=" $lib(no package)"; continue; fi
      case "$closure" in *" $owner "*) ;; *) missing+=" $lib($owner)" ;; esac
    done < <(ldd "$CHAT_GATEWAY_BIN" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p')
    [ -z "$missing" ] && ok "every library ldd lists for chat-gateway is provided by the runtime packages" ||
      bad "libraries not covered by the runtime stage:$missing"
  else
    echo "SKIP ldd check: CHAT_GATEWAY_BIN not built"
  fi
else
  echo "SKIP apt-cache checks: no apt package lists on this machine"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
