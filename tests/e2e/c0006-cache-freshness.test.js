// SPDX-License-Identifier: Apache-2.0
// Freshness and storability of the memory cache, over HTTP/1.1, h2c and h2: one
// case per rule, each naming the RFC section it checks. The demo origin adds
// response fields with ?hdr=Name:Value and backdates Last-Modified with ?lmago=N;
// its /__stats counters tell what reached it. Policy and reason strings come from
// cache/cc.c (see tests/unit/test_cc.c); ttl values allow one second of clock
// tick between the origin's Date and the cache's receipt.
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
      { path: '/echo/cookies/*', origin: 'api', cache: '{ allow_set_cookie = true }' },
      { path: '/echo/*', origin: 'api', cache: '{}' },
      { path: '/status/*', origin: 'api', cache: '{}' },
    ],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

// Requests that reached the origin while `fn` ran.
async function originHits(fn) {
  return (await h.originDelta(origin, fn)).requests;
}

const cc = (v) => `cc=${encodeURIComponent(v)}`;
const hdr = h.hdrParam;
const httpDate = (ms) => new Date(ms).toUTCString();
const cs = (r) => r.headers['cache-status'] || '';
const ttlOf = (r) => Number((cs(r).match(/ttl=(-?\d+)/) || [])[1]);

function between(x, lo, hi, what) {
  assert.ok(x >= lo && x <= hi, `${what}: ${x} is not in ${lo}..${hi}`);
}

// Two requests for p: neither may be answered from the cache.
async function assertNotReused(c, p, headers = {}) {
  const n = await originHits(async () => {
    const a = await c.request({ edge, path: p, headers });
    assert.doesNotMatch(cs(a), /; stored/);
    const b = await c.request({ edge, path: p, headers });
    assert.doesNotMatch(cs(b), /^tessera; hit/);
  });
  assert.strictEqual(n, 2);
}

// A tessera and origin of its own, for cases that stop the origin.
async function withOwnEdge(cache, fn) {
  const o = await h.startOrigin();
  const e = await h.startTessera(h.config({
    origins: { api: [`127.0.0.1:${o.port}`] },
    routes: [{ path: '/api/*', origin: 'api', cache }],
  }));
  try {
    await fn(o, e);
  } finally {
    await e.stop();
    await o.stop();
  }
}

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());
    let next = 100 + pi * 200; // product ids unique to this protocol's cases
    const id = () => next++;

    // ---- explicit freshness (RFC 9111 4.2.1) ----

    it('Expires in the future without max-age gives a ttl of Expires - Date (RFC 9111 4.2.1)', async () => {
      const p = `/api/product/${id()}?cc=&${hdr('Expires', httpDate(Date.now() + 30000))}`;
      const n = await originHits(async () => {
        const first = await c.request({ edge, path: p });
        assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
        between(ttlOf(first), 27, 31, 'stored ttl');
        const second = await c.request({ edge, path: p });
        assert.match(cs(second), /^tessera; hit; ttl=\d+/);
      });
      assert.strictEqual(n, 1);
    });

    it('Expires in the past means stale at once: not reused (RFC 9111 5.3)', async () => {
      await assertNotReused(c, `/api/product/${id()}?cc=&etag=0&${hdr('Expires', httpDate(Date.now() - 60000))}`);
    });

    it('an invalid Expires ("0") means already expired: not reused (RFC 9111 5.3)', async () => {
      await assertNotReused(c, `/api/product/${id()}?cc=&etag=0&${hdr('Expires', '0')}`);
    });

    it('max-age wins over Expires (RFC 9111 5.3, 4.2.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}&${hdr('Expires', httpDate(Date.now() - 60000))}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 58, 60, 'stored ttl');
      assert.match(cs(await c.request({ edge, path: p })), /^tessera; hit/);
    });

    it('an Age from the origin shortens the ttl and counts in the Age of hits (RFC 9111 4.2.3)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}&${hdr('Age', '20')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 38, 40, 'stored ttl');
      const hit = await c.request({ edge, path: p });
      assert.match(cs(hit), /^tessera; hit/);
      between(Number(hit.headers.age), 20, 22, 'Age of the hit');
      between(ttlOf(hit), 38, 40, 'ttl of the hit');
    });

    it('a response whose Age exceeds its max-age arrives stale and is not reused (RFC 9111 4.2.3, 4.2)', async () => {
      await assertNotReused(c, `/api/product/${id()}?etag=0&${cc('max-age=10')}&${hdr('Age', '30')}`);
    });

    // ---- heuristic freshness (RFC 9111 4.2.2) ----

    it('without explicit freshness, 10% of the time since Last-Modified is the ttl (RFC 9111 4.2.2)', async () => {
      const p = `/api/product/${id()}?cc=&lmago=1000`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 98, 101, 'heuristic ttl');
      assert.match(cs(await c.request({ edge, path: p })), /^tessera; hit/);
    });

    it('heuristic freshness is capped at one day (RFC 9111 4.2.2)', async () => {
      const first = await c.request({ edge, path: `/api/product/${id()}?cc=&lmago=100000000` });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 86398, 86400, 'capped heuristic ttl');
    });

    it('a 200 with neither explicit freshness nor Last-Modified is not stored (RFC 9111 4.2.2)', async () => {
      const p = `/api/product/${id()}?cc=&etag=0`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; detail=[a-z-]+$/);
      await assertNotReused(c, p);
    });

    it('a response stale on arrival but with an ETag is stored and revalidated on use (RFC 9111 3, 4.3.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=10')}&${hdr('Age', '30')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=-\d+$/);
      const before0 = await h.originCounters(origin);
      const second = await c.request({ edge, path: p });
      const after0 = await h.originCounters(origin);
      assert.match(cs(second), /^tessera; fwd=stale; fwd-status=304/);
      assert.strictEqual(second.status, 200);
      assert.strictEqual(second.body, first.body);
      assert.strictEqual(after0.conditional - before0.conditional, 1);
    });

    // ---- status codes (RFC 9111 3, 4.2.2) ----

    it('a 404 with max-age is stored and served (RFC 9111 3, RFC 9110 15.5.5)', async () => {
      const p = `/api/product/nope${id()}?${cc('max-age=60')}`;
      const n = await originHits(async () => {
        const first = await c.request({ edge, path: p });
        assert.strictEqual(first.status, 404);
        assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
        const second = await c.request({ edge, path: p });
        assert.strictEqual(second.status, 404);
        assert.strictEqual(second.body, first.body);
        assert.match(cs(second), /^tessera; hit/);
      });
      assert.strictEqual(n, 1);
    });

    it('a 302 without explicit freshness is not stored, even with Last-Modified (RFC 9111 4.2.2)', async () => {
      const p = `/status/302?k=${id()}&lmago=1000`;
      const first = await c.request({ edge, path: p });
      assert.strictEqual(first.status, 302);
      assert.match(cs(first), /^tessera; fwd=miss; detail=uncacheable-status/);
      await assertNotReused(c, p);
    });

    it('a 302 with max-age is stored and served (RFC 9111 3, 4.2.1)', async () => {
      const p = `/status/302?k=${id()}&${cc('max-age=60')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      const second = await c.request({ edge, path: p });
      assert.strictEqual(second.status, 302);
      assert.match(cs(second), /^tessera; hit/);
    });

    // ---- fields addressed to this cache (RFC 9213, Surrogate-Control) ----

    it('CDN-Cache-Control overrides Cache-Control here and is not forwarded (RFC 9213 2.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=5')}&${hdr('CDN-Cache-Control', 'max-age=120')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 118, 120, 'stored ttl');
      const hit = await c.request({ edge, path: p });
      assert.match(cs(hit), /^tessera; hit/);
      for (const r of [first, hit]) {
        assert.strictEqual(r.headers['cdn-cache-control'], undefined);
        assert.strictEqual(r.headers['cache-control'], 'max-age=5');
      }
    });

    it('CDN-Cache-Control: no-store wins over a storable Cache-Control (RFC 9213 2.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}&${hdr('CDN-Cache-Control', 'no-store')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; detail=no-store/);
      await assertNotReused(c, p);
    });

    it('Surrogate-Control max-age overrides Cache-Control and is not forwarded (Edge Architecture 1.0)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=5')}&${hdr('Surrogate-Control', 'max-age=90')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 88, 90, 'stored ttl');
      const hit = await c.request({ edge, path: p });
      assert.match(cs(hit), /^tessera; hit/);
      for (const r of [first, hit]) assert.strictEqual(r.headers['surrogate-control'], undefined);
    });

    it('CDN-Cache-Control takes precedence over Surrogate-Control (RFC 9213 2.1)', async () => {
      const p = `/api/product/${id()}?${hdr('CDN-Cache-Control', 'max-age=50')}&` +
        `${hdr('Surrogate-Control', 'max-age=90')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
      between(ttlOf(first), 48, 50, 'stored ttl');
    });

    // ---- what may not be stored (RFC 9111 3) ----

    it('a response with Set-Cookie is not stored by default (RFC 9111 7.3)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}&${hdr('Set-Cookie', 's=1; Path=/')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; detail=set-cookie/);
      await assertNotReused(c, p);
    });

    it('a route with allow_set_cookie stores a response with Set-Cookie (RFC 9111 3)', async () => {
      const p = `/echo/cookies/${id()}?${cc('max-age=60')}&${hdr('Set-Cookie', 's=1; Path=/')}`;
      const n = await originHits(async () => {
        const first = await c.request({ edge, path: p });
        assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
        assert.match(cs(await c.request({ edge, path: p })), /^tessera; hit/);
      });
      assert.strictEqual(n, 1);
    });

    it('a response to a request with Authorization is not stored (RFC 9111 3.5)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}`;
      const auth = { authorization: 'Bearer t0ken' };
      const first = await c.request({ edge, path: p, headers: auth });
      assert.match(cs(first), /^tessera; fwd=miss; detail=authorization/);
      await assertNotReused(c, p, auth);
      // Nor was anything stored for the requests without it.
      const plain = await c.request({ edge, path: p });
      assert.match(cs(plain), /^tessera; fwd=miss;.* stored/);
    });

    for (const dir of ['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate']) {
      it(`a response to a request with Authorization is stored when it says "${dir}" (RFC 9111 3.5)`, async () => {
        const p = `/api/product/${id()}?${cc(dir)}`;
        const auth = { authorization: 'Bearer t0ken' };
        const n = await originHits(async () => {
          const first = await c.request({ edge, path: p, headers: auth });
          assert.match(cs(first), /^tessera; fwd=miss; stored; ttl=\d+/);
          assert.match(cs(await c.request({ edge, path: p, headers: auth })), /^tessera; hit/);
        });
        assert.strictEqual(n, 1);
      });
    }

    it('a response with Vary: * is never stored (RFC 9111 4.1)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}&${hdr('Vary', '*')}`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; detail=vary-star/);
      await assertNotReused(c, p);
    });

    // ---- using stored responses ----

    it('no-cache in a response: stored, but revalidated on every use (RFC 9111 5.2.2.4)', async () => {
      const p = `/api/product/${id()}?${cc('no-cache, max-age=60')}&etag=1`;
      const first = await c.request({ edge, path: p });
      assert.match(cs(first), /^tessera; fwd=miss; stored/);
      for (let i = 0; i < 2; i++) {
        let r;
        const d = await h.originDelta(origin, async () => { r = await c.request({ edge, path: p }); });
        assert.deepStrictEqual(d, { requests: 1, conditional: 1, notModified: 1 }, `use ${i + 1}`);
        assert.strictEqual(r.status, 200);
        assert.strictEqual(r.body, first.body);
        assert.match(cs(r), /fwd-status=304/);
      }
    });

    it('only-if-cached: a miss is answered 504 without asking the origin (RFC 9111 5.2.1.7)', async () => {
      const p = `/api/product/${id()}`;
      const oic = { 'cache-control': 'only-if-cached' };
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p, headers: oic });
        assert.strictEqual(r.status, 504);
      });
      assert.strictEqual(n, 0);
      const stored = await c.request({ edge, path: p });
      assert.match(cs(stored), /stored/);
      const hit = await c.request({ edge, path: p, headers: oic });
      assert.strictEqual(hit.status, 200);
      assert.match(cs(hit), /^tessera; hit/);
    });

    it('Pragma: no-cache without Cache-Control is a request no-cache (RFC 9111 5.4)', async () => {
      const p = `/api/product/${id()}`;
      await c.request({ edge, path: p });
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p, headers: { pragma: 'no-cache' } });
        assert.match(cs(r), /^tessera; fwd=request/);
      });
      assert.strictEqual(n, 1);
    });

    it('Pragma is ignored when the request has Cache-Control (RFC 9111 5.4)', async () => {
      const p = `/api/product/${id()}`;
      await c.request({ edge, path: p });
      const n = await originHits(async () => {
        const r = await c.request({ edge, path: p,
                                    headers: { pragma: 'no-cache', 'cache-control': 'max-age=600' } });
        assert.match(cs(r), /^tessera; hit/);
      });
      assert.strictEqual(n, 0);
    });

    it('later hits count Age up and the Cache-Status ttl down (RFC 9111 4.2.3, RFC 9211 2.4)', async () => {
      const p = `/api/product/${id()}?${cc('max-age=60')}`;
      await c.request({ edge, path: p });
      const h1 = await c.request({ edge, path: p });
      assert.match(cs(h1), /^tessera; hit/);
      const age1 = Number(h1.headers.age);
      const h2 = await h.requestUntil(c, { edge, path: p }, (r) => Number(r.headers.age) > age1, 4000,
                                      'a hit one second older');
      assert.match(cs(h2), /^tessera; hit/);
      assert.ok(ttlOf(h2) < ttlOf(h1), `ttl ${ttlOf(h1)} then ${ttlOf(h2)}`);
      for (const r of [h1, h2]) between(ttlOf(r) + Number(r.headers.age), 59, 60, 'ttl + Age');
    });

    it('a hit carries a valid Date (RFC 9110 6.6.1)', async () => {
      const p = `/api/product/${id()}`;
      await c.request({ edge, path: p });
      const hit = await c.request({ edge, path: p });
      assert.match(cs(hit), /^tessera; hit/);
      assert.match(hit.headers.date || '', /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      assert.ok(Math.abs(Date.parse(hit.headers.date) - Date.now()) < 10000, hit.headers.date);
    });

    // ---- stale responses and an origin that fails (RFC 9111 4.2.4) ----

    for (const [dir, section] of [['must-revalidate', '5.2.2.2'], ['proxy-revalidate', '5.2.2.8']]) {
      it(`${dir}: no stale answer when the origin fails, even under stale_if_error (RFC 9111 ${section})`,
         async () => {
           await withOwnEdge('{ stale_if_error = "30s" }', async (o, e) => {
             const plain = await h.requestStored(c, e, () => `/api/product/${id()}?${cc('max-age=1')}`);
             const strict = await h.requestStored(c, e,
                                                  () => `/api/product/${id()}?${cc(`max-age=1, ${dir}`)}`);
             assert.match(cs(plain.response), /stored/);
             assert.match(cs(strict.response), /stored/);
             await o.stop();
             const notHit = (r) => !/^tessera; hit/.test(cs(r));
             // The control: without the directive the stale copy is served.
             const served = await h.requestUntil(c, { edge: e, path: plain.path }, notHit, 4000, 'stale');
             assert.strictEqual(served.status, 200);
             assert.match(cs(served), /fwd=stale.*detail=stale-if-error/);
             const r = await h.requestUntil(c, { edge: e, path: strict.path }, notHit, 4000, 'stale');
             assert.ok(r.status >= 500, `status ${r.status}, Cache-Status ${cs(r)}`);
             assert.notStrictEqual(r.body, strict.response.body);
             assert.doesNotMatch(cs(r), /stale-if-error/);
           });
         });
    }
  });
}
