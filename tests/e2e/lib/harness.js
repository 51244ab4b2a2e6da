// SPDX-License-Identifier: Apache-2.0
//
// Shared pieces of the end-to-end tests: start the demo origin and tessera on
// ephemeral loopback ports (they print the port they got), write inline configs,
// speak raw HTTP/1.1 over sockets, and wait on conditions (never on a clock).
//
// Tessera starts with a plain listener (HTTP/1.1 and h2c) and a TLS one (h2 and
// HTTP/1.1 by ALPN) with a certificate made once per test process. A scenario is
// written once and run over every client protocol:
//
//   for (const proto of h.PROTOCOLS) {
//     describe(proto, () => {
//       const c = h.client(proto);
//       after(() => c.close());
//       it('...', async () => { const r = await c.request({ edge, path: '/api/nav' }); });
//     });
//   }
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
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

// Resolves with the first match of `re` in the child's stream (with `count`, the
// list of the first `count` matches), or rejects when the child exits or `ms`
// passes first.
function waitForLine(child, stream, re, ms, what, count = 0) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`${what}: no "${re}" within ${ms}ms; got: ${buf}`)), ms);
    const all = new RegExp(re.source, 'g');
    function onData(d) {
      buf += d.toString();
      if (count > 0) {
        const found = [...buf.matchAll(all)];
        if (found.length >= count) done(null, found.slice(0, count));
        return;
      }
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

// A self-signed certificate for 127.0.0.1 and localhost, made once per process
// by tools/mkcert.sh in a temporary directory: { cert, key } file names and the
// certificate's PEM text (`ca`, for clients that verify it).
let madeCert = null;
function tlsCert() {
  if (madeCert) return madeCert;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cert-'));
  const r = spawnSync('bash', [path.join(ROOT, 'tools', 'mkcert.sh'), dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tools/mkcert.sh failed (${r.status}): ${r.stderr}`);
  const cert = path.join(dir, 'edge.pem');
  madeCert = { cert, key: path.join(dir, 'edge.key'), ca: fs.readFileSync(cert) };
  return madeCert;
}

// The listen table: a plain listener and, unless `tls` is false, a TLS one.
function listenEntries(tls = true) {
  const plain = '{ addr = "127.0.0.1:0" }';
  if (!tls) return `{ ${plain} }`;
  const c = tlsCert();
  return `{ ${plain}, { addr = "127.0.0.1:0", tls = { cert = ${JSON.stringify(c.cert)}, ` +
    `key = ${JSON.stringify(c.key)} } } }`;
}

// A tessera config for tests; `origins` maps a name to a list of "host:port".
// The listen table is on one line (startTessera counts its entries).
function config({ origins, routes, workers = 2, extra = '', tls = true } = {}) {
  const o = Object.entries(origins || {}).map(([name, servers]) =>
    `  ${name} = { servers = { ${servers.map((s) => JSON.stringify(s)).join(', ')} },` +
    ` connect_timeout = "500ms", timeout = "2s" },`).join('\n');
  const r = (routes || [{ path: '/*', origin: Object.keys(origins || { api: 1 })[0] }])
    .map((x) => `  { path = ${JSON.stringify(x.path)}, origin = ${JSON.stringify(x.origin)}` +
      `${x.cache ? `, cache = ${x.cache}` : ''} },`)
    .join('\n');
  return `workers = ${workers}\nlisten = ${listenEntries(tls)}\n` +
    `origins = {\n${o}\n}\nroutes = {\n${r}\n}\n${extra}\n`;
}

function tmpFile(name, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-e2e-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/;

// How many listen entries a config text has: the `addr =` on its `listen =` line.
function countListeners(cfgText) {
  const m = cfgText.match(/^listen\s*=(.*)$/m);
  return m ? Math.max(1, (m[1].match(/\baddr\s*=/g) || []).length) : 1;
}

// Starts tessera on `cfgText` and waits for one "listening" line per listen entry.
// `port` is the first listener's port (plain in h.config), `tlsPort` the second's
// (TLS in h.config), `ports` all of them in config order.
async function startTessera(cfgText, { args = [], env = {}, listeners = countListeners(cfgText) } = {}) {
  const cfgPath = tmpFile('tessera.lua', cfgText);
  const child = track(spawn(TESSERA, ['-c', cfgPath, ...args],
                            { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => { stderr += d.toString(); });
  child.stdout.on('data', (d) => { stdout += d.toString(); });
  const ms = await waitForLine(child, 'stderr', /tessera listening on 127\.0\.0\.1:(\d+)/, 5000, 'tessera',
                               listeners);
  const ports = ms.map((m) => Number(m[1]));
  return {
    port: ports[0],
    tlsPort: ports[1],
    ports,
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

// ---- protocol-agnostic clients ------------------------------------------------

// h1: HTTP/1.1 on the plain port; h2c: HTTP/2 with prior knowledge on the plain
// port; h2: HTTP/2 over TLS (ALPN "h2") on the TLS port.
const PROTOCOLS = ['h1', 'h2c', 'h2'];

function hasField(headers, name) {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

// A client of one protocol. h1 opens a connection per request (or, with
// keepAlive, pools up to maxSockets); h2c and h2 keep one session per port and
// open a new one once the old one got GOAWAY or closed. close() ends them all.
//
// open({ edge | port, path, method, headers, endStream }) starts a request and
// returns { req, response }: `req` is the writable side (end it, or write a body
// first), `response` resolves { status, headers, stream } once the response head
// is in (headers lower-case, no pseudo-fields; `stream` is the readable body).
// request({ edge | port, path, method, headers, body }) sends a whole request
// (a body goes with its Content-Length) and resolves { status, headers, body }.
function client(proto, { keepAlive = false, maxSockets = Infinity } = {}) {
  if (!PROTOCOLS.includes(proto)) throw new Error(`unknown protocol ${proto}`);
  const agent = proto === 'h1' && keepAlive ? new http.Agent({ keepAlive: true, maxSockets }) : false;
  const sessions = new Map();
  const all = new Set();

  function portOf({ edge, port }) {
    if (port) return port;
    if (!edge) throw new Error('request needs edge or port');
    const p = proto === 'h2' ? edge.tlsPort : edge.port;
    if (!p) throw new Error(`tessera has no ${proto === 'h2' ? 'TLS ' : ''}listener`);
    return p;
  }

  function session(port) {
    const had = sessions.get(port);
    if (had && !had.closed && !had.destroyed && !had.goneAway) return had;
    const s = proto === 'h2'
      ? http2.connect(`https://127.0.0.1:${port}`, { ca: tlsCert().ca, ALPNProtocols: ['h2'] })
      : http2.connect(`http://127.0.0.1:${port}`);
    s.goneAway = false;
    s.lastError = null;
    s.on('error', (e) => { s.lastError = e; });
    s.on('goaway', () => { s.goneAway = true; });
    s.on('close', () => { all.delete(s); if (sessions.get(port) === s) sessions.delete(port); });
    sessions.set(port, s);
    all.add(s);
    return s;
  }

  function open(opts) {
    const { path: p = '/', method = 'GET', headers = {}, endStream = false } = opts;
    const port = portOf(opts);
    if (proto === 'h1') {
      const req = http.request({ host: '127.0.0.1', port, path: p, method, headers, agent });
      const response = new Promise((resolve, reject) => {
        req.on('response', (res) => resolve({ status: res.statusCode, headers: res.headers, stream: res }));
        req.on('error', reject);
      });
      response.catch(() => {}); // the caller awaits it, maybe after writing a body
      if (endStream) req.end();
      return { req, response };
    }
    const s = session(port);
    const h = { ':method': method, ':path': p };
    for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
    let req;
    try {
      req = s.request(h, { endStream });
    } catch (e) {
      return { req: null, response: Promise.reject(e) };
    }
    const response = new Promise((resolve, reject) => {
      req.on('response', (hd) => {
        const out = {};
        for (const [k, v] of Object.entries(hd)) if (!k.startsWith(':')) out[k] = v;
        resolve({ status: Number(hd[':status']), headers: out, stream: req });
      });
      req.on('error', reject);
      req.on('close', () => reject(s.lastError ||
        new Error(`${proto} stream closed before a response (RST_STREAM code ${req.rstCode})`)));
    });
    response.catch(() => {}); // the caller awaits it, maybe after writing a body
    return { req, response };
  }

  async function request(opts) {
    const { body = null, method = 'GET' } = opts;
    const headers = { ...(opts.headers || {}) };
    if (body !== null && !hasField(headers, 'content-length')) headers['content-length'] = String(Buffer.byteLength(body));
    const x = open({ ...opts, method, headers, endStream: body === null });
    if (body !== null) x.req.end(body);
    const res = await x.response;
    const chunks = [];
    for await (const d of res.stream) chunks.push(d);
    return { status: res.status, headers: res.headers, body: Buffer.concat(chunks).toString() };
  }

  async function close() {
    if (agent) agent.destroy();
    await Promise.all([...all].map((s) => new Promise((resolve) => {
      if (s.closed || s.destroyed) return resolve();
      s.once('close', resolve);
      s.close();
    })));
  }

  return { proto, open, request, close, session: (opts) => session(portOf(opts)) };
}

module.exports = { ROOT, TESSERA, ORIGIN, PROTOCOLS, startOrigin, startTessera, config, tlsCert, tmpFile,
                   raw, parseResponses, request, client, waitFor };

// ---- cache suites (c0006-c0009) -------------------------------------------------

// The demo origin's counters from /__stats (which does not count itself):
// { requests, conditional (requests that carried If-None-Match or
// If-Modified-Since), notModified (304 answers) }.
async function originCounters(origin) {
  const r = await request({ port: origin.port, path: '/__stats' });
  const s = JSON.parse(r.body);
  return { requests: s.requests, conditional: s.conditional, notModified: s.not_modified };
}

// What reached the origin while `fn` ran: the differences of originCounters.
async function originDelta(origin, fn) {
  const a = await originCounters(origin);
  await fn();
  const b = await originCounters(origin);
  return { requests: b.requests - a.requests, conditional: b.conditional - a.conditional,
           notModified: b.notModified - a.notModified };
}

// The origin's `hdr=Name:Value` query knob (adds or replaces a response field).
function hdrParam(name, value) {
  return `hdr=${encodeURIComponent(`${name}:${value}`)}`;
}

// Repeats c.request(opts) until pred(response) holds and resolves that response;
// fails after `ms`. The response that ends the wait is the one a test inspects
// (e.g. the first one after a stored response went stale).
function requestUntil(c, opts, pred, ms = 5000, what = 'a matching response') {
  return waitFor(async () => {
    const r = await c.request(opts);
    return pred(r) ? r : null;
  }, ms, what);
}

module.exports.originCounters = originCounters;
module.exports.originDelta = originDelta;
module.exports.hdrParam = hdrParam;
module.exports.requestUntil = requestUntil;

// Requests makePath() (a new URL each try) until a response says `stored`, at
// most `tries` times, and resolves { path, response } of the last try. With a
// one-second lifetime, a second boundary between the origin's Date and the
// cache's clock can make a response arrive already stale; a new URL avoids it.
async function requestStored(c, edge, makePath, { headers = {}, tries = 3 } = {}) {
  let path, response;
  for (let i = 0; i < tries; i++) {
    path = makePath();
    response = await c.request({ edge, path, headers });
    if (/; stored/.test(response.headers['cache-status'] || '')) break;
  }
  return { path, response };
}

module.exports.requestStored = requestStored;

// ---- page routes (p0001-p0002) ----------------------------------------------------

// Lua source for a JS value: strings, numbers, booleans, arrays ({ a, b }) and
// objects ({ key = v, ["x-y"] = v }; undefined members are left out). A value
// made by lua('text') is written as that text.
const LUA_RAW = Symbol('lua');
function lua(text) { return { [LUA_RAW]: text }; }

function luaString(s) {
  let out = '"';
  for (const ch of Buffer.from(String(s), 'utf8')) {
    if (ch === 0x22) out += '\\"';
    else if (ch === 0x5c) out += '\\\\';
    else if (ch === 0x0a) out += '\\n';
    else if (ch < 0x20 || ch >= 0x7f) out += `\\${String(ch).padStart(3, '0')}`; // bytes, as Lua reads them
    else out += String.fromCharCode(ch);
  }
  return `${out}"`;
}

function luaValue(v, indent = '') {
  if (v && typeof v === 'object' && v[LUA_RAW] !== undefined) return v[LUA_RAW];
  if (typeof v === 'string') return luaString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    if (!v.some((x) => x && typeof x === 'object')) return v.length ? `{ ${v.map((x) => luaValue(x)).join(', ')} }` : '{}';
    const inner = `${indent}  `;
    return `{\n${v.map((x) => `${inner}${luaValue(x, inner)},`).join('\n')}\n${indent}}`;
  }
  if (v && typeof v === 'object') {
    const inner = `${indent}  `;
    const items = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => {
      const key = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `[${luaString(k)}]`;
      return `${inner}${key} = ${luaValue(x, inner)},`;
    });
    return items.length ? `{\n${items.join('\n')}\n${indent}}` : '{}';
  }
  throw new Error(`no Lua form for ${typeof v}`);
}

// The demo's channel rules (conf/tessera.lua): X-Channel wins, then a mobile client
// hint or User-Agent, else web.
const DEMO_CHANNELS = `channels = {
  { name = "web",    header = { ["X-Channel"] = "web" } },
  { name = "mobile", header = { ["X-Channel"] = "mobile" } },
  { name = "app",    header = { ["X-Channel"] = "app" } },
  { name = "mobile", client_hint_mobile = true },
  { name = "mobile", user_agent = "Android|iPhone|Mobile" },
  { name = "web" },
}`;

// A tessera config with page routes. Each route is a plain object written as Lua
// ({ path, template, cache: { ttl }, fragments: { name: { origin, path, ... } } }
// or { path, origin, cache }); `templates` is the template directory; `channels`
// Lua text (the demo's rules by default).
function pageConfig({ origins, routes, templates, channels = DEMO_CHANNELS, workers = 2, extra = '',
                      tls = true } = {}) {
  const o = Object.entries(origins || {}).map(([name, servers]) =>
    `  ${name} = { servers = { ${servers.map((s) => JSON.stringify(s)).join(', ')} },` +
    ` connect_timeout = "500ms", timeout = "2s" },`).join('\n');
  return `workers = ${workers}\nlisten = ${listenEntries(tls)}\n` +
    `origins = {\n${o}\n}\nroutes = ${luaValue(routes || [])}\n` +
    `${templates ? `templates = ${luaString(templates)}\n` : ''}${channels}\n${extra}\n`;
}

// Writes { "pages/x.html.mustache": "text", ... } under a new temporary directory
// and returns its path (for `templates = ...`).
function templateDir(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-tpl-'));
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  return dir;
}

// A small origin in the test process, for what the demo origin cannot show:
// every request is recorded ({ method, url, path, query, headers }, headers
// lower-case) in `requests`; GET /echo... answers that record as JSON
// (Cache-Control: no-store); serve(path, { status, headers, body, delay }) adds a
// fixed answer for one path (a body that is not a string is sent as JSON).
async function startFixtureOrigin() {
  const requests = [];
  const fixed = new Map();
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://fixture');
    const rec = { method: req.method, url: req.url, path: u.pathname,
                  query: Object.fromEntries(u.searchParams), headers: { ...req.headers } };
    requests.push(rec);
    req.resume();
    req.on('end', () => {
      const f = fixed.get(u.pathname);
      if (f) {
        const body = typeof f.body === 'string' ? f.body : JSON.stringify(f.body);
        const send = () => {
          res.writeHead(f.status || 200, { 'content-type': 'application/json', ...(f.headers || {}),
                                           'content-length': Buffer.byteLength(body) });
          res.end(body);
        };
        if (f.delay) setTimeout(send, f.delay); else send();
      } else if (u.pathname === '/echo' || u.pathname.startsWith('/echo/')) {
        const body = JSON.stringify(rec);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store',
                             'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.writeHead(404, { 'content-type': 'application/json', 'content-length': 21 });
        res.end('{"error":"not found"}');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    requests,
    serve(p, answer) { fixed.set(p, answer); },
    // The recorded requests whose path is p (or starts with it, for a prefix ending in '/').
    seen(p) { return requests.filter((r) => (p.endsWith('/') ? r.path.startsWith(p) : r.path === p)); },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The tags of a Surrogate-Key field value (space-separated), in order.
function surrogateKeys(value) {
  return String(value || '').split(/\s+/).filter(Boolean);
}

module.exports.lua = lua;
module.exports.luaValue = luaValue;
module.exports.DEMO_CHANNELS = DEMO_CHANNELS;
module.exports.pageConfig = pageConfig;
module.exports.templateDir = templateDir;
module.exports.startFixtureOrigin = startFixtureOrigin;
module.exports.surrogateKeys = surrogateKeys;

// conf/tessera.lua made runnable in a test: its routes, channels and other keys
// as written, with ephemeral listeners, no admin listener, two workers, no access
// log, the api origin at `originPort` and the repository's templates/.
function demoConfig(originPort, { tls = true } = {}) {
  let text = fs.readFileSync(path.join(ROOT, 'conf', 'tessera.lua'), 'utf8');
  const edits = [
    [/^workers\s*=.*$/m, 'workers = 2'],
    [/^listen\s*=\s*\{[\s\S]*?^\}/m, `listen = ${listenEntries(tls)}`],
    [/^admin\s*=.*$/m, ''],
    [/"127\.0\.0\.1:9000"/, JSON.stringify(`127.0.0.1:${originPort}`)],
    [/^(\s*access\s*=\s*)"-"/m, '$1false'],
  ];
  for (const [re, by] of edits) {
    if (!re.test(text)) throw new Error(`conf/tessera.lua: no match for ${re}`);
    text = text.replace(re, by);
  }
  return `${text}\ntemplates = ${luaString(path.join(ROOT, 'templates'))}\n`;
}

module.exports.demoConfig = demoConfig;
