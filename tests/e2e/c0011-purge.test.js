// SPDX-License-Identifier: Apache-2.0
// Purge (the Redis L2 issue, memory cache part): POST /purge on the admin
// listener with a bearer token, by url (every channel, coding and Vary variant of
// the URL), by tag (Surrogate-Key, exact tokens: pages carry their fragments'
// tags) and by path prefix, hard or soft (served stale while it is refreshed);
// and the PURGE method of the client listeners for the addresses purge.allow
// names. Every case checks the count in the answer and the Cache-Status of the
// request that follows; the metrics count the purges.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

const TOKEN = 'k7.purge-token_for-tests';

const TEMPLATES = {
  'pages/show.html.mustache': '<p class="web">{{channel}}: {{product.name}}</p>\n',
  'mobile/pages/show.html.mustache': '<p class="mobile">{{channel}}: {{product.name}}</p>\n',
  'app/pages/show.json.mustache': '{"channel": "{{channel}}", "name": "{{product.name}}"}\n',
  'pages/cat.html.mustache': '<h1>{{channel}}</h1>{{#nav.items}}.{{/nav.items}}\n',
};

const product = { origin: 'api', path: '/api/product/:id', timeout: '1s', required: true };
const nav = { origin: 'api', path: '/api/nav', timeout: '1s', required: true };

function edgeConfig(port, extra) {
  return h.pageConfig({
    origins: { api: [`127.0.0.1:${port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [
      { path: '/product/:id', template: 'pages/show', fragments: { product },
        cache: { ttl: '60s', stale_while_revalidate: '30s' } },
      { path: '/category/:slug', template: 'pages/cat', fragments: { nav }, cache: { ttl: '60s' } },
      { path: '/api/*', origin: 'api', cache: {} },
      { path: '/*', origin: 'api' },
    ],
    extra,
  });
}

async function adminPort(edge) {
  return Number(await h.waitFor(
    () => (edge.stderr().match(/tessera admin listening on 127\.0\.0\.1:(\d+)/) || [])[1], 5000, 'the admin port'));
}

let origin, edge, admin;
before(async () => {
  origin = await h.startOrigin();
  const tokenFile = h.tmpFile('admin.token', `${TOKEN}\n`);
  edge = await h.startTessera(edgeConfig(origin.port,
    `admin = { addr = "127.0.0.1:0", token_file = ${JSON.stringify(tokenFile)} }\n` +
    'purge = { allow = { "10.0.0.0/8", "127.0.0.1", "::1" } }'));
  admin = await adminPort(edge);
});
after(async () => {
  if (edge) await edge.stop();
  if (origin) await origin.stop();
});

const cs = (r) => r.headers['cache-status'] || '';
const HIT = /^tessera; hit; ttl=/;
const MISS = /^tessera; fwd=miss/;

// POST /purge with the parameters as a form body (or `query`), the bearer token.
function purge(params, { token = TOKEN, query = null, method = 'POST', headers = {} } = {}) {
  const body = params === null ? '' : new URLSearchParams(params).toString();
  return h.request({
    port: admin, method, path: `/purge${query ? `?${query}` : ''}`, body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body),
               ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
  });
}

async function purged(params, expect, opts) {
  const r = await purge(params, opts);
  assert.strictEqual(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  const j = JSON.parse(r.body);
  assert.deepStrictEqual(j, expect);
  return j;
}

const get = (path, headers = {}) => h.request({ port: edge.port, path, headers });

// Requests each variant twice: the second answer must be a hit (it is stored).
async function storeAll(variants) {
  for (const [path, headers] of variants) {
    const first = await get(path, headers);
    assert.strictEqual(first.status, 200, `${path} ${JSON.stringify(headers)}: ${first.body}`);
    const again = await get(path, headers);
    assert.match(cs(again), HIT, `${path} ${JSON.stringify(headers)} is stored`);
  }
}

async function expectAll(variants, re) {
  for (const [path, headers] of variants) {
    const r = await get(path, headers);
    assert.strictEqual(r.status, 200);
    assert.match(cs(r), re, `${path} ${JSON.stringify(headers)}: ${cs(r)}`);
  }
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

describe('admin API', () => {
  it('url: every channel and coding of a page, and nothing else', async () => {
    const p = '/product/11';
    const variants = [
      [p, {}], [p, { 'accept-encoding': 'gzip' }], [p, { 'accept-encoding': 'br' }],
      [p, { 'x-channel': 'mobile' }], [p, { 'x-channel': 'mobile', 'accept-encoding': 'gzip' }],
      [p, { 'x-channel': 'app' }],
    ];
    await storeAll(variants);
    await storeAll([['/product/110', {}], ['/product/11?x=1', {}]]);
    await purged({ url: p }, { purged: 6, kind: 'url', soft: false });
    await expectAll(variants, MISS);
    await expectAll([['/product/110', {}], ['/product/11?x=1', {}]], HIT);
    // The misses stored every variant again. With its host (the Host a client
    // sent), in absolute form: the same entries.
    await purged({ url: `http://127.0.0.1:${edge.port}${p}` }, { purged: 6, kind: 'url', soft: false });
    await expectAll([[p, {}]], MISS);
    await purged({ url: p, host: 'other.example' }, { purged: 0, kind: 'url', soft: false });
    await expectAll([[p, {}]], HIT);
  });

  it('url: a response that varies loses every variant (RFC 9111 4.1)', async () => {
    const cc = `cc=${encodeURIComponent('max-age=60')}`;
    const vary = h.hdrParam('Vary', 'Accept-Language');
    const p = `/api/nav?${cc}&${vary}`;
    const variants = [[p, { 'accept-language': 'en' }], [p, { 'accept-language': 'fr' }]];
    await storeAll(variants);
    // The query parameters in another order: normalised as keys are.
    await purged({ url: `/api/nav?${vary}&${cc}` }, { purged: 2, kind: 'url', soft: false });
    await expectAll(variants, MISS);
  });

  it('tag: pages built from a tagged fragment, the fragment, and not product-10', async () => {
    const tagged = [['/product/1', {}], ['/product/1', { 'x-channel': 'app' }], ['/api/product/1', {}]];
    const untagged = [['/product/10', {}], ['/api/product/10', {}]];
    await storeAll([...tagged, ...untagged]);
    const page = await get('/product/1');
    assert.deepStrictEqual(h.surrogateKeys(page.headers['surrogate-key']), ['product-1']);
    // The two pages, the pass-through and the page's cached fragment.
    await purged({ tag: 'product-1' }, { purged: 4, kind: 'tag', soft: false });
    await expectAll(tagged, MISS);
    await expectAll(untagged, HIT);
    await purged({ tag: 'product' }, { purged: 0, kind: 'tag', soft: false }); // never a pattern
  });

  it('prefix: every URL under a path', async () => {
    const under = [['/category/shoes', {}], ['/category/hats', { 'x-channel': 'mobile' }]];
    const others = [['/product/12', {}]];
    await storeAll([...under, ...others]);
    await purged({ prefix: '/category/' }, { purged: 2, kind: 'prefix', soft: false });
    await expectAll(under, MISS);
    await expectAll(others, HIT);
  });

  it('soft: served stale while it is refreshed in the background, then fresh', async () => {
    const p = '/product/30';
    await storeAll([[p, {}]]);
    // Parameters in the query work as well as in a form.
    await purged(null, { purged: 1, kind: 'url', soft: true }, { query: `url=${encodeURIComponent(p)}&soft=1` });
    const stale = await get(p);
    assert.strictEqual(stale.status, 200);
    assert.match(cs(stale), /^tessera; hit; detail=stale-while-revalidate/);
    await h.waitFor(async () => HIT.test(cs(await get(p))), 5000, 'the refreshed page');
  });

  it('soft: a copy without stale-while-revalidate is revalidated (fwd=stale)', async () => {
    const p = '/api/product/31';
    await storeAll([[p, {}]]);
    const d = await h.originDelta(origin, async () => {
      await purged({ url: p, soft: '1' }, { purged: 1, kind: 'url', soft: true });
      const r = await get(p);
      assert.match(cs(r), /^tessera; fwd=stale; fwd-status=304/);
      await expectAll([[p, {}]], HIT);
    });
    assert.strictEqual(d.conditional, 1, 'one conditional request to the origin');
  });

  it('refuses a missing or wrong token (401), bad parameters (400), other methods (405)', async () => {
    await storeAll([['/product/13', {}]]);
    for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), '']) {
      const r = await purge({ url: '/product/13' }, { token });
      assert.strictEqual(r.status, 401, `token ${token}`);
      assert.match(r.headers['www-authenticate'], /^Bearer/);
    }
    const basic = await purge({ url: '/product/13' }, { token: null, headers: { authorization: `Basic ${TOKEN}` } });
    assert.strictEqual(basic.status, 401);
    for (const params of [{}, { url: '/product/13', tag: 'x' }, { tag: 'a b' }, { url: 'product/13' },
      { url: 'ftp://h/x' }, { prefix: '' }, { url: '/product/13', soft: 'yes' }, { url: '/x', other: '1' },
      { tag: 'x', host: 'h' }]) {
      const r = await purge(params);
      assert.strictEqual(r.status, 400, JSON.stringify(params));
      assert.ok(JSON.parse(r.body).error, r.body);
    }
    const g = await h.request({ port: admin, path: '/purge?tag=x', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.strictEqual(g.status, 405);
    await expectAll([['/product/13', {}]], HIT);
  });

  it('counts purges in the metrics', async () => {
    const m0 = (await h.request({ port: admin, path: '/metrics' })).body;
    await storeAll([['/product/14', {}]]);
    await purged({ url: '/product/14' }, { purged: 1, kind: 'url', soft: false });
    const m1 = (await h.request({ port: admin, path: '/metrics' })).body;
    assert.strictEqual(metric(m1, 'tessera_purges_total{kind="url"}') - metric(m0, 'tessera_purges_total{kind="url"}'), 1);
    assert.strictEqual(metric(m1, 'tessera_purges_total{kind="tag"}'), metric(m0, 'tessera_purges_total{kind="tag"}'));
    assert.strictEqual(metric(m1, 'tessera_purged_objects_total') - metric(m0, 'tessera_purged_objects_total'), 1);
  });
});

for (const proto of ['h1', 'h2']) {
  describe(`PURGE method (${proto})`, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('purges the URL for an allowed client and answers the count', async () => {
      const p = proto === 'h1' ? '/product/40' : '/product/41';
      // Through the same protocol: the Host (h1) or :authority (h2) keys the entries.
      const variants = [[p, {}], [p, { 'x-channel': 'app' }], [p, { 'accept-encoding': 'gzip' }]];
      for (const [path, headers] of variants) {
        await c.request({ edge, path, headers });
        assert.match(cs(await c.request({ edge, path, headers })), HIT);
      }
      const r = await c.request({ edge, path: p, method: 'PURGE' });
      assert.strictEqual(r.status, 200, r.body);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.deepStrictEqual(JSON.parse(r.body), { purged: 3, kind: 'url', soft: false });
      for (const [path, headers] of variants)
        assert.match(cs(await c.request({ edge, path, headers })), MISS);
      const again = await c.request({ edge, path: p, method: 'PURGE', headers: { 'x-channel': 'app' } });
      assert.deepStrictEqual(JSON.parse(again.body), { purged: 3, kind: 'url', soft: false });
    });
  });
}

describe('purge disabled, PURGE not allowed', () => {
  let other;
  before(async () => {
    other = await h.startTessera(edgeConfig(origin.port,
      `admin = { addr = "127.0.0.1:0", token_file = ${JSON.stringify(`${h.tmpFile('x', '')}.missing`)} }\n` +
      'purge = { allow = { "10.0.0.0/8", "fd00::/8" } }'));
  });
  after(async () => { if (other) await other.stop(); });

  it('POST /purge answers 403 and says why; PURGE from another address is 405', async () => {
    const port = await adminPort(other);
    const r = await h.request({ port, method: 'POST', path: '/purge?tag=x', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.strictEqual(r.status, 403);
    assert.match(JSON.parse(r.body).error, /purge is disabled: admin\.token_file: cannot read ".*\.missing": No such file/);
    assert.match(other.stderr(), /purge is disabled/);
    await h.request({ port: other.port, path: '/product/50' });
    const p = await h.request({ port: other.port, path: '/product/50', method: 'PURGE' });
    assert.strictEqual(p.status, 405);
    assert.match(cs(await h.request({ port: other.port, path: '/product/50' })), HIT);
  });
});
