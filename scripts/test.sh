#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh: install, build and run every test (unit, end-to-end, browser,
# deploy checks). Extra arguments go to ctest (e.g. -L unit, -R protocol).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
