#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup.sh: install what a fresh Debian 12 machine lacks (apt, npm) and build.
#   scripts/setup.sh          run-time needs: build deps, redis, nginx
#   scripts/setup.sh --test   also what the test suite needs (chromium, ...)
# Environment: BUILD_DIR (default build), SANITIZE (e.g. address,undefined),
# GW_CMAKE_ARGS (more cmake -D options, e.g. -DGW_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(build-essential cmake pkg-config git ca-certificates
      libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libhiredis-dev
      libjansson-dev redis-server nginx-light nodejs npm)
if [ "$want_test" = 1 ]; then
  # python3-socketio (+ requests, websocket: its polling and WebSocket
  # transports) is the third-party client of interop.python.
  pkgs+=(chromium clang-format python3 yamllint gnuplot-nox valgrind procps iproute2 curl openssl
        python3-socketio python3-requests python3-websocket)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
# nodejs/npm may come from elsewhere (e.g. a NodeSource or preinstalled node).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}")
  missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Node packages: the official socket.io-client (also served to the browser),
# ws and playwright-core for tests; the reference peer and manifest checks
# have their own lock files.
for d in . loadtest/reference deploy/tools; do
  if [ -f "$d/package-lock.json" ] && { [ "$d" = . ] || [ "$want_test" = 1 ]; }; then
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
done

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086 # GW_CMAKE_ARGS is a list of words
cmake -S . -B "$BUILD_DIR" -DSANITIZE="${SANITIZE:-}" ${GW_CMAKE_ARGS:-} \
  >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
