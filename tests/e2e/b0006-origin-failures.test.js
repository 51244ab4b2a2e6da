// SPDX-License-Identifier: Apache-2.0
// Origin failures, over HTTP/1.1, h2c and h2: nothing listening → 502 naming the
// origin; too slow → 504 naming it; an idempotent request is retried once on
// another server; a server failing max_fails times in a row is skipped for
// fail_timeout (passive health). Each case starts its own tessera.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

// A port with nothing listening: bind, read the port, close.
async function deadPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

let origin;
before(async () => { origin = await h.startOrigin(); });
after(async () => { await origin.stop(); });

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('origin down gives 502 naming the origin', async () => {
      const dead = await deadPort();
      const edge = await h.startTessera(h.config({ origins: { catalogue: [`127.0.0.1:${dead}`] } }));
      try {
        const r = await c.request({ edge, path: '/api/nav' });
        assert.strictEqual(r.status, 502);
        assert.match(r.body, /catalogue/);
      } finally { await edge.stop(); }
    });

    it('a slow origin gives 504 naming the origin, at the origin timeout', async () => {
      const cfg = h.config({ origins: { slowapi: [`127.0.0.1:${origin.port}`] } })
        .replace('timeout = "2s"', 'timeout = "300ms"');
      const edge = await h.startTessera(cfg);
      try {
        const t0 = Date.now();
        const r = await c.request({ edge, path: '/api/nav?delay=2000' });
        const took = Date.now() - t0;
        assert.strictEqual(r.status, 504);
        assert.match(r.body, /slowapi/);
        assert.ok(took >= 250 && took < 1900, `answered after ${took}ms`);
      } finally { await edge.stop(); }
    });

    it('an idempotent request is retried on another server, and a failing server is skipped', async () => {
      const dead = await deadPort();
      const cfg = h.config({ origins: { api: [`127.0.0.1:${dead}`, `127.0.0.1:${origin.port}`] }, workers: 1 })
        .replace('timeout = "2s"', 'timeout = "2s", max_fails = 2, fail_timeout = "30s"');
      const edge = await h.startTessera(cfg);
      try {
        for (let i = 0; i < 6; i++) {
          const r = await c.request({ edge, path: `/api/product/${i + 1}` });
          assert.strictEqual(r.status, 200, `request ${i}`);
        }
        // After two failures the dead server is cooling down: its failures stop.
        const warnings = edge.stderr().match(/connect failed|connection closed|unreachable/g) || [];
        assert.ok(warnings.length <= 2, `dead server tried ${warnings.length} times`);
        assert.match(edge.stderr(), /skipped for/);
      } finally { await edge.stop(); }
    });

    it('a POST is not retried: it gets 502 when its server is down', async () => {
      const dead = await deadPort();
      const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${dead}`, `127.0.0.1:${origin.port}`] }, workers: 1 }));
      try {
        const statuses = [];
        for (let i = 0; i < 2; i++) {
          const r = await c.request({ edge, path: '/echo', method: 'POST', body: 'x' });
          statuses.push(r.status);
        }
        assert.deepStrictEqual(statuses.sort(), [200, 502], 'round robin: one POST hit the dead server');
      } finally { await edge.stop(); }
    });

    it('an origin that closes kept-alive connections does not fail requests', async () => {
      const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1 }));
      try {
        for (let i = 0; i < 5; i++) {
          // close=1: the origin answers with Connection: close and closes.
          const r = await c.request({ edge, path: `/api/product/${i + 1}?close=${i % 2}` });
          assert.strictEqual(r.status, 200);
        }
      } finally { await edge.stop(); }
    });
  });
}
