// SPDX-License-Identifier: Apache-2.0
// /metrics on the admin listener: Prometheus text with the memory cache's gauges
// and per-route cache counters that follow what the clients saw.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge, admin;
test.before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api', cache: '{}' }, { path: '/*', origin: 'api' }],
    extra: 'admin = { addr = "127.0.0.1:0" }',
  }));
  admin = Number(await h.waitFor(() => (edge.stderr().match(/tessera admin listening on 127\.0\.0\.1:(\d+)/) || [])[1],
    5000, 'the admin port'));
});
test.after(async () => { await edge.stop(); await origin.stop(); });

function metric(text, name, route) {
  const re = new RegExp(`^${name}${route ? `\\{route="${route.replace(/[*]/g, '\\*')}"\\}` : ''} (\\d+)$`, 'm');
  const m = text.match(re);
  return m ? Number(m[1]) : undefined;
}

test('cache counters and gauges follow the traffic', async () => {
  const before0 = (await h.request({ port: admin, path: '/metrics' })).body;
  for (let i = 0; i < 3; i++) await h.request({ port: edge.port, path: '/api/product/77' });
  await h.request({ port: edge.port, path: '/api/product/78?cc=no-store' });
  const r = await h.request({ port: admin, path: '/metrics' });
  assert.strictEqual(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain/);
  const d = (name) => metric(r.body, name, '/api/*') - metric(before0, name, '/api/*');
  assert.strictEqual(d('tessera_cache_hits_total'), 2);
  assert.strictEqual(d('tessera_cache_misses_total'), 2);
  assert.strictEqual(d('tessera_cache_stored_total'), 1);
  assert.ok(metric(r.body, 'tessera_cache_objects') >= 1);
  assert.ok(metric(r.body, 'tessera_cache_bytes') > 0);
  assert.ok(metric(r.body, 'tessera_cache_bytes') <= metric(r.body, 'tessera_cache_max_bytes'));
  assert.strictEqual(metric(r.body, 'tessera_cache_hits_total', '/*'), undefined, 'uncached routes have none');
});

test('the admin listener answers only /metrics', async () => {
  const r = await h.request({ port: admin, path: '/other' });
  assert.strictEqual(r.status, 404);
});
