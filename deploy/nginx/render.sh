#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# render.sh: turn deploy/nginx/nginx.conf.template into a runnable nginx.conf.
#
#   render.sh --prefix DIR --listen [ADDR:]PORT --upstream NODE=HOST:PORT ...
#             [--affinity none|cookie|ip] [--template FILE] [--rlimit N]
#             > nginx.conf
#
# --prefix   directory nginx runs under (-p): pid, logs/, temp/ go there.
# --upstream one per gateway; NODE names it (the chat_node cookie's value).
# --affinity none (default): balanced with no affinity, the gateways relay;
#            cookie: a chat_node cookie pins a browser to an instance (its
#            HOST must then be an IP address, as nginx reports it);
#            ip: hash $remote_addr consistent. See the template's comments.
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
affinity=none
nodes=()
addrs=()

die() { echo "render.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?}; shift 2 ;;
    --listen) listen=${2:?}; shift 2 ;;
    --template) template=${2:?}; shift 2 ;;
    --rlimit) rlimit=${2:?}; shift 2 ;;
    --affinity) affinity=${2:?}; shift 2 ;;
    --upstream)
      u=${2:?}
      [[ $u == *=*:* ]] || die "--upstream wants NODE=HOST:PORT, got '$u'"
      node=${u%%=*}
      [[ $node =~ ^[A-Za-z0-9_-]+$ ]] || die "bad node id '$node' (letters, digits, _ and - only)"
      nodes+=("$node")
      addrs+=("${u#*=}")
      shift 2 ;;
    -h | --help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$prefix" ] || die "--prefix is required"
[ -n "$listen" ] || die "--listen is required"
[ ${#nodes[@]} -gt 0 ] || die "at least one --upstream is required"
[ -r "$template" ] || die "cannot read template $template"
case "$affinity" in
  none | ip) ;;
  cookie)
    # $upstream_addr, which names the instance that answered, holds
    # addresses, never names: the cookie map needs the address itself.
    for a in "${addrs[@]}"; do
      [[ $a =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]+$ ]] ||
        die "--affinity cookie needs IP:PORT upstreams (nginx reports addresses, not names), got '$a'"
    done ;;
  *) die "--affinity wants none, cookie or ip, got '$affinity'" ;;
esac

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

# Every character but letters and digits escaped: a literal in PCRE.
re_quote() { sed 's/[^A-Za-z0-9]/\\&/g' <<<"$1"; }

pool="" byaddr="" routes="" nodeups=""
for i in "${!nodes[@]}"; do
  n=${nodes[$i]} a=${addrs[$i]}
  pool+="        server $a max_fails=2 fail_timeout=5s;"$'\n'
  byaddr+="        \"~(^|\\s)$(re_quote "$a")\$\" $n;"$'\n'
  routes+="        $n chat_node_$n;"$'\n'
  # The named instance first; the others only while it is down, so that
  # its clients hear "Session ID unknown" and reconnect instead of a 502.
  nodeups+="    upstream chat_node_$n {"$'\n'"        server $a max_fails=2 fail_timeout=5s;"$'\n'
  for j in "${!nodes[@]}"; do
    [ "$j" = "$i" ] || nodeups+="        server ${addrs[$j]} backup;"$'\n'
  done
  nodeups+="        keepalive 4;"$'\n'"    }"$'\n'
done

# Keep the "# [affinity: MODE ...]" sections that name $affinity; a
# "# [end]" line closes a section. The marker lines themselves go.
sections() {
  local line keep=1
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ ^#\ \[affinity:\ ([a-z\ ]+)\]$ ]]; then
      keep=0
      [[ " ${BASH_REMATCH[1]} " == *" $affinity "* ]] && keep=1
      continue
    fi
    if [[ $line == "# [end]" ]]; then keep=1; continue; fi
    [ "$keep" = 1 ] && printf '%s\n' "$line"
  done
}

# Plain bash substitution (no sed): values may contain '/', '&' or '\'.
shopt -u patsub_replacement 2>/dev/null || true
out=$(sections <"$template")
out=${out//@USER_DIRECTIVE@/$user_directive}
out=${out//@WORKER_RLIMIT_NOFILE@/$rlimit}
out=${out//@WORKER_CONNECTIONS@/$conns}
out=${out//@PREFIX@/$prefix}
out=${out//@LISTEN@/$listen}
out=${out//@POOL_SERVERS@/${pool%$'\n'}}
out=${out//@COOKIE_NODE_BY_ADDR@/${byaddr%$'\n'}}
out=${out//@COOKIE_ROUTES@/${routes%$'\n'}}
out=${out//@NODE_UPSTREAMS@/${nodeups%$'\n'}}
if grep -qE '@[A-Z_]+@' <<<"$out"; then
  die "unreplaced placeholder: $(grep -oE '@[A-Z_]+@' <<<"$out" | head -1)"
fi
printf '%s\n' "$out"
