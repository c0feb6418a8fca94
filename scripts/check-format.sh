#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-format.sh: fail when a tracked C file differs from what clang-format
# (Debian 12's, version 14, with .clang-format) would make of it. ctest runs
# it as lint.format; `clang-format -i <file>` fixes what it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c' '*.h')
else
  mapfile -t files < <(find common proto adapter chat gateway loadtest tests \
    -name '*.[ch]' -not -path '*/node_modules/*')
fi
[ ${#files[@]} -gt 0 ] || { echo "no C files found" >&2; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "${#files[@]} files formatted"
