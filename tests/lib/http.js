// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/http.js — plain HTTP for the harness: GET with the body kept,
 * raw request bytes, and the gateway's Prometheus /metrics parsed.
 * The API is documented in tests/lib/harness.js (the facade).
 *   httpGet, rawHttp, getMetrics, parseMetrics
 */

const http = require('node:http');
const https = require('node:https');
const net = require('node:net');

function httpGet(url, p, opts = {}) {
  const u = new URL(url);
  // https: test certificates are self-signed (loopback only).
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host: u.hostname,
      port: u.port,
      path: p,
      method: opts.method || 'GET',
      headers: opts.headers || {},
      agent: false,
      rejectUnauthorized: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs || 5000, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function rawHttp(url, requestText, timeoutMs = 5000) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    const chunks = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    s.on('connect', () => s.write(requestText));
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

function parseLabels(s) {
  const out = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(s))) out[m[1]] = m[2].replace(/\\(.)/g, (_, ch) => (ch === 'n' ? '\n' : ch));
  return out;
}

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    samples.push({ name: m[1], labels: m[3] ? parseLabels(m[3]) : {}, value: Number(m[4]) });
  }
  return samples;
}

async function getMetrics(url) {
  const r = await httpGet(url, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  const samples = parseMetrics(r.text);
  return {
    text: r.text,
    headers: r.headers,
    samples,
    get(name, labels = {}) {
      const s = samples.find((x) => x.name === name &&
        Object.entries(labels).every(([k, v]) => x.labels[k] === String(v)));
      return s ? s.value : undefined;
    },
  };
}

module.exports = { httpGet, rawHttp, getMetrics, parseMetrics };
