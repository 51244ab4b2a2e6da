// SPDX-License-Identifier: Apache-2.0
// The memory cache on routes with a `cache` table, over HTTP/1.1, h2c and h2:
// one case per rule, each naming the RFC section it checks. The demo origin's
// request counter (/__stats) tells what reached it.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [
      { path: '/api/*', origin: 'api', cache: '{}' },
      { path: '/echo', origin: 'api', cache: '{}' },
      { path: '/forced/*', origin: 'api', cache: '{ ttl = "30s" }' },
      { path: '/*', origin: 'api' },
    ],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

// Requests that reached the origin while `fn` ran (the stats call itself is
// not counted by the origin).
async function originHits(fn) {
  const before0 = await origin.stats();
  await fn();
  return (await origin.stats()) - before0;
}

const cc = (v) => `cc=${encodeURIComponent(v)}`;

describe('h1 only', () => {
  it('pipelined requests answered from the cache stay in order', async () => {
    const ids = [901, 902];
    const pipeline = ids.map((i, k) => `GET /api/product/${i} HTTP/1.1\r\nHost: x\r\n` +
      (k === ids.length - 1 ? 'Connection: close\r\n' : '') + '\r\n').join('');
    await h.raw(edge.port, pipeline); // stores both (the Host is part of the key)
    const res = await h.raw(edge.port, pipeline);
    const rs = h.parseResponses(res.text);
    assert.deepStrictEqual(rs.map((r) => JSON.parse(r.body).id), ids);
    assert.ok(rs.every((r) => /hit/.test(r.headers['cache-status'])));
  });
});

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());
    let next = 100 + pi * 100; // product ids unique to this protocol's cases
    const id = () => next++;

    it('a storable response is stored, then served from memory (RFC 9111 3, 4)', async () => {
      const p = `/api/product/${id()}`;
      let first, second;
      const n = await originHits(async () => {
        first = await c.request({ edge, path: p });
        second = await c.request({ edge, path: p });
      });
      assert.strictEqual(n, 1);
      assert.match(first.headers['cache-status'], /^tessera; fwd=miss; stored; ttl=\d+/);
      assert.match(second.headers['cache-status'], /^tessera; hit; ttl=\d+/);
      assert.strictEqual(second.body, first.body);
      assert.strictEqual(second.status, 200);
    });

    it('a hit carries Age (RFC 9111 5.1) and no Age on the miss', async () => {
      const p = `/api/product/${id()}`;
      const first = await c.request({ edge, path: p });
      const second = await c.request({ edge, path: p });
      assert.strictEqual(first.headers.age, undefined);
      assert.match(second.headers.age, /^\d+$/);
      assert.ok(Number(second.headers.age) <= 2);
    });

    it('no-store is never stored (RFC 9111 5.2.2.5)', async () => {
      const p = `/api/product/${id()}?${cc('no-store')}`;
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p });
        assert.match(r.headers['cache-status'], /fwd=miss; detail=no-store/);
        await c.request({ edge, path: p });
      });
      assert.strictEqual(n, 2);
    });

    it('private is not stored by a shared cache (RFC 9111 5.2.2.7)', async () => {
      const p = `/api/product/${id()}?${cc('private, max-age=60')}`;
      const n = await originHits(async () => {
        await c.request({ edge, path: p });
        await c.request({ edge, path: p });
      });
      assert.strictEqual(n, 2);
    });

    it('max-age=0 gives nothing to reuse (RFC 9111 4.2.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=0')}`;
      const n = await originHits(async () => {
        await c.request({ edge, path: p });
        await c.request({ edge, path: p });
      });
      assert.strictEqual(n, 2);
    });

    it('s-maxage wins over max-age in a shared cache (RFC 9111 5.2.2.10)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=0, s-maxage=60')}`;
      const n = await originHits(async () => {
        await c.request({ edge, path: p });
        const r = await c.request({ edge, path: p });
        assert.match(r.headers['cache-status'], /hit/);
      });
      assert.strictEqual(n, 1);
    });

    it('query parameters in another order hit the same entry', async () => {
      const i = id();
      const n = await originHits(async () => {
        await c.request({ edge, path: `/api/product/${i}?b=2&a=1` });
        const r = await c.request({ edge, path: `/api/product/${i}?a=1&b=2` });
        assert.match(r.headers['cache-status'], /hit/);
      });
      assert.strictEqual(n, 1);
    });

    it('dot segments and percent-encoding case are normalised for the key (RFC 3986 6.2.2)', async () => {
      const i = id();
      const n = await originHits(async () => {
        await c.request({ edge, path: `/api/product/${i}` });
        const r = await c.request({ edge, path: `/api/x/../product/%3${String(i)[0]}${String(i).slice(1)}` });
        assert.match(r.headers['cache-status'], /hit/);
      });
      assert.strictEqual(n, 1);
    });

    it('HEAD is answered from the GET entry (RFC 9110 9.3.2)', async () => {
      const p = `/api/product/${id()}`;
      const g = await c.request({ edge, path: p });
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p, method: 'HEAD' });
        assert.strictEqual(r.status, 200);
        assert.strictEqual(r.body, '');
        assert.strictEqual(r.headers['content-length'], g.headers['content-length']);
        assert.match(r.headers['cache-status'], /hit/);
      });
      assert.strictEqual(n, 0);
    });

    it('a successful POST invalidates the stored entry (RFC 9111 4.4)', async () => {
      const p = `/echo?${cc('max-age=60')}&k=${id()}`;
      await c.request({ edge, path: p });
      assert.match((await c.request({ edge, path: p })).headers['cache-status'], /hit/);
      const post = await c.request({ edge, path: p, method: 'POST', body: 'x' });
      assert.strictEqual(post.status, 200);
      const after1 = await c.request({ edge, path: p });
      assert.match(after1.headers['cache-status'], /fwd=miss/);
    });

    it('request Cache-Control: no-cache goes to the origin (RFC 9111 5.2.1.4)', async () => {
      const p = `/api/product/${id()}`;
      await c.request({ edge, path: p });
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p, headers: { 'cache-control': 'no-cache' } });
        assert.match(r.headers['cache-status'], /fwd=request/);
      });
      assert.strictEqual(n, 1);
    });

    it('a route ttl overrides the origin freshness', async () => {
      const p = `/forced/api/product/${id()}?${cc('max-age=1')}`;
      const r = await c.request({ edge, path: p });
      assert.match(r.headers['cache-status'], /stored; ttl=30/);
    });

    it('If-None-Match matching the stored ETag gets 304 from the cache (RFC 9111 4.3.2)', async () => {
      const p = `/api/product/${id()}?etag=1`;
      const first = await c.request({ edge, path: p });
      assert.ok(first.headers.etag);
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p, headers: { 'if-none-match': first.headers.etag } });
        assert.strictEqual(r.status, 304);
        assert.strictEqual(r.body, '');
        assert.strictEqual(r.headers.etag, first.headers.etag);
        const other = await c.request({ edge, path: p, headers: { 'if-none-match': '"nope"' } });
        assert.strictEqual(other.status, 200);
      });
      assert.strictEqual(n, 0);
    });

    it('If-Modified-Since not before Last-Modified gets 304 from the cache (RFC 9110 13.1.3)', async () => {
      const p = `/api/product/${id()}?lm=1`;
      const first = await c.request({ edge, path: p });
      assert.ok(first.headers['last-modified']);
      const r = await c.request({ edge, path: p, headers: { 'if-modified-since': first.headers['last-modified'] } });
      assert.strictEqual(r.status, 304);
    });

    it('responses of routes without a cache table carry no Cache-Status', async () => {
      const r = await c.request({ edge, path: '/status/200' });
      assert.strictEqual(r.headers['cache-status'], undefined);
    });
  });
}
