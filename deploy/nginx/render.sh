#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# render.sh: turn deploy/nginx/nginx.conf.template into a runnable nginx.conf.
#
#   render.sh --prefix DIR --listen [ADDR:]PORT --upstream NODE=HOST:PORT ...
#             [--template FILE] [--rlimit N] > nginx.conf
#
# --prefix   directory nginx runs under (-p): pid, logs/, temp/ go there.
# --upstream one per gateway; NODE is its --node-id (used for sid routing).
# --rlimit   worker_rlimit_nofile (default: this shell's hard open-file
#            limit, capped at 1048576); worker_connections is derived from it.
# Upstream hosts must be addresses or resolvable names (nginx resolves them
# when it loads the config).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
template=$here/nginx.conf.template
prefix=""
listen=""
rlimit=""
nodes=()
addrs=()

die() { echo "render.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?}; shift 2 ;;
    --listen) listen=${2:?}; shift 2 ;;
    --template) template=${2:?}; shift 2 ;;
    --rlimit) rlimit=${2:?}; shift 2 ;;
    --upstream)
      u=${2:?}
      [[ $u == *=*:* ]] || die "--upstream wants NODE=HOST:PORT, got '$u'"
      node=${u%%=*}
      [[ $node =~ ^[A-Za-z0-9_-]+$ ]] || die "bad node id '$node' (letters, digits, _ and - only)"
      nodes+=("$node")
      addrs+=("${u#*=}")
      shift 2 ;;
    -h | --help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$prefix" ] || die "--prefix is required"
[ -n "$listen" ] || die "--listen is required"
[ ${#nodes[@]} -gt 0 ] || die "at least one --upstream is required"
[ -r "$template" ] || die "cannot read template $template"

if [ -z "$rlimit" ]; then
  rlimit=$(ulimit -Hn)
  [ "$rlimit" = unlimited ] && rlimit=1048576
  [ "$rlimit" -gt 1048576 ] && rlimit=1048576
fi
# Leave room for listen sockets, logs and the master's descriptors.
conns=$((rlimit - 256))
[ "$conns" -lt 1024 ] && conns=1024

# As root the workers switch to an unprivileged user; state stays readable.
user_directive="# (not root: workers run as the invoking user)"
if [ "$(id -u)" = 0 ]; then
  user_directive="user nobody nogroup;"
fi

pool="" sidmap="" nodeups=""
for i in "${!nodes[@]}"; do
  n=${nodes[$i]} a=${addrs[$i]}
  pool+="        server $a max_fails=2 fail_timeout=5s;"$'\n'
  sidmap+="        ~^${n}\\. chat_node_${n};"$'\n'
  nodeups+="    upstream chat_node_${n} { server $a; }"$'\n'
done

# Plain bash substitution (no sed): values may contain '/', '&' or '\'.
shopt -u patsub_replacement 2>/dev/null || true
out=$(<"$template")
out=${out//@USER_DIRECTIVE@/$user_directive}
out=${out//@WORKER_RLIMIT_NOFILE@/$rlimit}
out=${out//@WORKER_CONNECTIONS@/$conns}
out=${out//@PREFIX@/$prefix}
out=${out//@LISTEN@/$listen}
out=${out//@POOL_SERVERS@/${pool%$'\n'}}
out=${out//@SID_MAP@/${sidmap%$'\n'}}
out=${out//@NODE_UPSTREAMS@/${nodeups%$'\n'}}
if grep -qE '@[A-Z_]+@' <<<"$out"; then
  die "unreplaced placeholder: $(grep -oE '@[A-Z_]+@' <<<"$out" | head -1)"
fi
printf '%s\n' "$out"
