// SPDX-License-Identifier: MIT
'use strict';
/*
 * tests/lib/procs.js — child processes for the harness: spawn with logs
 * kept, stop with a deadline, and kill every child when the test process
 * exits, even on a crash or a SIGKILL of the runner (a detached watchdog
 * kills the recorded pids once our pid is gone). Also free ports and RSS.
 * The API is documented in tests/lib/harness.js (the facade).
 *
 *   spawnChild(bin, args, {env?, cwd?, mirror?}) -> Child
 *       stdout and stderr are kept (last 2-4 MB); mirror copies them to our
 *       stderr. Child = {proc, pid, exited (Promise<{code, signal}>),
 *       exit ({code, signal} once exited, else null), logs(),
 *       stop(signal, timeoutMs) -> Promise<code|signal|'SIGKILL'>,
 *       kill(signal='SIGKILL')}
 *   freePort() -> Promise<number>, rssKb(pid) -> number
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const LOG_CAP = 4 * 1024 * 1024;

/* ------------------------------------------------------------------ */
/* Child process registry and watchdog                                 */
/* ------------------------------------------------------------------ */

const children = new Set();
const pidFile = path.join(os.tmpdir(), `chat-gw-harness-${process.pid}.pids`);
let watchdog = null;

function writePids() {
  try {
    fs.writeFileSync(pidFile, [...children].map((p) => p.pid).join(' '));
  } catch (_) {
    /* best effort */
  }
}

function ensureWatchdog() {
  if (watchdog) return;
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
    `if [ -f '${pidFile}' ]; then for p in $(cat '${pidFile}'); do ` +
    `kill -9 "$p" 2>/dev/null; done; rm -f '${pidFile}'; fi`;
  watchdog = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
  watchdog.unref();
}

function track(proc) {
  children.add(proc);
  writePids();
  ensureWatchdog();
  proc.once('exit', () => {
    children.delete(proc);
    writePids();
  });
}

process.on('exit', () => {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
  try {
    fs.unlinkSync(pidFile);
  } catch (_) {
    /* none */
  }
  if (watchdog) {
    try {
      watchdog.kill('SIGKILL');
    } catch (_) {
      /* gone */
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => process.exit(128 + (os.constants.signals[sig] || 0)));
}

/* ------------------------------------------------------------------ */
/* Spawning and stopping                                                */
/* ------------------------------------------------------------------ */

function collect(stream, sink, mirror) {
  if (!stream) return;
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    sink.text += d;
    if (sink.text.length > LOG_CAP) sink.text = sink.text.slice(-LOG_CAP / 2);
    if (mirror) process.stderr.write(d);
  });
}

function exitPromise(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode });
      return;
    }
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function stopProc(proc, exited, signal, timeoutMs) {
  if (proc.exitCode === null && proc.signalCode === null) {
    try {
      proc.kill(signal);
    } catch (_) {
      /* raced with exit */
    }
  }
  let timer;
  const r = await Promise.race([
    exited,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (r) return r.code !== null ? r.code : r.signal;
  try {
    proc.kill('SIGKILL');
  } catch (_) {
    /* gone */
  }
  await exited;
  return 'SIGKILL';
}

function spawnChild(bin, args, { env, cwd, mirror = false } = {}) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
  track(proc);
  const log = { text: '' };
  collect(proc.stderr, log, mirror);
  collect(proc.stdout, log, mirror);
  const exited = exitPromise(proc);
  const child = {
    proc,
    pid: proc.pid,
    exited,
    exit: null,
    logs: () => log.text,
    stop: (signal, timeoutMs) => stopProc(proc, exited, signal, timeoutMs),
    kill: (signal = 'SIGKILL') => {
      try {
        proc.kill(signal);
      } catch (_) {
        /* gone */
      }
    },
  };
  exited.then((r) => {
    child.exit = r;
  });
  return child;
}

/* ------------------------------------------------------------------ */
/* Ports and process stats                                              */
/* ------------------------------------------------------------------ */

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
  return m ? Number(m[1]) : NaN;
}

module.exports = { spawnChild, freePort, rssKb };
