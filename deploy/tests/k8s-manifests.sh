#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy.k8s_manifests: offline validation of deploy/k8s.
#   1. yamllint (Debian package)
#   2. deploy/tools/validate-k8s.mjs --self-test: kubernetes-models schema,
#      unknown fields, semantic checks; the self-test proves each check bites
#   3. kubectl kustomize deploy/k8s, if kubectl is installed (skipped with a
#      message otherwise): builds, every object lands in namespace chat, the
#      image is pinned
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deploy=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

echo "== yamllint"
if ! command -v yamllint >/dev/null; then
  echo "FAIL yamllint not installed (apt-get install yamllint, or scripts/setup.sh --test)"; exit 1
fi
yamllint -s -c "$deploy/tools/yamllint.yaml" "$deploy/k8s" && echo "ok   yamllint deploy/k8s" || { echo "FAIL yamllint"; fail=1; }

echo "== schema, unknown fields, semantics"
if [ ! -d "$deploy/tools/node_modules/kubernetes-models" ]; then
  echo "FAIL deploy/tools/node_modules is missing: run 'npm ci' in deploy/tools (scripts/setup.sh --test does)"; exit 1
fi
node "$deploy/tools/validate-k8s.mjs" --self-test "$deploy/k8s" || fail=1

echo "== relays between gateways, optional affinity"
# Long-polling without sticky sessions: every pod advertises its pod IP
# and port (the address peers relay to), the NetworkPolicy lets gateways
# reach each other there, and the Ingress keeps the timeouts and body size
# long-polling needs. The affinity the Service shows commented out must be
# valid once uncommented.
node - "$deploy/tools/node_modules/yaml" "$deploy/k8s" <<'JS' || fail=1
const fs = require('fs');
const path = require('path');
const YAML = require(process.argv[2]);
const dir = process.argv[3];
const docs = fs.readdirSync(dir).filter((f) => /\.yaml$/.test(f) && f !== 'kustomization.yaml')
  .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS()))
  .filter(Boolean);
let failed = 0;
const check = (ok, what, why) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : `: ${why}`}`);
  if (!ok) failed++;
};
const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'chat-gateway');
const ctr = dep.spec.template.spec.containers.find((c) => c.name === 'gateway');
const env = ctr.env || [];
const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'chat-gateway').data;
const port = Number(cm.CHAT_PORT);
const podIp = env.findIndex((e) => e.name === 'POD_IP' && e.valueFrom?.fieldRef?.fieldPath === 'status.podIP');
check(podIp >= 0, 'POD_IP comes from the downward API (status.podIP)', JSON.stringify(env));
const adv = env.findIndex((e) => e.name === 'CHAT_ADVERTISE');
const advVal = adv >= 0 ? env[adv].value : undefined;
check(advVal === `$(POD_IP):${port}` || advVal === `[$(POD_IP)]:${port}`,
  `CHAT_ADVERTISE is $(POD_IP):CHAT_PORT (${port})`, `value ${advVal}`);
check(podIp >= 0 && adv > podIp,
  'POD_IP is defined before CHAT_ADVERTISE (Kubernetes expands $(VAR) from earlier entries only)',
  `POD_IP at ${podIp}, CHAT_ADVERTISE at ${adv}`);
check((ctr.ports || []).some((p) => p.containerPort === port), `the container port is CHAT_PORT (${port})`,
  JSON.stringify(ctr.ports));

const podLabels = dep.spec.template.metadata.labels;
const selects = (sel) => !!sel && Object.keys(sel.matchLabels || {}).length > 0
  && Object.entries(sel.matchLabels).every(([k, v]) => podLabels[k] === v);
const portOk = (ports) => !ports || ports.some((p) => (p.protocol || 'TCP') === 'TCP' && (p.port === port || p.port === 'http'));
// A peer list admits the gateway pods (of this namespace) when it is
// absent (everyone) or has an entry that is a gateway podSelector alone.
const peerOk = (peers) => !peers || peers.some((p) => !p.namespaceSelector && !p.ipBlock && selects(p.podSelector));
const gwPols = docs.filter((d) => d.kind === 'NetworkPolicy' && selects(d.spec.podSelector));
const types = (p) => p.spec.policyTypes || ['Ingress'];
const inPols = gwPols.filter((p) => types(p).includes('Ingress'));
const outPols = gwPols.filter((p) => types(p).includes('Egress'));
check(gwPols.length > 0, 'a NetworkPolicy selects the gateway pods', 'none');
check(inPols.length === 0 || inPols.some((p) => (p.spec.ingress || []).some((r) => peerOk(r.from) && portOk(r.ports))),
  `NetworkPolicy: gateways accept relays from gateways on ${port}`, 'no ingress rule admits gateway pods on that port');
check(outPols.length === 0 || outPols.some((p) => (p.spec.egress || []).some((r) => peerOk(r.to) && portOk(r.ports))),
  `NetworkPolicy: gateways may relay to gateways on ${port}`, 'no egress rule lets gateway pods reach each other');
check(outPols.length === 0 || outPols.some((p) => (p.spec.egress || []).some((r) =>
  (r.to || []).some((t) => t.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'redis')
  && (r.ports || []).some((q) => q.port === 6379))),
'NetworkPolicy: gateways may reach Redis on 6379', 'no egress rule to the redis pods');
check(outPols.length === 0 || outPols.some((p) => (p.spec.egress || []).some((r) =>
  (r.ports || []).some((q) => q.port === 53 && q.protocol === 'UDP'))),
'NetworkPolicy: gateways may resolve names (UDP 53)', 'no DNS egress');

const ing = docs.find((d) => d.kind === 'Ingress');
const A = (k) => (ing.metadata.annotations || {})[`nginx.ingress.kubernetes.io/${k}`];
check(A('proxy-buffering') === 'off', 'Ingress: proxy-buffering off (a long-poll answer flows at once)', A('proxy-buffering'));
check(/^[0-9]+m$/.test(A('proxy-body-size') || '') && parseInt(A('proxy-body-size'), 10) >= 1,
  'Ingress: proxy-body-size >= 1m (--max-payload POST bodies)', A('proxy-body-size'));
check(Number(A('proxy-read-timeout')) > 25 + 20, 'Ingress: proxy-read-timeout above pingInterval + pingTimeout',
  A('proxy-read-timeout'));
if (A('affinity')) {
  check(A('affinity') === 'cookie' && !!A('session-cookie-name'), 'Ingress: the optional affinity is a named cookie',
    A('affinity'));
  check(A('session-cookie-change-on-failure') === 'true', 'Ingress: the cookie is re-pointed when its pod is gone',
    A('session-cookie-change-on-failure'));
}
const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'chat-gateway');
check(!svc.spec.sessionAffinity || svc.spec.sessionAffinity === 'None',
  'Service: no affinity by default (relays make it optional)', svc.spec.sessionAffinity);
process.exit(failed ? 1 : 0);
JS
# The ClientIP affinity the Service shows commented out, uncommented, is a
# valid Service (schema, unknown fields) that really sets the affinity.
mkdir -p "$tmp/aff"
cp "$deploy"/k8s/*.yaml "$tmp/aff/"
sed -E -i 's/^  # (sessionAffinity: |sessionAffinityConfig:$|  clientIP:$|    timeoutSeconds: )/  \1/' \
  "$tmp/aff/gateway-service.yaml"
if node -e '
    const YAML = require(process.argv[1]);
    const s = YAML.parse(require("fs").readFileSync(process.argv[2], "utf8"));
    const t = s.spec.sessionAffinityConfig && s.spec.sessionAffinityConfig.clientIP.timeoutSeconds;
    process.exit(s.spec.sessionAffinity === "ClientIP" && t > 0 ? 0 : 1);' \
  "$deploy/tools/node_modules/yaml" "$tmp/aff/gateway-service.yaml" &&
  node "$deploy/tools/validate-k8s.mjs" "$tmp/aff" >"$tmp/aff.out" 2>&1; then
  echo "ok   Service: the commented-out ClientIP affinity, uncommented, validates"
else
  echo "FAIL Service: the commented-out ClientIP affinity is missing or, uncommented, invalid:"
  grep -v '^ok' "$tmp/aff.out" 2>/dev/null | sed 's/^/    /'
  fail=1
fi

echo "== kubectl kustomize"
if command -v kubectl >/dev/null; then
  if kubectl kustomize "$deploy/k8s" >"$tmp/all.yaml" 2>"$tmp/err"; then
    echo "ok   kubectl kustomize deploy/k8s builds"
    docs=$(grep -c '^kind:' "$tmp/all.yaml")
    src=$(cat "$deploy"/k8s/*.yaml | grep -c '^kind:')
    src=$((src - 1)) # kustomization.yaml itself
    [ "$docs" = "$src" ] && echo "ok   $docs objects rendered" || { echo "FAIL rendered $docs objects, sources have $src"; fail=1; }
    nons=$(node -e '
        const YAML = require(process.argv[1]);
        const docs = YAML.parseAllDocuments(require("fs").readFileSync(process.argv[2], "utf8")).map(d => d.toJS());
        const bad = docs.filter(d => d.kind !== "Namespace" && d.metadata.namespace !== "chat").map(d => d.kind + "/" + d.metadata.name);
        const imgs = docs.flatMap(d => (d.spec?.template?.spec?.containers || []).map(c => c.image));
        if (!imgs.includes("chat-gateway:0.1.0")) bad.push("gateway image not pinned: " + imgs.join(","));
        console.log(bad.join(" "));' "$deploy/tools/node_modules/yaml" "$tmp/all.yaml")
    [ -z "$nons" ] && echo "ok   every object is in namespace chat, image pinned" || { echo "FAIL $nons"; fail=1; }
  else
    echo "FAIL kubectl kustomize:"; sed 's/^/    /' "$tmp/err"; fail=1
  fi
else
  echo "SKIP kubectl not installed: 'kubectl kustomize' step skipped (the other checks ran)"
fi

[ "$fail" = 0 ] && echo "deploy.k8s_manifests: all checks passed" || echo "deploy.k8s_manifests: FAILED"
exit "$fail"
