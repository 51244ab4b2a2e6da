// SPDX-License-Identifier: Apache-2.0
// Route rules of the memory cache, over HTTP/1.1, h2c and h2: which query
// parameters make up the key (cache.query keep/drop), cookies removed before the
// key is built and the request forwarded (cache.strip_cookies), and requests that
// skip the cache (cache.bypass). Every route is served by the demo origin's /echo,
// which shows the request it received (X-Echo-Path, X-Echo-Headers). Also: `-t`
// refuses a malformed rule and names its key.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const h = require('./lib/harness');

const RULES = [
  { path: '/echo/drop/*', origin: 'api', cache: '{ query = { drop = { "utm_*" } } }' },
  { path: '/echo/keep/*', origin: 'api', cache: '{ query = { keep = { "id" } } }' },
  { path: '/echo/strip/*', origin: 'api', cache: '{ strip_cookies = { "_ga" } }' },
  { path: '/echo/bypass/*', origin: 'api',
    cache: '{ bypass = { cookies = { "session" }, headers = { "x-preview" }, query = { "nocache" } } }' },
];

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, routes: RULES }));
});
after(async () => { await edge.stop(); await origin.stop(); });

async function originHits(fn) {
  return (await h.originDelta(origin, fn)).requests;
}

// /echo sends no Cache-Control of its own: the cases that store ask for one.
const fresh = `cc=${encodeURIComponent('max-age=60')}`;
const cs = (r) => r.headers['cache-status'] || '';
const isHit = (r) => /^tessera; hit/.test(cs(r));
const echoed = (r, name) => JSON.parse(r.headers['x-echo-headers'] || '{}')[name];

describe('tessera -t', () => {
  const check = (text) => spawnSync(h.TESSERA, ['-t', '-c', h.tmpFile('rules.lua', text)], { encoding: 'utf8' });

  it('accepts the route rules used here', () => {
    const r = check(h.config({ origins: { api: ['127.0.0.1:1'] }, routes: RULES, tls: false }));
    assert.strictEqual(r.status, 0, r.stderr);
  });

  it('refuses a query.keep name with "&" and names the key path', () => {
    const r = check(h.config({ origins: { api: ['127.0.0.1:1'] }, tls: false,
                               routes: [{ path: '/x/*', origin: 'api', cache: '{ query = { keep = { "a&b" } } }' }] }));
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /rules\.lua:\d+: routes\[1\]\.cache\.query\.keep/);
    assert.match(r.stderr, /a&b/);
  });
});

for (const [pi, proto] of h.PROTOCOLS.entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());
    let next = 100 + pi * 200; // ids unique to this protocol's cases
    const id = () => next++;
    const get = (path, headers = {}) => c.request({ edge, path, headers });

    // ---- cache.query: the key's parameters (RFC 9111 2: the key is the
    // request target; rules narrow it) ----

    it('query.drop: utm_* parameters do not split the key, yet reach the origin (RFC 9111 2)', async () => {
      const base = `/echo/drop/${id()}?id=1&${fresh}`;
      const first = await get(`${base}&utm_source=a`);
      assert.match(cs(first), /^tessera; fwd=miss; stored/);
      assert.match(first.headers['x-echo-path'], /[?&]utm_source=a(&|$)/);
      const n = await originHits(async () => {
        assert.ok(isHit(await get(base)), 'without utm_');
        assert.ok(isHit(await get(`${base}&utm_medium=b&utm_source=c`)), 'other utm_ values');
      });
      assert.strictEqual(n, 0);
    });

    it('query.drop: a parameter the list does not match still splits the key (RFC 9111 2)', async () => {
      const base = `/echo/drop/${id()}?id=1&${fresh}`;
      await get(base);
      assert.match(cs(await get(`${base}&xutm_source=a`)), /^tessera; fwd=miss/);
      assert.match(cs(await get(`/echo/drop/${next - 1}?id=2&${fresh}`)), /^tessera; fwd=miss/);
    });

    it('query.keep: only the listed parameters are part of the key (RFC 9111 2)', async () => {
      const k = id();
      const first = await get(`/echo/keep/${k}?id=1&${fresh}`);
      assert.match(cs(first), /^tessera; fwd=miss; stored/);
      assert.ok(isHit(await get(`/echo/keep/${k}?id=1&${fresh}&page=2&sort=asc`)), 'other parameters');
      const other = await get(`/echo/keep/${k}?id=2&${fresh}&page=2`);
      assert.match(cs(other), /^tessera; fwd=miss; stored/);
      assert.match(other.headers['x-echo-path'], /[?&]page=2(&|$)/, 'the origin gets the full query');
    });

    // ---- cache.strip_cookies ----

    it('strip_cookies: the origin receives the Cookie field without _ga (RFC 6265 5.4)', async () => {
      const p = `/echo/strip/${id()}`; // not stored: every request reaches the origin
      assert.strictEqual(echoed(await get(p, { cookie: '_ga=GA1.2.3; s=2' }), 'cookie'), 's=2');
      assert.strictEqual(echoed(await get(p, { cookie: 'a=1; _ga=2; b=3' }), 'cookie'), 'a=1; b=3');
    });

    it('strip_cookies: a Cookie field holding only _ga is not forwarded at all (RFC 6265 5.4)', async () => {
      const r = await get(`/echo/strip/${id()}`, { cookie: '_ga=GA1.2.3' });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(echoed(r, 'cookie'), undefined);
    });

    // ---- cache.bypass: neither looked up nor stored ----

    // Each bypassing request goes to the origin and is not stored, and does
    // not use the entry stored by a plain request either.
    async function assertBypass(path, headers, plainPath = path) {
      const n = await originHits(async () => {
        for (let i = 0; i < 2; i++) {
          const r = await get(path, headers);
          assert.match(cs(r), /^tessera; fwd=bypass/, `bypassing request ${i + 1}`);
          assert.doesNotMatch(cs(r), /stored/);
        }
      });
      assert.strictEqual(n, 2, 'every bypassing request reaches the origin');
      const plain = await get(plainPath);
      assert.match(cs(plain), /^tessera; fwd=miss;.* stored/, 'nothing was stored by the bypass');
      assert.ok(isHit(await get(plainPath)));
      const again = await get(path, headers);
      assert.match(cs(again), /^tessera; fwd=bypass/, 'a stored entry does not end the bypass');
    }

    it('bypass.cookies: a request with the session cookie skips the cache (RFC 9111 3)', async () => {
      await assertBypass(`/echo/bypass/${id()}?${fresh}`, { cookie: 'theme=dark; session=abc' });
    });

    it('bypass.cookies: other cookies do not bypass (RFC 9111 3)', async () => {
      const p = `/echo/bypass/${id()}?${fresh}`;
      const first = await get(p, { cookie: 'sessionid=1; theme=dark' });
      assert.match(cs(first), /^tessera; fwd=miss; stored/);
      assert.ok(isHit(await get(p, { cookie: 'theme=light' })));
    });

    it('bypass.headers: a request with X-Preview (any case) skips the cache (RFC 9111 3)', async () => {
      await assertBypass(`/echo/bypass/${id()}?${fresh}`, { 'X-Preview': '1' });
    });

    it('bypass.query: a request with ?nocache skips the cache (RFC 9111 3)', async () => {
      const k = id();
      // The parameter is in the key too, so "not stored" shows on the same URL.
      const p = `/echo/bypass/${k}?${fresh}&nocache=1`;
      const n = await originHits(async () => {
        for (let i = 0; i < 2; i++) assert.match(cs(await get(p)), /^tessera; fwd=bypass/);
      });
      assert.strictEqual(n, 2);
      await get(`/echo/bypass/${k}?${fresh}`);
      assert.match(cs(await get(`/echo/bypass/${k}?${fresh}&nocache`)), /^tessera; fwd=bypass/);
    });
  });
}
