// SPDX-License-Identifier: Apache-2.0
// Validation and invalidation in the memory cache, over HTTP/1.1, h2c and h2: a
// stale stored response is revalidated with its validators and a 304 freshens
// it (RFC 9111 4.3); unsafe methods invalidate the target URI and the
// same-origin Location and Content-Location (RFC 9111 4.4). The origin's
// /__stats counts the conditional requests it got and the 304s it sent.
// Stored responses live one second: a case polls until a request is no longer a
// fresh hit (that request is the revalidation it inspects), never sleeps. Each
// protocol has its own origin and tessera, so that the three run concurrently
// (the waits add up to about a second per case) and counters do not mix.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

const cc = (v) => `cc=${encodeURIComponent(v)}`;
const hdr = h.hdrParam;
const cs = (r) => r.headers['cache-status'] || '';
const isHit = (r) => /^tessera; hit/.test(cs(r));

const ROUTES = [
  { path: '/api/*', origin: 'api', cache: '{}' },
  { path: '/echo', origin: 'api', cache: '{}' },
  { path: '/echo/*', origin: 'api', cache: '{}' },
  { path: '/status/*', origin: 'api', cache: '{}' },
];

describe('validation', { concurrency: true }, () => {
  for (const proto of h.PROTOCOLS) {
    describe(proto, { concurrency: 1 }, () => {
      let origin, edge;
      const c = h.client(proto);
      before(async () => {
        origin = await h.startOrigin();
        edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
                                               routes: ROUTES }));
      });
      after(async () => { await c.close(); await edge.stop(); await origin.stop(); });
      let next = 100; // product ids unique to each case
      const id = () => next++;

      // Stores a one-second response from makePath(); resolves { path, response }.
      async function storeShort(makePath, headers = {}) {
        const s = await h.requestStored(c, edge, makePath, { headers });
        assert.match(cs(s.response), /^tessera; fwd=miss; stored; ttl=1/);
        return s;
      }

      // The first request for path that is not a fresh hit, and what reached the
      // origin meanwhile (the fresh hits before it reach nothing).
      async function whenStale(path, headers = {}) {
        let r;
        const d = await h.originDelta(origin, async () => {
          r = await h.requestUntil(c, { edge, path, headers }, (x) => !isHit(x), 4000,
                                   'the stored response to go stale');
        });
        return { r, d };
      }

      // ---- revalidation (RFC 9111 4.3) ----

      it('a stale response with an ETag is revalidated with If-None-Match (RFC 9111 4.3.1)', async () => {
        const { path } = await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&etag=1`);
        const { d } = await whenStale(path);
        assert.deepStrictEqual(d, { requests: 1, conditional: 1, notModified: 1 });
      });

      it('a 304 freshens the stored response: the old body, fwd=stale with fwd-status=304, then hits ' +
         '(RFC 9111 4.3.3, 4.3.4)', async () => {
        const { path, response: first } =
          await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&etag=1`);
        const { r } = await whenStale(path);
        assert.strictEqual(r.status, 200);
        assert.strictEqual(r.body, first.body);
        assert.strictEqual(r.headers.etag, first.headers.etag);
        assert.match(cs(r), /^tessera; fwd=stale; fwd-status=304; stored; ttl=\d+/);
        // The freshened copy has a new second of life from its new Date.
        const after1 = await c.request({ edge, path });
        assert.ok(isHit(after1), cs(after1));
        assert.strictEqual(after1.body, first.body);
      });

      it('a stale response with only Last-Modified is revalidated with If-Modified-Since (RFC 9111 4.3.1)',
         async () => {
           const { path, response: first } =
             await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&lm=1&etag=0`);
           assert.strictEqual(first.headers.etag, undefined);
           const { r, d } = await whenStale(path);
           assert.deepStrictEqual(d, { requests: 1, conditional: 1, notModified: 1 });
           assert.strictEqual(r.status, 200);
           assert.strictEqual(r.body, first.body);
           assert.match(cs(r), /fwd=stale; fwd-status=304/);
         });

      // The URL stays the same (it is the key); /echo reflects the request's
      // fields in X-Echo-Headers, so the revalidating request's own X-Version
      // comes back in the 304 as a changed response field.
      it('fields of the 304 replace the stored ones (RFC 9111 4.3.4)', async () => {
        const echoed = (r) => JSON.parse(r.headers['x-echo-headers'] || '{}')['x-version'];
        const { path, response: first } =
          await storeShort(() => `/echo/v/${id()}?${cc('max-age=1')}&etag=1`, { 'x-version': '1' });
        assert.strictEqual(echoed(first), '1');
        const { r, d } = await whenStale(path, { 'x-version': '2' });
        assert.strictEqual(d.notModified, 1);
        assert.strictEqual(r.status, 200);
        assert.strictEqual(echoed(r), '2');
        const hit = await c.request({ edge, path });
        assert.ok(isHit(hit), cs(hit));
        assert.strictEqual(echoed(hit), '2');
      });

      // lmago=0: the origin's Last-Modified is always "now", so the cache's
      // If-Modified-Since (the stored, older one) no longer matches.
      it('a 200 answer to the revalidation replaces the stored response (RFC 9111 4.3.3)', async () => {
        const { path, response: first } =
          await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&lmago=0&etag=0`);
        const { r, d } = await whenStale(path);
        assert.deepStrictEqual(d, { requests: 1, conditional: 1, notModified: 0 });
        assert.strictEqual(r.status, 200);
        assert.notStrictEqual(r.headers['last-modified'], first.headers['last-modified']);
        assert.match(cs(r), /^tessera; fwd=stale;.* stored; ttl=\d+/);
        assert.doesNotMatch(cs(r), /fwd-status=304/);
        const hit = await c.request({ edge, path });
        assert.ok(isHit(hit), cs(hit));
        assert.strictEqual(hit.headers['last-modified'], r.headers['last-modified']);
      });

      it('a client If-None-Match on a stale entry: revalidated, then 304 to the client (RFC 9111 4.3.2)',
         async () => {
           const { path, response: first } =
             await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&etag=1`);
           const { r, d } = await whenStale(path, { 'if-none-match': first.headers.etag });
           assert.deepStrictEqual(d, { requests: 1, conditional: 1, notModified: 1 });
           assert.strictEqual(r.status, 304);
           assert.strictEqual(r.body, '');
           assert.strictEqual(r.headers.etag, first.headers.etag);
         });

      it('a client If-None-Match that does not match a stale entry gets the full response (RFC 9111 4.3.2)',
         async () => {
           const { path, response: first } =
             await storeShort(() => `/api/product/${id()}?${cc('max-age=1')}&etag=1`);
           const { r, d } = await whenStale(path, { 'if-none-match': '"not-this-one"' });
           assert.strictEqual(d.requests, 1);
           assert.strictEqual(r.status, 200);
           assert.strictEqual(r.body, first.body);
         });

      // ---- invalidation (RFC 9111 4.4) ----

      // Stores `path` and checks it hits; resolves the stored response.
      async function stored(path) {
        const first = await c.request({ edge, path });
        assert.match(cs(first), /stored/);
        assert.ok(isHit(await c.request({ edge, path })));
        return first;
      }

      it('a DELETE invalidates the stored response of its target (RFC 9111 4.4)', async () => {
        const p = `/echo?${cc('max-age=60')}&k=${id()}`;
        await stored(p);
        const del = await c.request({ edge, path: p, method: 'DELETE' });
        assert.strictEqual(del.status, 200);
        assert.match(cs(await c.request({ edge, path: p })), /^tessera; fwd=miss/);
      });

      it('a PUT without a body invalidates the stored response of its target (RFC 9111 4.4)', async () => {
        const p = `/echo?${cc('max-age=60')}&k=${id()}`;
        await stored(p);
        const put = await c.request({ edge, path: p, method: 'PUT', headers: { 'content-length': '0' } });
        assert.strictEqual(put.status, 200);
        assert.match(cs(await c.request({ edge, path: p })), /^tessera; fwd=miss/);
      });

      it('a POST answered with Location on the same host invalidates that URI (RFC 9111 4.4)', async () => {
        const target = `/api/product/${id()}`;
        await stored(target);
        const post = await c.request({ edge, path: `/echo?${hdr('Location', target)}`, method: 'POST',
                                       body: 'x' });
        assert.strictEqual(post.status, 200);
        assert.match(cs(await c.request({ edge, path: target })), /^tessera; fwd=miss/);
      });

      it('an absolute Location with the same scheme, host and port invalidates too (RFC 9111 4.4)', async () => {
        const target = `/api/product/${id()}`;
        await stored(target);
        const abs = proto === 'h2' ? `https://127.0.0.1:${edge.tlsPort}${target}`
                                   : `http://127.0.0.1:${edge.port}${target}`;
        await c.request({ edge, path: `/echo?${hdr('Location', abs)}`, method: 'POST', body: 'x' });
        assert.match(cs(await c.request({ edge, path: target })), /^tessera; fwd=miss/);
      });

      it('a Location on another host does not invalidate (RFC 9111 4.4)', async () => {
        const target = `/api/product/${id()}`;
        await stored(target);
        await c.request({ edge, path: `/echo?${hdr('Location', `http://other.example${target}`)}`,
                          method: 'POST', body: 'x' });
        assert.ok(isHit(await c.request({ edge, path: target })));
      });

      it('a POST answered with Content-Location invalidates that URI (RFC 9111 4.4)', async () => {
        const target = `/api/product/${id()}`;
        await stored(target);
        await c.request({ edge, path: `/echo?${hdr('Content-Location', target)}`, method: 'POST',
                          body: 'x' });
        assert.match(cs(await c.request({ edge, path: target })), /^tessera; fwd=miss/);
      });

      it('an error answer to a POST invalidates neither its target nor its Location (RFC 9111 4.4)', async () => {
        const target = `/api/product/${id()}`;
        await stored(target);
        const failing = `/status/500?${cc('max-age=60')}&${hdr('Location', target)}`;
        await stored(failing); // a 500 with max-age is storable (RFC 9111 3)
        const post = await c.request({ edge, path: failing, method: 'POST', body: 'x' });
        assert.strictEqual(post.status, 500);
        assert.ok(isHit(await c.request({ edge, path: target })), 'the Location is still stored');
        assert.ok(isHit(await c.request({ edge, path: failing })), 'the target is still stored');
      });
    });
  }
});
