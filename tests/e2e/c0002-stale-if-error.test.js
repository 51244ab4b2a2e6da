// SPDX-License-Identifier: Apache-2.0
// stale-if-error (RFC 5861 4): once a stored response has expired and the origin
// fails, the stale copy is served with Cache-Status fwd=stale and the failure's
// status, for as long as the window allows; after it, the error goes through.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    let origin, edge;
    const c = h.client(proto);
    before(async () => {
      origin = await h.startOrigin();
      edge = await h.startTessera(h.config({
        origins: { api: [`127.0.0.1:${origin.port}`] },
        routes: [{ path: '/api/*', origin: 'api', cache: '{ stale_if_error = "4s" }' }],
      }));
    });
    after(async () => { c.close(); await edge.stop(); await origin.stop(); });

    it('serves the stale copy while the origin is down, within the window only', async () => {
      const p = `/api/product/5?cc=${encodeURIComponent('max-age=1')}`;
      const first = await c.request({ edge, path: p });
      assert.match(first.headers['cache-status'], /stored; ttl=1/);
      await origin.stop();
      const stale = await h.waitFor(async () => {
        const r = await c.request({ edge, path: p });
        return /fwd=stale/.test(r.headers['cache-status'] || '') ? r : null;
      }, 10000, 'a stale answer');
      assert.strictEqual(stale.status, 200);
      assert.strictEqual(stale.body, first.body);
      assert.match(stale.headers['cache-status'], /fwd=stale; fwd-status=502; detail=stale-if-error/);
      assert.ok(Number(stale.headers.age) >= 1, `Age ${stale.headers.age}`);
      const gone = await h.waitFor(async () => {
        const r = await c.request({ edge, path: p });
        return r.status === 502 ? r : null;
      }, 12000, 'the window to end');
      assert.match(gone.body, /origin api unreachable/);
    });
  });
}
