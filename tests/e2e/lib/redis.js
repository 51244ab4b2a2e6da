// SPDX-License-Identifier: Apache-2.0
//
// redis-server for the end-to-end tests: started on a free loopback port with no
// persistence, in its own temporary directory, and waited for with PING; stopped,
// or killed and started again on the same port. Commands go over RESP on a plain
// socket (no npm packages, no redis-cli needed):
//
//   const redis = await startRedis();
//   await redis.cmd('SET', 'k', 'v');          // one shared connection, replies in order
//   const keys = await redis.cmd('KEYS', 'p*'); // bulk strings come back as Buffers
//   await redis.send('CLIENT', 'PAUSE', '500', 'ALL'); // a fresh connection, then closed
//   await redis.kill(); await redis.restart();
//
// Without redis-server on PATH (or REDIS_SERVER_BIN) startRedis throws, so the
// tests that need it fail with that message instead of being skipped: CI installs
// it with tools/deps.sh.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REDIS = process.env.REDIS_SERVER_BIN || 'redis-server';

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function requireRedis() {
  const r = spawnSync(REDIS, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${REDIS} is not installed or does not run (${r.error ? r.error.code : `exit ${r.status}`}): ` +
      'the Redis L2 tests need it. Debian: apt-get install redis-server (tools/deps.sh does it); ' +
      'or set REDIS_SERVER_BIN');
  }
  return r.stdout.trim();
}

// A port that was free a moment ago (redis-server has to be given a number).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

class RedisError extends Error {}

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// One RESP value at buf[pos..]: { value, pos } past it, or null when incomplete.
// Errors come back as RedisError values, bulk strings as Buffers, nil as null.
function parse(buf, pos) {
  if (pos >= buf.length) return null;
  const nl = buf.indexOf('\r\n', pos);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('latin1', pos + 1, nl);
  let next = nl + 2;
  switch (type) {
    case '+': return { value: line, pos: next };
    case '-': return { value: new RedisError(line), pos: next };
    case ':': return { value: Number(line), pos: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.subarray(next, next + n), pos: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      const out = [];
      for (let i = 0; i < n; i++) {
        const r = parse(buf, next);
        if (r === null) return null;
        out.push(r.value);
        next = r.pos;
      }
      return { value: out, pos: next };
    }
    default: throw new Error(`redis: bad reply type ${JSON.stringify(type)}`);
  }
}

// A connection: cmd() queues a command and resolves with its reply, in order.
function connect(port) {
  const sock = net.connect(port, '127.0.0.1');
  const waiting = [];
  let buf = Buffer.alloc(0);
  let failed = null;
  const opened = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  opened.catch(() => {});
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const r = parse(buf, 0);
      if (r === null) break;
      buf = buf.subarray(r.pos);
      const w = waiting.shift();
      if (!w) continue;
      if (r.value instanceof RedisError) w.reject(r.value); else w.resolve(r.value);
    }
  });
  function fail(e) {
    failed = failed || e || new Error('redis: connection closed');
    while (waiting.length) waiting.shift().reject(failed);
  }
  sock.on('error', fail);
  sock.on('close', () => fail(null));
  return {
    opened,
    get closed() { return failed !== null; },
    cmd(...args) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        sock.write(encode(args));
      });
    },
    close() { sock.destroy(); },
  };
}

async function startRedis({ port } = {}) {
  const version = requireRedis();
  port = port || await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-redis-'));
  let child = null;
  let log = '';
  let conn = null;

  async function ping(deadline) {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited (${child.exitCode}/${child.signalCode}) before answering PING:\n${log}`);
      }
      const c = connect(port);
      try {
        await c.opened;
        if (await c.cmd('PING') === 'PONG') return;
      } catch { /* not up yet */ } finally { c.close(); }
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port}: no PONG within 5s:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function start() {
    log = '';
    child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                          '--dir', dir, '--daemonize', 'no', '--logfile', '', '--databases', '1'],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.stdout.on('data', (d) => { log += d.toString(); });
    child.stderr.on('data', (d) => { log += d.toString(); });
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }));
    await ping(Date.now() + 5000);
  }

  async function halt(sig) {
    if (conn) { conn.close(); conn = null; }
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await child.exited;
  }

  await start();
  return {
    port,
    version,
    log: () => log,
    // A command on the shared connection (opened again after a restart).
    async cmd(...args) {
      if (!conn || conn.closed) {
        conn = connect(port);
        await conn.opened;
      }
      return conn.cmd(...args);
    },
    // A command on a connection of its own, closed after the reply.
    async send(...args) {
      const c = connect(port);
      try {
        await c.opened;
        return await c.cmd(...args);
      } finally {
        c.close();
      }
    },
    // SIGKILL, as a crash: no shutdown, connections cut.
    kill: () => halt('SIGKILL'),
    // A new empty server on the same port.
    restart: start,
    stop: () => halt('SIGTERM'),
  };
}

module.exports = { startRedis, requireRedis, RedisError };
