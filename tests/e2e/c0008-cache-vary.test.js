// SPDX-License-Identifier: Apache-2.0
// Vary in the memory cache, over HTTP/1.1, h2c and h2: a response that varies is
// stored once per variant, selected by the normalised values of the request
// fields it names (RFC 9111 4.1; normalisation rules in cache/key.h). The demo
// origin's ?hdr=Vary:... sets the Vary field; /echo reflects the request fields
// it received in X-Echo-Headers, which shows which variant a hit served.
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
      { path: '/echo/strip/*', origin: 'api', cache: '{ strip_cookies = { "_ga" } }' },
      { path: '/echo', origin: 'api', cache: '{}' },
      { path: '/echo/*', origin: 'api', cache: '{}' },
    ],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

async function originHits(fn) {
  return (await h.originDelta(origin, fn)).requests;
}

const cc = (v) => `cc=${encodeURIComponent(v)}`;
const hdr = h.hdrParam;
const cs = (r) => r.headers['cache-status'] || '';
const echoed = (r, name) => JSON.parse(r.headers['x-echo-headers'] || '{}')[name];

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());
    let next = 100 + pi * 200; // ids unique to this protocol's cases
    const id = () => next++;

    // A path whose response varies on `vary` (one hdr=Vary: per element).
    const varying = (...vary) => `/echo/v/${id()}?${cc('max-age=60')}&${vary.map((v) => hdr('Vary', v)).join('&')}`;

    // Requests path with each header set in turn; `expect` is the list of
    // 'miss' / 'hit' the Cache-Status must start with. Resolves the responses.
    async function sequence(path, steps) {
      const out = [];
      for (const [headers, expect] of steps) {
        const r = await c.request({ edge, path, headers });
        const want = expect === 'hit' ? /^tessera; hit/ : /^tessera; fwd=miss.*; stored/;
        assert.match(cs(r), want, `${JSON.stringify(headers)}: expected ${expect}, got ${cs(r)}`);
        out.push(r);
      }
      return out;
    }

    it('each Accept-Language is a variant of its own, served to matching requests (RFC 9111 4.1)', async () => {
      const p = varying('Accept-Language');
      const en = { 'accept-language': 'en' };
      const fr = { 'accept-language': 'fr' };
      let rs;
      const n = await originHits(async () => {
        rs = await sequence(p, [[en, 'miss'], [fr, 'miss'], [en, 'hit'], [fr, 'hit']]);
      });
      assert.strictEqual(n, 2);
      assert.strictEqual(echoed(rs[2], 'accept-language'), 'en');
      assert.strictEqual(echoed(rs[3], 'accept-language'), 'fr');
      // The client needs Vary as well (RFC 9110 12.5.5).
      assert.match(rs[3].headers.vary || '', /Accept-Language/i);
    });

    it('Accept-Language values are normalised: "en-US,fr;q=0.5" and "en-GB, fr;q=0.4" share (RFC 9111 4.1)',
       async () => {
         await sequence(varying('Accept-Language'), [
           [{ 'accept-language': 'en-US,fr;q=0.5' }, 'miss'],
           [{ 'accept-language': 'en-GB, fr;q=0.4' }, 'hit'],
         ]);
       });

    it('a language with q=0 is not acceptable and does not make a variant (RFC 9111 4.1, RFC 9110 12.4.2)',
       async () => {
         await sequence(varying('Accept-Language'), [
           [{ 'accept-language': 'en' }, 'miss'],
           [{ 'accept-language': 'en, de;q=0' }, 'hit'],
         ]);
       });

    it('another language preference order is another variant (RFC 9111 4.1)', async () => {
      await sequence(varying('Accept-Language'), [
        [{ 'accept-language': 'en, fr;q=0.8' }, 'miss'],
        [{ 'accept-language': 'fr, en;q=0.8' }, 'miss'],
        [{ 'accept-language': 'en-US, fr;q=0.5' }, 'hit'],
      ]);
    });

    it('Accept-Encoding is normalised: "gzip, deflate, br" and "br, gzip" share (RFC 9111 4.1, RFC 9110 12.5.3)',
       async () => {
         await sequence(varying('Accept-Encoding'), [
           [{ 'accept-encoding': 'gzip, deflate, br' }, 'miss'],
           [{ 'accept-encoding': 'br, gzip' }, 'hit'],
         ]);
       });

    it('Accept-Encoding with another set of codings is another variant (RFC 9111 4.1)', async () => {
      await sequence(varying('Accept-Encoding'), [
        [{ 'accept-encoding': 'br, gzip' }, 'miss'],
        [{ 'accept-encoding': 'gzip' }, 'miss'],
        [{ 'accept-encoding': 'x-gzip' }, 'hit'],
      ]);
    });

    it('a request without the header is a variant of its own (RFC 9111 4.1)', async () => {
      let rs;
      const n = await originHits(async () => {
        rs = await sequence(varying('Accept-Language'), [
          [{}, 'miss'],
          [{ 'accept-language': 'en' }, 'miss'],
          [{}, 'hit'],
          [{ 'accept-language': 'en' }, 'hit'],
        ]);
      });
      assert.strictEqual(n, 2);
      assert.strictEqual(echoed(rs[2], 'accept-language'), undefined);
    });

    it('Vary naming two fields: both must match (RFC 9111 4.1)', async () => {
      const both = (l, t) => ({ 'accept-language': l, 'x-tenant': t });
      await sequence(varying('Accept-Language, X-Tenant'), [
        [both('en', 'a'), 'miss'],
        [both('en', 'b'), 'miss'],
        [both('fr', 'a'), 'miss'],
        [both('en', 'a'), 'hit'],
        [both('en', 'b'), 'hit'],
      ]);
    });

    it('Vary split over two field lines counts every line (RFC 9111 4.1, RFC 9110 5.3)', async () => {
      const both = (l, t) => ({ 'accept-language': l, 'x-tenant': t });
      await sequence(varying('Accept-Language', 'X-Tenant'), [
        [both('en', 'a'), 'miss'],
        [both('en', 'b'), 'miss'],
        [both('en', 'a'), 'hit'],
      ]);
    });

    it('other fields are compared with whitespace runs folded (RFC 9111 4.1)', async () => {
      await sequence(varying('X-Tenant'), [
        [{ 'x-tenant': 'acme corp' }, 'miss'],
        [{ 'x-tenant': 'acme \t  corp' }, 'hit'],
        [{ 'x-tenant': 'acmecorp' }, 'miss'],
      ]);
    });

    it('Vary: Cookie with strip_cookies: "_ga=1; s=2" and "s=2" share a variant (RFC 9111 4.1)', async () => {
      const p = `/echo/strip/${id()}?${cc('max-age=60')}&${hdr('Vary', 'Cookie')}`;
      await sequence(p, [
        [{ cookie: '_ga=1; s=2' }, 'miss'],
        [{ cookie: 's=2' }, 'hit'],
        [{ cookie: 's=2; _ga=GA1.2.3' }, 'hit'],
        [{ cookie: 's=3' }, 'miss'],
      ]);
    });

    it('an unsafe request invalidates every variant of its target (RFC 9111 4.4)', async () => {
      const p = varying('Accept-Language');
      const en = { 'accept-language': 'en' };
      const fr = { 'accept-language': 'fr' };
      await sequence(p, [[en, 'miss'], [fr, 'miss'], [en, 'hit'], [fr, 'hit']]);
      const post = await c.request({ edge, path: p, method: 'POST', body: 'x' });
      assert.strictEqual(post.status, 200);
      await sequence(p, [[en, 'miss'], [fr, 'miss']]);
    });
  });
}
