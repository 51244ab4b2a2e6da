// SPDX-License-Identifier: Apache-2.0
// Purges reach every node and the Redis L2 (issue "Redis L2 shared by edge
// nodes, purge by URL and tag, cross-node invalidation"; acceptance: a tag purge
// on one node empties the matching pages on the other within 100 ms). Nodes
// sharing a Redis publish their purges on `<prefix>purge`; every purge is also a
// ban (kept in `<prefix>bans`) that keeps older copies in Redis from being
// served; a node whose subscription was cut flushes its memory cache when it
// subscribes again; garbage on the channel is counted and ignored. Each scenario
// uses its own key prefix in one redis-server.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');
const { startRedis } = require('./lib/redis');

const TOKEN = 'r2.purge-token_for-tests';
const HOST = 'shop.test';

let origin, redis, tokenFile;
before(async () => {
  redis = await startRedis();
  origin = await h.startOrigin();
  tokenFile = h.tmpFile('admin.token', `${TOKEN}\n`);
});
after(async () => {
  if (origin) await origin.stop();
  if (redis) await redis.stop();
});

const cs = (r) => r.headers['cache-status'] || '';
const L1_HIT = /^tessera; hit; ttl=\d+$/;
const MISS = /^tessera; fwd=miss/;

function get(edge, path) {
  return h.request({ port: edge.port, path, headers: { host: HOST } });
}

async function metrics(edge) {
  return (await h.request({ port: edge.admin, path: '/metrics' })).body;
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

// A tessera with two workers, the admin API with a token and the L2 on `prefix`;
// returned once its workers are connected and it is subscribed.
async function startEdge(prefix) {
  const redisCfg = `{ server = "127.0.0.1:${redis.port}", prefix = "${prefix}", timeout = "100ms", ` +
    'connect_timeout = "200ms", ttl_max = "1h" }';
  const edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api', cache: '{}' }],
    tls: false,
    extra: `admin = { addr = "127.0.0.1:0", token_file = ${JSON.stringify(tokenFile)} }\n` +
      `cache = { memory = "64MB", redis = ${redisCfg} }\npurge = { allow = { "127.0.0.1" } }`,
  }));
  edge.admin = Number(await h.waitFor(
    () => (edge.stderr().match(/tessera admin listening on 127\.0\.0\.1:(\d+)/) || [])[1], 5000, 'the admin port'));
  await h.waitFor(async () => {
    const m = await metrics(edge);
    return metric(m, 'tessera_l2_connected') === 2 && metric(m, 'tessera_purge_subscribed') === 1;
  }, 10000, 'L2 connections and the subscription');
  return edge;
}

function purge(edge, params) {
  const body = new URLSearchParams(params).toString();
  return h.request({
    port: edge.admin, method: 'POST', path: '/purge', body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body),
               authorization: `Bearer ${TOKEN}` },
  });
}

// Both nodes hold `path` in their memory cache (the second one took it from Redis).
async function cachedOnBoth(a, b, path) {
  assert.match(cs(await get(a, path)), MISS);
  assert.match(cs(await get(a, path)), L1_HIT);
  const first = await get(b, path);
  assert.match(cs(first), /^tessera; (hit; ttl=\d+; detail=l2|fwd=miss)/);
  assert.match(cs(await get(b, path)), L1_HIT);
}

// Polls node every 10 ms from t0 until pred(Cache-Status); returns the delay (ms)
// from t0 to the answer that matched.
async function firstMatch(node, path, pred, t0, limitMs = 2000) {
  for (;;) {
    const r = await get(node, path);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (pred(cs(r))) return { dt, r };
    if (dt > limitMs) throw new Error(`no match within ${limitMs} ms: last ${cs(r)}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

test('a tag purge on one node empties the matching objects on the other within 100 ms', async (t) => {
  const a = await startEdge('tag:');
  const b = await startEdge('tag:');
  try {
    await cachedOnBoth(a, b, '/api/product/1');
    await cachedOnBoth(a, b, '/api/product/10');
    const r = await purge(a, { tag: 'product-1' });
    const t0 = process.hrtime.bigint();
    assert.strictEqual(r.status, 200, r.body);
    assert.deepStrictEqual(JSON.parse(r.body), { purged: 1, kind: 'tag', soft: false });
    const { dt } = await firstMatch(b, '/api/product/1', (s) => MISS.test(s), t0);
    t.diagnostic(`node B: first miss ${dt.toFixed(1)} ms after the answer`);
    assert.ok(dt <= 100, `node B missed ${dt.toFixed(1)} ms after node A's answer`);
    assert.match(cs(await get(a, '/api/product/1')), MISS);
    assert.match(cs(await get(b, '/api/product/10')), L1_HIT); // exact tags only
    const ma = await metrics(a), mb = await metrics(b);
    assert.ok(metric(ma, 'tessera_purge_messages_sent_total') >= 1);
    assert.strictEqual(metric(ma, 'tessera_purge_messages_received_total'), 0, 'a node ignores its own');
    assert.ok(metric(mb, 'tessera_purge_messages_received_total') >= 1);
    assert.strictEqual(metric(mb, 'tessera_purge_messages_bad_total'), 0);
    // The ban is in Redis too.
    assert.strictEqual(await redis.cmd('ZCARD', 'tag:bans'), 1);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('URL and soft purges reach the other node', async () => {
  const a = await startEdge('url:');
  const b = await startEdge('url:');
  try {
    await cachedOnBoth(a, b, '/api/product/2?x=1&y=2');
    await cachedOnBoth(a, b, '/api/product/3');
    let t0 = process.hrtime.bigint();
    // The query in another order: normalised as keys are, on the other node too.
    let r = await purge(a, { url: `http://${HOST}/api/product/2?y=2&x=1` });
    assert.deepStrictEqual(JSON.parse(r.body), { purged: 1, kind: 'url', soft: false });
    let m = await firstMatch(b, '/api/product/2?x=1&y=2', (s) => MISS.test(s), t0);
    assert.ok(m.dt <= 1000, `${m.dt} ms`);
    assert.match(cs(await get(b, '/api/product/3')), L1_HIT);
    // Soft: the other node's copy is stale, revalidated with the origin.
    t0 = process.hrtime.bigint();
    r = await purge(a, { url: '/api/product/3', soft: '1' });
    assert.deepStrictEqual(JSON.parse(r.body), { purged: 1, kind: 'url', soft: true });
    m = await firstMatch(b, '/api/product/3', (s) => !L1_HIT.test(s), t0);
    assert.match(cs(m.r), /^tessera; fwd=stale/);
    assert.match(cs(await get(b, '/api/product/3')), L1_HIT);
    // The PURGE method (run on a worker thread) reaches the other node as well.
    await cachedOnBoth(a, b, '/api/product/9');
    t0 = process.hrtime.bigint();
    r = await h.request({ port: b.port, method: 'PURGE', path: '/api/product/9', headers: { host: HOST } });
    assert.strictEqual(r.status, 200, r.body);
    m = await firstMatch(a, '/api/product/9', (s) => MISS.test(s), t0);
    assert.ok(m.dt <= 1000, `${m.dt} ms`);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a purged object is not served from Redis to a node started afterwards (bans in Redis)', async () => {
  const a = await startEdge('ban:');
  try {
    assert.match(cs(await get(a, '/api/product/4')), MISS);
    assert.match(cs(await get(a, '/api/product/5')), MISS);
    assert.match(cs(await get(a, '/api/product/8')), MISS);
    await h.waitFor(async () => (await redis.cmd('KEYS', 'ban:*')).length >= 3, 5000, 'the copies in Redis');
    let r = await purge(a, { tag: 'product-4' });
    assert.strictEqual(r.status, 200, r.body);
    r = await purge(a, { tag: 'product-8', soft: '1' });
    assert.strictEqual(r.status, 200, r.body);
    await h.waitFor(async () => (await redis.cmd('ZCARD', 'ban:bans')) === 2, 5000, 'the bans in Redis');
  } finally {
    await a.stop();
  }
  // The purged copy is still in Redis (its key cannot be named by a tag).
  const c = await startEdge('ban:');
  try {
    await h.waitFor(async () => metric(await metrics(c), 'tessera_l2_bans') === 2, 5000, 'the bans loaded');
    const keys = (await redis.cmd('KEYS', 'ban:*')).length;
    assert.match(cs(await get(c, '/api/product/4')), MISS);
    assert.match(cs(await get(c, '/api/product/5')), /^tessera; hit; ttl=\d+; detail=l2$/);
    // Soft: the copy is stale (no stale-while-revalidate here: fetched again).
    assert.doesNotMatch(cs(await get(c, '/api/product/8')), /hit/);
    assert.strictEqual(metric(await metrics(c), 'tessera_l2_banned_total'), 2);
    assert.ok(keys >= 4, 'the copies and the bans were in Redis');
  } finally {
    await c.stop();
  }
});

test('a node whose subscription was cut flushes its memory cache when it subscribes again', async () => {
  const a = await startEdge('cut:');
  try {
    assert.match(cs(await get(a, '/api/product/6')), MISS);
    assert.match(cs(await get(a, '/api/product/6')), L1_HIT);
    const before = metric(await metrics(a), 'tessera_purge_resyncs_total');
    await redis.send('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await h.waitFor(async () => {
      const m = await metrics(a);
      return metric(m, 'tessera_purge_resyncs_total') > before && metric(m, 'tessera_purge_subscribed') === 1;
    }, 5000, 'the new subscription');
    // Not in the memory cache any more: from Redis (stored before any purge).
    assert.match(cs(await get(a, '/api/product/6')), /^tessera; hit; ttl=\d+; detail=l2$/);
    assert.match(a.stderr(), /memory cache flushed \(1 objects\)/);
  } finally {
    await a.stop();
  }
});

test('garbage published on the purge channel is counted and ignored', async () => {
  const a = await startEdge('junk:');
  try {
    assert.match(cs(await get(a, '/api/product/7')), MISS);
    const junk = ['', 'x', 'TSPG', Buffer.alloc(36), Buffer.concat([Buffer.from('TSPG\x01\x02\x00\x00'), Buffer.alloc(28, 0xff)]),
      Buffer.alloc(70000, 0x41)];
    for (const j of junk) await redis.cmd('PUBLISH', 'junk:purge', j);
    await h.waitFor(async () => metric(await metrics(a), 'tessera_purge_messages_bad_total') === junk.length,
      5000, 'the bad messages counted');
    assert.match(cs(await get(a, '/api/product/7')), L1_HIT);
    assert.strictEqual(metric(await metrics(a), 'tessera_purge_messages_received_total'), 0);
  } finally {
    await a.stop();
  }
});
