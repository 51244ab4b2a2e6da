// SPDX-License-Identifier: Apache-2.0
// Request coalescing: concurrent misses for one key make one origin request; the
// others wait and get the stored answer (Cache-Status "collapsed"). When the
// answer cannot be stored, the waiters go to the origin themselves.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin(['-w', '2']);
  edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api', cache: '{}' }],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('100 concurrent clients on one cold key make exactly one origin request', async () => {
      const p = `/api/product/${300 + pi}?delay=300`;
      const before0 = await origin.stats();
      const rs = await Promise.all(Array.from({ length: 100 }, () => c.request({ edge, path: p })));
      const n = (await origin.stats()) - before0;
      assert.strictEqual(n, 1, `${n} origin requests`);
      assert.ok(rs.every((r) => r.status === 200 && r.body === rs[0].body));
      const collapsed = rs.filter((r) => /collapsed/.test(r.headers['cache-status'])).length;
      const stored = rs.filter((r) => /fwd=miss; stored/.test(r.headers['cache-status'])).length;
      assert.strictEqual(stored, 1);
      assert.ok(collapsed >= 90, `${collapsed} collapsed`);
    });

    it('when the answer is not storable, every waiter goes to the origin', async () => {
      const p = `/api/product/${310 + pi}?delay=200&cc=no-store`;
      const before0 = await origin.stats();
      const rs = await Promise.all(Array.from({ length: 10 }, () => c.request({ edge, path: p })));
      const n = (await origin.stats()) - before0;
      assert.ok(rs.every((r) => r.status === 200));
      assert.strictEqual(n, 10);
    });

    it('after an answer that could not be stored, the key is hit-for-miss: no queueing', async () => {
      const p = `/api/product/${320 + pi}?delay=100&cc=no-store`;
      await c.request({ edge, path: p });
      const rs = await Promise.all(Array.from({ length: 10 }, () => c.request({ edge, path: p })));
      assert.ok(rs.every((r) => /detail=hit-for-miss/.test(r.headers['cache-status'])));
      assert.ok(rs.every((r) => !/collapsed/.test(r.headers['cache-status'])));
    });
  });
}
