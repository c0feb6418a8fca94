#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// validate-k8s.mjs: offline checks of the Kubernetes manifests.
//
//   node deploy/tools/validate-k8s.mjs [--self-test] [DIR]   (DIR: deploy/k8s)
//
// For every object in every *.yaml of DIR (except kustomization.yaml):
//   schema   kubernetes-models .validate() (types, required fields, enums);
//   strict   no unknown fields (walks @kubernetes/client-node's generated
//            attribute maps; the OpenAPI schema alone allows any field);
// then semantic checks the API server would not make: selectors match the
// template labels, the PDB/HPA/Service/Ingress point at what exists, probes
// hit declared ports, preStop + drain fit in the grace period, and the
// hardening the deploy issue asks for (non-root, read-only root fs, ...).
// --self-test first breaks the manifests in known ways and requires every
// breakage to be caught, so this checker cannot silently pass.
// Prints "N passed, N failed" and exits 1 on any failure.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const models = await import('@kubernetes/client-node/dist/gen/models/all.js');

// ------------------------------------------------------------ loading

function loadDir(dir) {
  const docs = [];
  const kust = YAML.parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(f) || f === 'kustomization.yaml') continue;
    const all = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'));
    all.forEach((d, i) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`);
      const obj = d.toJS();
      if (obj) docs.push({ file: f, index: i, obj });
    });
  }
  return { docs, kust };
}

// ------------------------------------------------------------ schema

function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  return require(mod)[kind];
}

function schemaErrors(obj) {
  let Cls;
  try {
    Cls = modelClass(obj.apiVersion, obj.kind);
  } catch (e) {
    return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  try {
    new Cls(obj).validate();
    return [];
  } catch (e) {
    return [String(e.message || e).split('\n').slice(0, 5).join('; ')];
  }
}

// ------------------------------------------------------------ strict

function rootTypeName(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion];
  const v = version.charAt(0).toUpperCase() + version.slice(1);
  void group;
  return `${v}${kind}`;
}

function strictErrors(value, type, where, out) {
  if (value === null || value === undefined) return out;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) out.push(`${where}: expected a list`);
    else value.forEach((v, i) => strictErrors(v, m[1], `${where}[${i}]`, out));
    return out;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value !== 'object' || Array.isArray(value)) out.push(`${where}: expected a map`);
    else for (const [k, v] of Object.entries(value)) strictErrors(v, m[1], `${where}.${k}`, out);
    return out;
  }
  const cls = models[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') return out; // scalar/any/IntOrString
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.push(`${where}: expected an object (${type})`);
    return out;
  }
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attrs.has(k)) out.push(`${where}.${k}: unknown field (type ${type})`);
    else strictErrors(v, attrs.get(k), `${where}.${k}`, out);
  }
  return out;
}

// ------------------------------------------------------------ semantics

const subset = (a = {}, b = {}) => Object.entries(a).every(([k, v]) => b[k] === v);
const podSpec = (o) => o.spec?.template?.spec;
const workloads = (docs) => docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.obj.kind));
const byKind = (docs, kind) => docs.filter((d) => d.obj.kind === kind);
const name = (d) => `${d.obj.kind}/${d.obj.metadata?.name}`;

function selects(sel, labels) {
  if (!sel) return false;
  const ml = sel.matchLabels || {};
  if (!Object.keys(ml).length && !(sel.matchExpressions || []).length) return false;
  if (!subset(ml, labels)) return false;
  for (const e of sel.matchExpressions || []) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(v))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(v)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function portDeclared(container, port) {
  if (port === undefined) return false;
  return (container.ports || []).some((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port));
}

function durationOfSleep(handler) {
  if (!handler) return 0;
  if (handler.sleep) return handler.sleep.seconds;
  const cmd = handler.exec?.command || [];
  const i = cmd.findIndex((c) => /(^|\/)sleep$/.test(c));
  if (i >= 0) return Number(cmd[i + 1]);
  const sh = cmd.join(' ').match(/sleep\s+(\d+)/);
  return sh ? Number(sh[1]) : 0;
}

function semanticChecks(docs) {
  const checks = []; // [label, errors[]]
  const add = (label, errs) => checks.push([label, errs]);
  const configMaps = Object.fromEntries(byKind(docs, 'ConfigMap').map((d) => [d.obj.metadata.name, d.obj.data || {}]));

  for (const w of workloads(docs)) {
    const o = w.obj;
    const labels = o.spec?.template?.metadata?.labels || {};
    const errs = [];
    if (!o.spec?.selector?.matchLabels || !Object.keys(o.spec.selector.matchLabels).length)
      errs.push('selector.matchLabels is empty');
    else if (!selects(o.spec.selector, labels)) errs.push('selector does not match the pod template labels');
    add(`${name(w)}: selector ⊆ template labels`, errs);

    const ps = podSpec(o) || {};
    const sec = [];
    if (ps.securityContext?.runAsNonRoot !== true) sec.push('pod securityContext.runAsNonRoot is not true');
    for (const c of ps.containers || []) {
      const cs = c.securityContext || {};
      if (cs.readOnlyRootFilesystem !== true) sec.push(`${c.name}: readOnlyRootFilesystem is not true`);
      if (cs.allowPrivilegeEscalation !== false) sec.push(`${c.name}: allowPrivilegeEscalation is not false`);
      if (!(cs.capabilities?.drop || []).includes('ALL')) sec.push(`${c.name}: capabilities do not drop ALL`);
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) sec.push(`${c.name}: no cpu/memory requests`);
      if (!c.resources?.limits?.memory) sec.push(`${c.name}: no memory limit`);
      if (!c.image || /:latest$/.test(c.image)) sec.push(`${c.name}: image missing or :latest`);
    }
    add(`${name(w)}: non-root, read-only root fs, resources`, sec);

    const pr = [];
    for (const c of ps.containers || []) {
      for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const p = c[kind];
        if (!p) continue;
        const port = p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port;
        if (port !== undefined && !portDeclared(c, port)) pr.push(`${c.name}.${kind} uses port ${port}, not a declared containerPort`);
      }
      if (!c.readinessProbe) pr.push(`${c.name}: no readinessProbe`);
      if (!c.livenessProbe) pr.push(`${c.name}: no livenessProbe`);
    }
    add(`${name(w)}: probes hit declared ports`, pr);
  }

  // The gateway Deployment specifically.
  const gw = byKind(docs, 'Deployment').find((d) => d.obj.metadata.name === 'chat-gateway');
  add('Deployment/chat-gateway exists', gw ? [] : ['missing']);
  if (gw) {
    const o = gw.obj;
    const ps = podSpec(o);
    const c = ps.containers.find((x) => x.name === 'gateway') || ps.containers[0];
    const errs = [];
    if (!(o.spec.replicas >= 3)) errs.push(`replicas ${o.spec.replicas} < 3`);
    if (c.readinessProbe?.httpGet?.path !== '/readyz') errs.push('readinessProbe is not GET /readyz');
    if (c.livenessProbe?.httpGet?.path !== '/healthz') errs.push('livenessProbe is not GET /healthz');
    if (!(ps.topologySpreadConstraints || []).length) errs.push('no topologySpreadConstraints');
    for (const t of ps.topologySpreadConstraints || [])
      if (!selects(t.labelSelector, o.spec.template.metadata.labels)) errs.push(`topology spread on ${t.topologyKey} does not select the pods`);
    add('Deployment/chat-gateway: replicas, /readyz, /healthz, topology spread', errs);

    // preStop + drain < grace.
    const pre = durationOfSleep(c.lifecycle?.preStop);
    let drainMs = 10000; // the gateway's default
    for (const ef of c.envFrom || []) {
      const cm = ef.configMapRef && configMaps[ef.configMapRef.name];
      if (cm && cm.CHAT_DRAIN_TIME) drainMs = Number(cm.CHAT_DRAIN_TIME);
    }
    for (const e of c.env || []) if (e.name === 'CHAT_DRAIN_TIME' && e.value) drainMs = Number(e.value);
    const grace = ps.terminationGracePeriodSeconds ?? 30;
    const g = [];
    if (!(pre > 0)) g.push('no preStop sleep');
    if (!(pre + drainMs / 1000 < grace))
      g.push(`preStop ${pre}s + drain ${drainMs / 1000}s must be < terminationGracePeriodSeconds ${grace}s`);
    add(`Deployment/chat-gateway: preStop ${pre}s + drain ${drainMs / 1000}s < grace ${grace}s`, g);

    const envNames = new Set([...(c.env || []).map((e) => e.name)]);
    for (const ef of c.envFrom || []) {
      const cm = ef.configMapRef && configMaps[ef.configMapRef.name];
      if (!cm) add(`Deployment/chat-gateway: envFrom ConfigMap ${ef.configMapRef?.name} exists`, ['missing']);
      else Object.keys(cm).forEach((k) => envNames.add(k));
    }
    add('Deployment/chat-gateway: REDIS_URL and CHAT_NODE_ID are set',
      ['REDIS_URL', 'CHAT_NODE_ID'].filter((k) => !envNames.has(k)).map((k) => `${k} not set`));
  }

  for (const p of byKind(docs, 'PodDisruptionBudget')) {
    const hits = workloads(docs).filter((w) => selects(p.obj.spec.selector, w.obj.spec.template.metadata.labels || {}));
    const errs = [];
    if (!hits.some((w) => w.obj.kind === 'Deployment' && w.obj.metadata.name === 'chat-gateway'))
      errs.push('does not select the chat-gateway Deployment');
    if (hits.length > 1) errs.push(`selects ${hits.length} workloads`);
    add(`${name(p)} selects the gateway Deployment`, errs);
  }

  for (const h of byKind(docs, 'HorizontalPodAutoscaler')) {
    const ref = h.obj.spec.scaleTargetRef;
    const errs = [];
    const target = docs.find((d) => d.obj.kind === ref.kind && d.obj.metadata.name === ref.name);
    if (!target) errs.push(`scaleTargetRef ${ref.kind}/${ref.name} not found`);
    if (!(h.obj.spec.minReplicas >= 3)) errs.push('minReplicas < 3');
    const down = h.obj.spec.behavior?.scaleDown;
    if (!(down?.stabilizationWindowSeconds >= 300)) errs.push('scaleDown.stabilizationWindowSeconds < 300 (scale-down must be slow)');
    add(`${name(h)}: target exists, slow scale-down`, errs);
  }

  for (const s of byKind(docs, 'Service')) {
    const errs = [];
    const hits = workloads(docs).filter((w) => selects({ matchLabels: s.obj.spec.selector }, w.obj.spec.template.metadata.labels || {}));
    if (!hits.length) errs.push('selector matches no workload');
    for (const w of hits)
      for (const p of s.obj.spec.ports || []) {
        const tp = p.targetPort ?? p.port;
        if (!podSpec(w.obj).containers.some((c) => portDeclared(c, tp))) errs.push(`targetPort ${tp} not declared by ${name(w)}`);
      }
    add(`${name(s)}: selects a workload, targetPorts exist`, errs);
  }

  for (const ing of byKind(docs, 'Ingress')) {
    const errs = [];
    const an = ing.obj.metadata.annotations || {};
    for (const k of ['proxy-read-timeout', 'proxy-send-timeout'])
      if (!(Number(an[`nginx.ingress.kubernetes.io/${k}`]) >= 3600)) errs.push(`${k} < 3600`);
    if (!an['nginx.ingress.kubernetes.io/affinity'] && !an['nginx.ingress.kubernetes.io/upstream-hash-by'])
      errs.push('no affinity for long-polling');
    if (ing.obj.spec.ingressClassName !== 'nginx') errs.push('ingressClassName is not nginx');
    for (const r of ing.obj.spec.rules || [])
      for (const p of r.http?.paths || []) {
        const b = p.backend.service;
        const svc = byKind(docs, 'Service').find((d) => d.obj.metadata.name === b.name);
        if (!svc) errs.push(`backend service ${b.name} not found`);
        else if (!svc.obj.spec.ports.some((sp) => (b.port.name ? sp.name === b.port.name : sp.port === b.port.number)))
          errs.push(`backend port ${b.port.name ?? b.port.number} not on service ${b.name}`);
      }
    add(`${name(ing)}: ingress-nginx timeouts, affinity, backend exists`, errs);
  }

  for (const ss of byKind(docs, 'StatefulSet')) {
    const errs = [];
    const svc = byKind(docs, 'Service').find((d) => d.obj.metadata.name === ss.obj.spec.serviceName);
    if (!svc) errs.push(`serviceName ${ss.obj.spec.serviceName} not found`);
    else if (svc.obj.spec.clusterIP !== 'None') errs.push(`serviceName ${ss.obj.spec.serviceName} is not headless`);
    if (ss.obj.metadata.name === 'redis') {
      const img = podSpec(ss.obj).containers[0].image;
      if (!/^(docker\.io\/(library\/)?)?redis:7([.-]|$)/.test(img)) errs.push(`image ${img} is not the official redis:7`);
    }
    add(`${name(ss)}: headless governing service, image`, errs);
  }

  for (const d of docs) {
    const ns = d.obj.metadata?.namespace;
    if (ns && ns !== 'chat') add(`${name(d)}: namespace`, [`namespace ${ns} is not chat`]);
  }
  return checks;
}

function kustomizationChecks(kust, dir) {
  const errs = [];
  const listed = new Set(kust.resources || []);
  for (const r of listed) if (!fs.existsSync(path.join(dir, r))) errs.push(`resource ${r} does not exist`);
  for (const f of fs.readdirSync(dir))
    if (/\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && !listed.has(f)) errs.push(`${f} is not listed in resources`);
  return [['kustomization.yaml lists every manifest', errs]];
}

// ------------------------------------------------------------ run

function runAll(dir, docs, kust) {
  const results = [];
  for (const d of docs) {
    const where = `${d.file}#${d.index} ${name(d)}`;
    results.push([`${where}: schema`, schemaErrors(d.obj)]);
    const type = rootTypeName(d.obj.apiVersion, d.obj.kind);
    results.push([
      `${where}: no unknown fields`,
      models[type] ? strictErrors(d.obj, type, d.obj.kind, []) : [`no strict model ${type}`],
    ]);
  }
  results.push(...semanticChecks(docs), ...kustomizationChecks(kust, dir));
  return results;
}

// Each mutation must make at least one check fail.
const mutations = [
  ['unknown field', (D) => { dep(D).spec.template.spec.containers[0].readinesProbe = {}; }],
  ['wrong type', (D) => { dep(D).spec.replicas = 'three'; }],
  ['missing required field', (D) => { delete dep(D).spec.template.spec.containers[0].readinessProbe.httpGet.port; }],
  ['selector not in template labels', (D) => { dep(D).spec.selector.matchLabels.extra = 'x'; }],
  ['PDB selects nothing', (D) => { find(D, 'PodDisruptionBudget').spec.selector.matchLabels['app.kubernetes.io/name'] = 'other'; }],
  ['preStop + drain >= grace', (D) => { dep(D).spec.template.spec.terminationGracePeriodSeconds = 20; }],
  ['probe on undeclared port', (D) => { dep(D).spec.template.spec.containers[0].livenessProbe.httpGet.port = 9999; }],
  ['root filesystem writable', (D) => { dep(D).spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; }],
  ['too few replicas', (D) => { dep(D).spec.replicas = 1; }],
  ['short ingress timeout', (D) => { find(D, 'Ingress').metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'] = '60'; }],
  ['fast HPA scale-down', (D) => { find(D, 'HorizontalPodAutoscaler').spec.behavior.scaleDown.stabilizationWindowSeconds = 0; }],
  ['service targetPort missing', (D) => { find(D, 'Service').spec.ports[0].targetPort = 'nope'; }],
  ['bitnami redis', (D) => { find(D, 'StatefulSet').spec.template.spec.containers[0].image = 'bitnami/redis:7.2'; }],
];
function find(D, kind) { return D.find((d) => d.obj.kind === kind).obj; }
function dep(D) { return D.find((d) => d.obj.kind === 'Deployment').obj; }

const args = process.argv.slice(2);
const selfTest = args.includes('--self-test');
const dir = path.resolve(args.find((a) => !a.startsWith('--')) || path.join(here, '..', 'k8s'));
const { docs, kust } = loadDir(dir);
let passed = 0;
let failed = 0;

if (selfTest) {
  for (const [label, mutate] of mutations) {
    const copy = structuredClone(docs);
    mutate(copy);
    const caught = runAll(dir, copy, kust).filter(([, e]) => e.length);
    if (caught.length) {
      passed++;
      console.log(`ok   self-test: ${label} is caught (${caught[0][0]}: ${caught[0][1][0]})`);
    } else {
      failed++;
      console.log(`FAIL self-test: ${label} is NOT caught`);
    }
  }
}
for (const [label, errs] of runAll(dir, docs, kust)) {
  if (errs.length) {
    failed++;
    console.log(`FAIL ${label}`);
    for (const e of errs) console.log(`       ${e}`);
  } else {
    passed++;
    console.log(`ok   ${label}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
