// SPDX-License-Identifier: Apache-2.0
// The Redis L2 shared by edge nodes (issue "Redis L2 shared by edge nodes"):
// lookups go L1, then Redis, then the origin; what one node stores another
// finds; Redis crashing, coming back, being slow or holding garbage never
// fails a request. Each scenario uses its own key prefix in one redis-server;
// without redis-server installed every test fails with a message saying so.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');
const { startRedis } = require('./lib/redis');

let origin, redis;
before(async () => {
  redis = await startRedis();
  origin = await h.startOrigin();
});
after(async () => {
  if (origin) await origin.stop();
  if (redis) await redis.stop();
});

// Every node is asked for the same site, as behind one CDN name: the host is
// part of the cache key.
const HOST = 'shop.test';

function get(edge, path, headers = {}) {
  return h.request({ port: edge.port, path, headers: { host: HOST, ...headers } });
}

const ROUTES = [
  { path: '/bench/*', origin: 'api', cache: '{ ttl = "60s" }' },
  { path: '/api/*', origin: 'api', cache: '{}' },
];

// A tessera with two workers, an admin listener and the L2 on `prefix`.
async function startEdge({ prefix, memory = '64MB', timeout = '100ms', failures = 5 }) {
  const redisCfg = `{ server = "127.0.0.1:${redis.port}", prefix = "${prefix}", timeout = "${timeout}", ` +
    `connect_timeout = "200ms", ttl_max = "1h", breaker = { failures = ${failures}, cooldown = "1s" } }`;
  const edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: ROUTES,
    tls: false,
    extra: `admin = { addr = "127.0.0.1:0" }\ncache = { memory = "${memory}", redis = ${redisCfg} }`,
  }));
  edge.admin = Number(await h.waitFor(
    () => (edge.stderr().match(/tessera admin listening on 127\.0\.0\.1:(\d+)/) || [])[1], 5000, 'the admin port'));
  return edge;
}

async function metrics(edge) {
  return (await h.request({ port: edge.admin, path: '/metrics' })).body;
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

// Waits until both workers of `edge` are connected to Redis.
function connected(edge, n = 2) {
  return h.waitFor(async () => metric(await metrics(edge), 'tessera_l2_connected') === n, 10000,
    `${n} L2 connections`);
}

// Runs fn(item, index) over items, `n` at a time.
async function pool(items, n, fn) {
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: n }, worker));
}

// The Redis keys under prefix, once there are `n` of them.
function keysOf(prefix, n) {
  return h.waitFor(async () => {
    const k = await redis.cmd('KEYS', `${prefix}*`);
    return k.length >= n ? k.map((b) => b.toString()) : null;
  }, 5000, `${n} keys under ${prefix}`);
}

// The freshness times of a stored object (cache/obj.h, serialized form).
function storedTimes(buf) {
  return { storedAt: Number(buf.readBigInt64LE(44)), expiresAt: Number(buf.readBigInt64LE(52)),
           staleUntil: Number(buf.readBigInt64LE(60)) };
}

async function delCalls() {
  const info = (await redis.cmd('INFO', 'commandstats')).toString();
  const m = info.match(/cmdstat_del:calls=(\d+)/);
  return m ? Number(m[1]) : 0;
}

test('an object evicted from the memory cache is served from Redis, not the origin', async () => {
  // 1MB of memory cache: 16 shards of 64KB, each holding some 18 of these
  // 3KB objects; 800 of them push the first ones out.
  const edge = await startEdge({ prefix: 'evict:', memory: '1MB' });
  try {
    await connected(edge);
    const paths = Array.from({ length: 800 }, (_, i) => `/bench/size/3000?cl=1&i=${i}`);
    const bodies = new Map();
    await pool(paths, 16, async (p, i) => {
      const r = await get(edge, p);
      assert.strictEqual(r.status, 200);
      assert.match(r.headers['cache-status'], /^tessera; fwd=miss; stored; ttl=(59|60)$/);
      if (i < 20) bodies.set(p, r.body);
    });
    const early = paths.slice(0, 20);
    const seen = [];
    const d = await h.originDelta(origin, async () => {
      for (const p of early) seen.push(await get(edge, p));
    });
    assert.strictEqual(d.requests, 0, 'no origin request');
    for (const [i, r] of seen.entries()) {
      assert.strictEqual(r.status, 200);
      assert.match(r.headers['cache-status'], /^tessera; hit; ttl=\d+; detail=l2$/, early[i]);
      assert.strictEqual(r.body, bodies.get(early[i]));
      assert.ok(Number(r.headers.age) >= 0);
    }
    // promoted: the memory cache has it again
    const again = await get(edge, early[0]);
    assert.match(again.headers['cache-status'], /^tessera; hit; ttl=\d+$/);
    const m = await metrics(edge);
    assert.ok(metric(m, 'tessera_l2_hits_total') >= 20);
    assert.ok(metric(m, 'tessera_l2_sets_total') >= 800);
  } finally {
    await edge.stop();
  }
});

test('two edge nodes share one Redis: the second one\'s first request is an L2 hit', async () => {
  const a = await startEdge({ prefix: 'shared:' });
  const b = await startEdge({ prefix: 'shared:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    for (const [i, proto] of ['h1', 'h2c'].entries()) {
      const c = h.client(proto);
      try {
        const p = `/api/product/${11 + i}`;
        const host = proto === 'h1' ? { host: HOST } : { ':authority': HOST };
        const first = await c.request({ edge: a, path: p, headers: host });
        assert.match(first.headers['cache-status'], /^tessera; fwd=miss; stored; ttl=(59|60)$/);
        await keysOf('shared:', i + 1);
        let r;
        const d = await h.originDelta(origin, async () => { r = await c.request({ edge: b, path: p, headers: host }); });
        assert.strictEqual(d.requests, 0, `${proto}: no origin request`);
        assert.strictEqual(r.status, 200);
        assert.match(r.headers['cache-status'], /^tessera; hit; ttl=\d+; detail=l2$/);
        assert.strictEqual(r.body, first.body);
        assert.strictEqual(r.headers['surrogate-key'], first.headers['surrogate-key']);
      } finally {
        await c.close();
      }
    }
    const keys = await keysOf('shared:', 2);
    for (const k of keys) {
      assert.match(k, /^shared:[0-9a-f]{32}$/);
      const ttl = await redis.cmd('TTL', k);
      assert.ok(ttl > 0 && ttl <= 60, `EX set from the object's lifetime, got ${ttl}`);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a varying URL: the marker and the variants are shared too', async () => {
  const a = await startEdge({ prefix: 'vary:' });
  const b = await startEdge({ prefix: 'vary:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    const p = `/api/product/21?${h.hdrParam('Vary', 'Accept-Language')}`;
    const de = { 'accept-language': 'de' };
    const first = await get(a, p, de);
    assert.match(first.headers['cache-status'], /stored/);
    await keysOf('vary:', 2); // the marker and the "de" variant
    let r;
    const d = await h.originDelta(origin, async () => { r = await get(b, p, de); });
    assert.strictEqual(d.requests, 0);
    assert.match(r.headers['cache-status'], /^tessera; hit; ttl=\d+; detail=l2$/);
    assert.strictEqual(r.body, first.body);
    // another language is another variant: a miss on both levels
    const fr = await get(b, p, { 'accept-language': 'fr' });
    assert.match(fr.headers['cache-status'], /^tessera; fwd=miss; stored/);
    await keysOf('vary:', 3);
    const fromA = await get(a, p, { 'accept-language': 'fr' });
    assert.match(fromA.headers['cache-status'], /^tessera; hit; ttl=\d+; detail=l2$/);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a stale copy from Redis is served within stale-while-revalidate and refreshed', async () => {
  const a = await startEdge({ prefix: 'swr:' });
  const b = await startEdge({ prefix: 'swr:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    const p = `/api/product/22?cc=${encodeURIComponent('max-age=1, stale-while-revalidate=30')}`;
    const first = await get(a, p);
    assert.match(first.headers['cache-status'], /stored; ttl=[01]$/);
    const [key] = await keysOf('swr:', 1);
    const t = storedTimes(await redis.cmd('GET', key));
    assert.strictEqual(t.staleUntil - t.expiresAt, 30);
    // the stored copy expires (its own time, read back from Redis)
    await h.waitFor(() => Date.now() / 1000 >= t.expiresAt + 0.05, 5000, 'the copy to expire');
    let r;
    const d = await h.originDelta(origin, async () => {
      r = await get(b, p);
      // the background refresh stores a fresh copy in b's memory cache
      await h.requestUntil(h.client('h1'), { edge: b, path: p, headers: { host: HOST } },
        (x) => /^tessera; hit; ttl=/.test(x.headers['cache-status']), 5000, 'the refreshed copy');
    });
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.headers['cache-status'], 'tessera; hit; detail=l2-stale-while-revalidate');
    assert.strictEqual(r.body, first.body);
    assert.strictEqual(d.requests, 1, 'one background refresh');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a page and its fragments are shared through Redis', async () => {
  const templates = h.templateDir({ 'pages/p.html.mustache': '<p>{{#product}}product{{/product}}</p>\n' });
  const cfg = (prefix) => h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    templates,
    tls: false,
    routes: [{ path: '/p/:id', template: 'pages/p', cache: { ttl: '60s' },
               fragments: { product: { origin: 'api', path: '/api/product/:id', required: true } } }],
    extra: `admin = { addr = "127.0.0.1:0" }\ncache = { redis = { server = "127.0.0.1:${redis.port}", ` +
      `prefix = "${prefix}", timeout = "100ms" } }`,
  });
  const a = await h.startTessera(cfg('page:'));
  const b = await h.startTessera(cfg('page:'));
  try {
    for (const e of [a, b]) {
      e.admin = Number(await h.waitFor(
        () => (e.stderr().match(/tessera admin listening on 127\.0\.0\.1:(\d+)/) || [])[1], 5000, 'admin'));
      await connected(e);
    }
    const first = await get(a, '/p/23');
    assert.strictEqual(first.status, 200);
    assert.match(first.body, /<p>product<\/p>/);
    await keysOf('page:', 2); // the page and its fragment
    let r;
    const d = await h.originDelta(origin, async () => { r = await get(b, '/p/23'); });
    assert.strictEqual(d.requests, 0);
    assert.match(r.headers['cache-status'], /^tessera; hit; ttl=\d+; detail=l2$/);
    assert.strictEqual(r.body, first.body);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a corrupt value in Redis is a miss and is deleted', async () => {
  const a = await startEdge({ prefix: 'bad:' });
  const b = await startEdge({ prefix: 'bad:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    await get(a, '/api/product/31');
    const [key] = await keysOf('bad:', 1);
    assert.match(key, /^bad:[0-9a-f]{32}$/);
    assert.strictEqual((await redis.cmd('GET', key)).subarray(0, 4).toString(), 'TSOB');
    await redis.cmd('SET', key, 'not a stored object');
    const dels = await delCalls();
    const corrupt = metric(await metrics(b), 'tessera_l2_corrupt_total');
    let r;
    const d = await h.originDelta(origin, async () => { r = await get(b, '/api/product/31'); });
    assert.strictEqual(r.status, 200);
    assert.match(r.headers['cache-status'], /^tessera; fwd=miss; stored/);
    assert.strictEqual(d.requests, 1);
    assert.strictEqual(metric(await metrics(b), 'tessera_l2_corrupt_total'), corrupt + 1);
    await h.waitFor(async () => (await delCalls()) > dels, 5000, 'the DEL of the corrupt value');
    // b stored its own answer in its place
    await h.waitFor(async () => {
      const v = await redis.cmd('GET', key);
      return v !== null && v.subarray(0, 4).toString() === 'TSOB';
    }, 5000, 'a good copy in place of the corrupt one');

    // A well-formed object of another key under this key: corrupt too (the key
    // bytes decide, not the hash in the name).
    await get(a, '/api/product/33');
    const k33 = (await keysOf('bad:', 2)).find((k) => k !== key);
    const own = await get(a, '/api/product/34');
    const k34 = (await keysOf('bad:', 3)).find((k) => k !== key && k !== k33);
    await redis.cmd('SET', k34, await redis.cmd('GET', k33));
    const other = await get(b, '/api/product/34');
    assert.match(other.headers['cache-status'], /^tessera; fwd=miss; stored/);
    assert.strictEqual(other.body, own.body);
    assert.strictEqual(metric(await metrics(b), 'tessera_l2_corrupt_total'), corrupt + 2);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('an unsafe request invalidates the URL in Redis too (RFC 9111 4.4)', async () => {
  const a = await startEdge({ prefix: 'unsafe:' });
  const b = await startEdge({ prefix: 'unsafe:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    await get(a, '/api/product/41');
    await keysOf('unsafe:', 1);
    const post = await h.request({ port: a.port, path: '/api/product/41', method: 'POST', body: 'x',
                                   headers: { host: HOST } });
    assert.strictEqual(post.status, 200);
    await h.waitFor(async () => (await redis.cmd('KEYS', 'unsafe:*')).length === 0, 5000, 'the DEL');
    const r = await get(b, '/api/product/41');
    assert.match(r.headers['cache-status'], /^tessera; fwd=miss; stored/);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a slow Redis delays no request beyond its timeout, and the breaker opens', async () => {
  const edge = await startEdge({ prefix: 'slow:', timeout: '20ms', failures: 3 });
  try {
    await connected(edge);
    const opened = metric(await metrics(edge), 'tessera_l2_breaker_opened_total');
    // Redis answers nothing for 600 ms from the moment this OK arrives (the same
    // effect as DEBUG SLEEP 0.6, but known to be in force when we go on).
    assert.strictEqual(await redis.send('CLIENT', 'PAUSE', '600', 'ALL'), 'OK');
    const times = [];
    await pool(Array.from({ length: 60 }, (_, i) => `/api/product/${500 + i}`), 8, async (p) => {
      const t0 = process.hrtime.bigint();
      const r = await get(edge, p);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.strictEqual(r.status, 200);
    });
    const worst = Math.max(...times);
    assert.ok(worst < 200, `slowest request ${worst.toFixed(1)} ms`);
    const m = await metrics(edge);
    assert.ok(metric(m, 'tessera_l2_timeouts_total') >= 3);
    assert.ok(metric(m, 'tessera_l2_breaker_opened_total') > opened, 'the breaker opened');
    assert.ok(metric(m, 'tessera_l2_skipped_total') > 0, 'lookups skipped while it was open');
    assert.match(edge.stderr(), /breaker open after 3 failed lookups in a row/);
    // Redis is back: after the cooldown a probe closes the breakers again.
    let n = 600;
    await h.waitFor(async () => {
      await get(edge, `/api/product/${n++}`);
      return metric(await metrics(edge), 'tessera_l2_breaker_open') === 0;
    }, 10000, 'the breakers to close');
  } finally {
    await edge.stop();
  }
});

test('Redis killed under load fails no request, and is used again once restarted', async () => {
  const a = await startEdge({ prefix: 'kill:' });
  const b = await startEdge({ prefix: 'kill:' });
  try {
    await Promise.all([connected(a), connected(b)]);
    const statuses = [];
    let killed = null;
    const paths = Array.from({ length: 300 }, (_, i) => `/api/product/${700 + (i % 120)}`);
    await pool(paths, 16, async (p, i) => {
      if (i === 100) killed = redis.kill();
      const r = await get(i % 2 ? a : b, p);
      statuses.push(r.status);
    });
    await killed;
    assert.strictEqual(statuses.length, 300);
    assert.deepStrictEqual(statuses.filter((s) => s !== 200), [], 'every request answered 200');
    await h.waitFor(async () => metric(await metrics(a), 'tessera_l2_connected') === 0, 5000, 'a to notice');
    await redis.restart(); // empty: nothing survived the crash
    await Promise.all([connected(a), connected(b)]);
    // What a stores now, b finds (once the breakers let lookups through again).
    let id = 900;
    const hit = await h.waitFor(async () => {
      const p = `/api/product/${id++}`;
      await get(a, p);
      const r = await get(b, p);
      return /detail=l2/.test(r.headers['cache-status']) ? r : null;
    }, 10000, 'an L2 hit after the restart');
    assert.strictEqual(hit.status, 200);
    assert.ok(metric(await metrics(a), 'tessera_l2_connects_total') >= 4, 'two workers, connected twice');
  } finally {
    await a.stop();
    await b.stop();
  }
});
