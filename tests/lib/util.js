// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/util.js — constants and small helpers the other harness modules
 * share. The API is documented in tests/lib/harness.js (the facade).
 *   ROOT, DEFAULT_TIMEOUT_MS, delay, waitUntil, withTimeout
 *   short(value, n), predName(fn): text for error messages (internal)
 */

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_TIMEOUT_MS = Number(process.env.GW_TEST_TIMEOUT_MS || 3000);

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(fn, timeoutMs = 5000, intervalMs = 25, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last ? ` (last error: ${last.message})` : ''));
    }
    await delay(intervalMs);
  }
}

/* withTimeout rejects with "timed out after |ms| ms: |what|" unless |p|
 * settles first. */
function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/* short: |v| as JSON, cut to |n| characters (for error messages). */
function short(v, n = 160) {
  let s;
  try {
    s = JSON.stringify(v);
  } catch (_) {
    s = String(v);
  }
  if (s === undefined) s = 'undefined';
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}

/* predName: ", <source of the predicate>" for "waiting for ..." messages. */
function predName(p) {
  if (!p) return '';
  const s = p.toString().replace(/\s+/g, ' ');
  return `, ${s.length > 140 ? `${s.slice(0, 140)}…` : s}`;
}

module.exports = { ROOT, DEFAULT_TIMEOUT_MS, delay, waitUntil, withTimeout, short, predName };
