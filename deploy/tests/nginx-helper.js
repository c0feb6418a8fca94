// SPDX-License-Identifier: MIT
// Run the project's nginx config (deploy/nginx) in front of gateways, from a
// Node test. Used by deploy.nginx_proxy; meant also for the shared harness
// (e.g. a GW_MODE that runs the protocol suite through nginx).
//
//   const { startNginx } = require('<repo>/deploy/tests/nginx-helper.js');
//   const ngx = await startNginx({ upstreams: [{ node: 'gw1', port: 8001 }, ...] });
//   ngx.port, ngx.url ('http://127.0.0.1:P'), ngx.prefix, ngx.pid,
//   ngx.accessLog() / ngx.errorLog() -> string, await ngx.stop() -> exit code
//
// nginx runs in the foreground (`-g 'daemon off;'`) as this process's child
// under a fresh prefix in the temp dir; stop() removes the prefix.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');

const { freePort, delay, httpGet } = require(path.join(repo, 'tests', 'lib', 'harness.js'));

// The HTTP status of GET |p|, 0 when there is no answer.
const status = (url, p) => httpGet(url, p, { timeoutMs: 1000 }).then((r) => r.status, () => 0);

/* startNginx renders the project's config; |roundRobin| drops its
 * least_conn, leaving nginx's plain round-robin (no affinity either way). */
async function startNginx({ upstreams, port, nginxBin, timeoutMs = 10000, roundRobin = false } = {}) {
  if (!upstreams || !upstreams.length) throw new Error('startNginx: upstreams required');
  const bin = nginxBin || process.env.NGINX_BIN || (fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');
  port = port || (await freePort());
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-nginx-'));
  fs.mkdirSync(path.join(prefix, 'logs'));
  fs.mkdirSync(path.join(prefix, 'temp'));
  fs.chmodSync(prefix, 0o755); // as root, workers run as nobody
  const args = ['--prefix', prefix, '--listen', `127.0.0.1:${port}`];
  for (const u of upstreams) args.push('--upstream', `${u.node}=${u.host || '127.0.0.1'}:${u.port}`);
  const r = spawnSync(path.join(repo, 'deploy', 'nginx', 'render.sh'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`render.sh failed: ${r.stderr}`);
  const conf = path.join(prefix, 'nginx.conf');
  let text = r.stdout;
  if (roundRobin) {
    if (!/^\s*least_conn;/m.test(text)) throw new Error('startNginx: no least_conn line to drop');
    text = text.replace(/^\s*least_conn;\s*$/m, '        # least_conn dropped: plain round-robin');
  }
  fs.writeFileSync(conf, text);
  const env = { ...process.env };
  delete env.NGINX; // nginx reads it as inherited sockets
  const proc = spawn(bin, ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((res) => proc.on('exit', (code, sig) => res(code === null ? sig : code)));
  const read = (f) => { try { return fs.readFileSync(path.join(prefix, 'logs', f), 'utf8'); } catch (e) { return ''; } };
  const ngx = {
    port, url: `http://127.0.0.1:${port}`, prefix, pid: proc.pid, proc, exited,
    accessLog: () => read('access.log'),
    errorLog: () => read('error.log') + stderr,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      const code = await exited;
      fs.rmSync(prefix, { recursive: true, force: true });
      return code;
    },
  };
  const end = Date.now() + timeoutMs;
  while ((await status(ngx.url, '/nginx-healthz')) !== 200) {
    if (proc.exitCode !== null || Date.now() > end) {
      const log = ngx.errorLog();
      await ngx.stop();
      throw new Error(`nginx did not come up on :${port}: ${log}`);
    }
    await delay(50);
  }
  return ngx;
}

module.exports = { startNginx };
