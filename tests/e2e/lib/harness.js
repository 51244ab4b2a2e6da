// SPDX-License-Identifier: Apache-2.0
//
// Shared pieces of the end-to-end tests: start the demo origin and tessera on
// ephemeral loopback ports (they print the port they got), write inline configs,
// speak raw HTTP/1.1 over sockets, and wait on conditions (never on a clock).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TESSERA = process.env.TESSERA_BIN || path.join(ROOT, 'build', 'tessera');
const ORIGIN = process.env.ORIGIN_BIN || path.join(ROOT, 'build', 'tessera-origin');

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Resolves with the first match of `re` in the child's stream, or rejects when
// the child exits or `ms` passes first.
function waitForLine(child, stream, re, ms, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`${what}: no "${re}" within ${ms}ms; got: ${buf}`)), ms);
    function onData(d) {
      buf += d.toString();
      const m = buf.match(re);
      if (m) done(null, m);
    }
    function onExit(code) { done(new Error(`${what} exited (${code}) before ready: ${buf}`)); }
    function done(err, m) {
      clearTimeout(timer);
      child[stream].off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(m);
    }
    child[stream].on('data', onData);
    child.on('exit', onExit);
  });
}

function track(child) {
  children.add(child);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
  });
  return child;
}

async function startOrigin(args = []) {
  const child = track(spawn(ORIGIN, ['-l', '127.0.0.1:0', '-w', '1', '-q', ...args],
                            { stdio: ['ignore', 'pipe', 'pipe'] }));
  const m = await waitForLine(child, 'stdout', /origin listening on 127\.0\.0\.1:(\d+)/, 5000, 'origin');
  const port = Number(m[1]);
  return {
    port,
    child,
    async stats() {
      const r = await request({ port, path: '/__stats' });
      return JSON.parse(r.body).requests;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return child.exited;
    },
  };
}

// A tessera config for tests; `origins` maps a name to a list of "host:port".
function config({ origins, routes, workers = 2, extra = '' } = {}) {
  const o = Object.entries(origins || {}).map(([name, servers]) =>
    `  ${name} = { servers = { ${servers.map((s) => JSON.stringify(s)).join(', ')} },` +
    ` connect_timeout = "500ms", timeout = "2s" },`).join('\n');
  const r = (routes || [{ path: '/*', origin: Object.keys(origins || { api: 1 })[0] }])
    .map((x) => `  { path = ${JSON.stringify(x.path)}, origin = ${JSON.stringify(x.origin)} },`)
    .join('\n');
  return `workers = ${workers}\nlisten = { { addr = "127.0.0.1:0" } }\n` +
    `origins = {\n${o}\n}\nroutes = {\n${r}\n}\n${extra}\n`;
}

function tmpFile(name, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-e2e-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/;

async function startTessera(cfgText, { args = [], env = {} } = {}) {
  const cfgPath = tmpFile('tessera.lua', cfgText);
  const child = track(spawn(TESSERA, ['-c', cfgPath, ...args],
                            { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => { stderr += d.toString(); });
  child.stdout.on('data', (d) => { stdout += d.toString(); });
  const m = await waitForLine(child, 'stderr', /tessera listening on 127\.0\.0\.1:(\d+)/, 5000, 'tessera');
  return {
    port: Number(m[1]),
    child,
    cfgPath,
    stderr: () => stderr,
    stdout: () => stdout,
    rewrite(text) { fs.writeFileSync(cfgPath, text); },
    signal(sig) { child.kill(sig); },
    // Stops tessera and fails when it did not exit 0 or a sanitizer reported.
    async stop(sig = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      const r = await child.exited;
      if (SANITIZER_REPORT.test(stderr)) throw new Error(`sanitizer report:\n${stderr}`);
      if (sig === 'SIGTERM' && r.code !== 0) throw new Error(`tessera exited ${r.code}/${r.signal}:\n${stderr}`);
      return r;
    },
    memoryKb() {
      const s = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
    },
  };
}

// Writes `data` on a fresh connection and collects everything until the server
// closes, or until `until(buffer)` is true, or `ms` passes (then `timedOut`).
function raw(port, data, { ms = 3000, until = null, halfClose = false } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let finished = false;
    const timer = setTimeout(() => finish(true), ms);
    function finish(timedOut) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      resolve({ text: buf.toString('latin1'), buf, timedOut, closed: !timedOut });
    }
    sock.on('connect', () => {
      for (const d of [].concat(data)) sock.write(d);
      if (halfClose) sock.end();
    });
    sock.on('data', (d) => {
      chunks.push(d);
      if (until && until(Buffer.concat(chunks))) finish(false);
    });
    sock.on('close', () => finish(false));
    sock.on('error', () => finish(false));
  });
}

// Splits a byte string holding consecutive HTTP/1.1 responses (Content-Length or
// chunked framed) into { status, headers, body } objects.
function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    }
    rest = rest.slice(end + 4);
    let body = '';
    if (status >= 100 && status < 200) { out.push({ status, headers, body }); continue; }
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const le = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, le), 16);
        rest = rest.slice(le + 2);
        if (size === 0) { rest = rest.slice(rest.indexOf('\r\n') + 2); break; }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else {
      body = rest;
      rest = '';
    }
    out.push({ status, headers, body });
  }
  return out;
}

// One request over http with a fresh connection; resolves { status, headers, body }.
function request({ port, path: p = '/', method = 'GET', headers = {}, body = null, agent = false }) {
  const http = require('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

// Polls `cond` (sync or async) every 20 ms until it is truthy; fails after `ms`.
async function waitFor(cond, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { ROOT, TESSERA, ORIGIN, startOrigin, startTessera, config, tmpFile, raw,
                   parseResponses, request, waitFor };
