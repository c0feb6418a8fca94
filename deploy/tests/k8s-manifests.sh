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
