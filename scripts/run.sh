#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh: install, build and start one gateway on http://localhost:8000 with
# the in-memory adapter. Extra arguments go to chat-gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${BUILD_DIR:-build}/chat-gateway" --port "${CHAT_PORT:-8000}" "$@"
