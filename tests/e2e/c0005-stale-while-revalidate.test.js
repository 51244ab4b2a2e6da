// SPDX-License-Identifier: Apache-2.0
// stale-while-revalidate (RFC 5861 3): an expired copy inside the window is
// answered at once while one background request refreshes it; the next request
// then hits the refreshed copy.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api', cache: '{ stale_while_revalidate = "30s" }' }],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('answers stale at once, refreshes once in the background, then hits', async () => {
      // The origin is slow: a stale answer that waited for it would take 400 ms.
      const p = `/api/product/${400 + pi}?cc=${encodeURIComponent('max-age=2')}&delay=400`;
      const first = await c.request({ edge, path: p });
      assert.match(first.headers['cache-status'], /stored; ttl=2/);
      const stale = await h.waitFor(async () => {
        const r = await c.request({ edge, path: p });
        return /stale-while-revalidate/.test(r.headers['cache-status'] || '') ? r : null;
      }, 10000, 'a stale answer');
      assert.strictEqual(stale.status, 200);
      assert.strictEqual(stale.body, first.body);
      assert.ok(Number(stale.headers.age) >= 1);
      const before0 = await origin.stats();
      // More requests while the refresh is in flight are stale answers too, not
      // further origin requests.
      const more = await Promise.all(Array.from({ length: 5 }, () => c.request({ edge, path: p })));
      assert.ok(more.every((r) => r.status === 200));
      const fresh = await h.waitFor(async () => {
        const r = await c.request({ edge, path: p });
        return /^tessera; hit; ttl=/.test(r.headers['cache-status'] || '') ? r : null;
      }, 10000, 'the refreshed copy');
      assert.ok(Number(fresh.headers.age) <= 2);
      assert.ok((await origin.stats()) - before0 <= 1, 'one background refresh at most');
    });
  });
}
