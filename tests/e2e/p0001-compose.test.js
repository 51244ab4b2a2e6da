// SPDX-License-Identifier: Apache-2.0
// Page routes: a page is composed from API fragments fetched in parallel, each
// cached on its own, rendered with a Mustache template and cached as a whole.
// What a failed fragment does (required: 502, or 503 when it timed out, never a
// 200 half page; optional: its fallback, or absent for {{^name}}), the page's
// Cache-Status, Surrogate-Key and Content-Type, escaping of fragment data, and
// what of the client request reaches a fragment (the listed query parameters and
// header fields only). The templates are written by this file into a temporary
// directory, so the demo's templates can change freely.
//
// The demo origin's request counter (/__stats) tells what reached it; a fixture
// origin in this process (h.startFixtureOrigin) echoes what a fragment request
// carried and serves data the demo catalogue has no use for (markup, quotes).
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const { performance } = require('node:perf_hooks');
const h = require('./lib/harness');

// Fragment data that needs escaping.
const XSS = '<script>alert("x")</script> & \'q\'';
const NASTY = 'quote " backslash \\ newline \n tab \t ctrl \u0001 <b>&amp;</b> \u00e9 \u2713';

const TEMPLATES = {
  'pages/six.html.mustache': [
    '<h1>{{product.name}}</h1>',
    '<p class="price">{{price.amount}} {{price.currency}}</p>',
    '<p class="reviews">{{reviews.count}}</p>',
    '<ul class="recs">{{#recs.items}}<li>{{name}}</li>{{/recs.items}}</ul>',
    '<nav>{{#nav.categories}}<a href="{{url}}">{{name}}</a>{{/nav.categories}}</nav>',
    '<footer>{{footer.copyright}}</footer>',
    ''].join('\n'),
  'pages/hit.html.mustache': '<h1>{{product.name}}</h1><p class="price">{{price.amount}}</p>\n',
  'pages/half.html.mustache': '<main class="half-page">{{product.name}}</main>\n',
  'pages/optional.html.mustache': [
    '<h1>{{product.name}}</h1>',
    '{{#reviews.message}}<p class="reviews-fallback">{{reviews.message}}</p>{{/reviews.message}}',
    '{{#reviews.count}}<p class="reviews">{{reviews.count}} reviews</p>{{/reviews.count}}',
    '{{#recs}}<ul class="recs">{{#items}}<li>{{name}}</li>{{/items}}</ul>{{/recs}}',
    '{{^recs}}<p class="recs-placeholder">No recommendations today</p>{{/recs}}',
    ''].join('\n'),
  'pages/shared-a.html.mustache': '<p class="a">{{product.name}}</p>\n',
  'pages/shared-b.html.mustache': '<p class="b">{{item.name}}</p>\n',
  'pages/tags.html.mustache': '<p>{{product.name}}</p>\n',
  'pages/escape.html.mustache': [
    '<p class="escaped" title="{{doc.title}}">{{doc.title}}</p>',
    '<div class="raw">{{{doc.html}}}</div>',
    ''].join('\n'),
  // A JSON view: a trailing element closes the loop's commas (the spec has no
  // "last"), a triple mustache writes an array as JSON, {{x}} inside quotes is
  // escaped as JSON string content.
  'pages/appview.json.mustache': [
    '{',
    '  "id": {{product.id}},',
    '  "name": "{{product.name}}",',
    '  "doc": "{{doc.name}}",',
    '  "price": {{#price}}{{amount}}{{/price}}{{^price}}null{{/price}},',
    '  "reviews": [{{#reviews.items}}{"author": "{{author}}", "stars": {{stars}}, "text": "{{text}}"}, {{/reviews.items}}null],',
    '  "recs": {{#recs}}{{{items}}}{{/recs}}{{^recs}}[]{{/recs}}',
    '}',
    ''].join('\n'),
  'pages/echo.json.mustache': '{"priced": {{{priced}}}, "plain": {{{plain}}} }\n',
  'pages/headers.json.mustache': '{"tenant": {{{tenant}}}, "session": {{{session}}}, "bare": {{{bare}}} }\n',
};

// A fragment of the demo origin.
const api = (p, more = {}) => ({ origin: 'api', path: p, timeout: '300ms', ...more });
// A fragment of the fixture origin.
const fx = (p, more = {}) => ({ origin: 'fx', path: p, timeout: '1s', ...more });
const cached = { ttl: '60s' };

const ROUTES = [
  { path: '/six/:id', template: 'pages/six', cache: cached, fragments: {
    product: api('/api/product/:id?delay=50', { required: true }),
    price: api('/api/price/:id?delay=50'),
    reviews: api('/api/reviews/:id?delay=50', { fallback: { items: [] } }),
    recs: api('/api/recs/:id?delay=50'),
    nav: api('/api/nav?delay=50', { required: true }), // no Cache-Control: never fresh
    footer: api('/api/footer?delay=50'),
  } },
  { path: '/hit/:id', template: 'pages/hit', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }), // public, max-age=60
    price: api('/api/price/:id?cc=max-age%3D60'),
  } },
  { path: '/required-fails/:id', template: 'pages/half', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    broken: api('/status/500', { required: true }),
  } },
  { path: '/required-slow/:id', template: 'pages/half', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    slow: api('/api/price/:id?delay=1000', { required: true, timeout: '100ms' }),
  } },
  { path: '/optional-ok/:id', template: 'pages/optional', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    reviews: api('/api/reviews/:id', { fallback: { message: 'Reviews are resting' } }),
    recs: api('/api/recs/:id'),
  } },
  { path: '/optional-fails/:id', template: 'pages/optional', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    reviews: api('/status/500', { fallback: { message: 'Reviews are resting' } }),
    recs: api('/status/503'),
  } },
  { path: '/optional-slow/:id', template: 'pages/optional', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    reviews: api('/api/reviews/:id?delay=1000', { timeout: '100ms',
                                                   fallback: { message: 'Reviews are resting' } }),
    recs: api('/api/recs/:id?delay=1000', { timeout: '100ms' }),
  } },
  { path: '/shared-a/:id', template: 'pages/shared-a', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
  } },
  { path: '/shared-b/:id', template: 'pages/shared-b', cache: cached, fragments: {
    item: api('/api/product/:id', { required: true }), // same URL, another name
  } },
  { path: '/tags/:id', template: 'pages/tags', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }), // Surrogate-Key: product-<id>
    nav: api('/api/nav?sk=shared%20nav'),
    footer: api('/api/footer?sk=shared%20footer%20legal'),
  } },
  { path: '/escape/:id', template: 'pages/escape', fragments: { doc: fx('/xss', { required: true }) } },
  { path: '/appview/:id', template: 'pages/appview', cache: cached, fragments: {
    product: api('/api/product/:id', { required: true }),
    price: api('/api/price/:id'),
    reviews: api('/api/reviews/:id', { fallback: { items: [] } }),
    recs: api('/api/recs/:id'),
    doc: fx('/nasty'),
  } },
  { path: '/query/:id', template: 'pages/echo', fragments: {
    priced: fx('/echo/:id/priced', { required: true, query: ['lang'] }),
    plain: fx('/echo/:id/plain', { required: true }),
  } },
  { path: '/headers/:id', template: 'pages/headers', fragments: {
    tenant: fx('/echo/:id/tenant', { required: true, headers: ['X-Tenant'] }),
    session: fx('/echo/:id/session', { required: true, headers: ['cookie'] }),
    bare: fx('/echo/:id/bare', { required: true }),
  } },
  { path: '/api/*', origin: 'api', cache: {} },
  { path: '/*', origin: 'api' },
];

let origin, fixture, edge;
before(async () => {
  origin = await h.startOrigin();
  fixture = await h.startFixtureOrigin();
  fixture.serve('/xss', { body: { title: XSS, html: '<b>raw</b>' }, headers: { 'cache-control': 'no-store' } });
  fixture.serve('/nasty', { body: { name: NASTY }, headers: { 'cache-control': 'max-age=60' } });
  edge = await h.startTessera(h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`], fx: [`127.0.0.1:${fixture.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: ROUTES,
  }));
});
after(async () => {
  if (edge) await edge.stop();
  if (origin) await origin.stop();
  if (fixture) await fixture.stop();
});

// A document of the demo origin, read directly (count it outside originDelta).
async function originJson(p) {
  const r = await h.request({ port: origin.port, path: p });
  assert.strictEqual(r.status, 200, `origin ${p}`);
  return JSON.parse(r.body);
}

let nextId = 101; // product ids not used by another case of this file
const newId = () => nextId++;
// One whose product has reviews (the catalogue gives none to multiples of 10).
const idWithReviews = () => { let id = newId(); while (id % 10 === 0) id = newId(); return id; };

describe('h1', () => {
  const c = h.client('h1');
  after(() => c.close());

  it('fetches six fragments in parallel: six 50 ms fragments take well under 300 ms', async () => {
    const id = newId();
    const product = await originJson(`/api/product/${id}`);
    const price = await originJson(`/api/price/${id}`);
    let r, ms;
    const d = await h.originDelta(origin, async () => {
      const t0 = performance.now();
      r = await c.request({ edge, path: `/six/${id}` });
      ms = performance.now() - t0;
    });
    assert.strictEqual(r.status, 200, r.body);
    assert.ok(ms < 200, `the page took ${ms.toFixed(0)} ms: fragments fetched one after another?`);
    assert.strictEqual(d.requests, 6, 'one origin request per fragment');
    assert.match(r.headers['content-type'], /^text\/html; ?charset=utf-8$/i);
    assert.ok(r.body.includes(`<h1>${product.name}</h1>`), r.body);
    assert.ok(r.body.includes(`<p class="price">${price.amount} EUR</p>`), r.body);
    assert.ok(r.body.includes('<a href="/category/kitchen">Kitchen</a>'), r.body);
    assert.ok(r.body.includes('<footer>(c) 2024 Tessera demo store</footer>'), r.body);
  });

  it('a required fragment that fails gives 502, never a 200 half page', async () => {
    const id = newId();
    for (let i = 0; i < 2; i++) { // the second time too: no error page stored as a 200
      const r = await c.request({ edge, path: `/required-fails/${id}` });
      assert.strictEqual(r.status, 502, r.body);
      assert.ok(!r.body.includes('half-page'), `rendered anyway: ${r.body}`);
    }
  });

  it('a required fragment that times out gives 503, at its timeout', async () => {
    const id = newId();
    const t0 = performance.now();
    const r = await c.request({ edge, path: `/required-slow/${id}` });
    const ms = performance.now() - t0;
    assert.strictEqual(r.status, 503, r.body);
    assert.ok(!r.body.includes('half-page'), `rendered anyway: ${r.body}`);
    assert.ok(ms < 900, `answered after ${ms.toFixed(0)} ms: the 100 ms fragment timeout did not cut the 1 s fragment`);
  });

  it('optional fragments that answer are rendered (no fallback, no placeholder)', async () => {
    const id = idWithReviews();
    const recs = await originJson(`/api/recs/${id}`);
    const reviews = await originJson(`/api/reviews/${id}`);
    const r = await c.request({ edge, path: `/optional-ok/${id}` });
    assert.strictEqual(r.status, 200, r.body);
    assert.ok(r.body.includes(`<p class="reviews">${reviews.count} reviews</p>`), r.body);
    assert.ok(r.body.includes(`<li>${recs.items[0].name}</li>`), r.body);
    assert.ok(!r.body.includes('reviews-fallback') && !r.body.includes('recs-placeholder'), r.body);
  });

  it('an optional fragment that fails gets its fallback, or {{^name}} when it has none', async () => {
    const id = newId();
    const product = await originJson(`/api/product/${id}`);
    const r = await c.request({ edge, path: `/optional-fails/${id}` });
    assert.strictEqual(r.status, 200, r.body);
    assert.ok(r.body.includes(`<h1>${product.name}</h1>`), r.body);
    assert.ok(r.body.includes('<p class="reviews-fallback">Reviews are resting</p>'), r.body);
    assert.ok(r.body.includes('<p class="recs-placeholder">No recommendations today</p>'), r.body);
    assert.ok(!r.body.includes('<ul class="recs">'), r.body);
  });

  it('an optional fragment that times out gets its fallback, or {{^name}} when it has none', async () => {
    const id = newId();
    const t0 = performance.now();
    const r = await c.request({ edge, path: `/optional-slow/${id}` });
    const ms = performance.now() - t0;
    assert.strictEqual(r.status, 200, r.body);
    assert.ok(r.body.includes('<p class="reviews-fallback">Reviews are resting</p>'), r.body);
    assert.ok(r.body.includes('<p class="recs-placeholder">No recommendations today</p>'), r.body);
    assert.ok(ms < 900, `answered after ${ms.toFixed(0)} ms: the 100 ms fragment timeouts were not applied`);
  });

  it('the page is stored: the second request is a hit and reaches no origin', async () => {
    const path = `/hit/${newId()}`;
    const first = await c.request({ edge, path });
    assert.strictEqual(first.status, 200, first.body);
    assert.match(first.headers['cache-status'], /^tessera; fwd=miss(; stored; ttl=\d+)?$/); // streamed: not yet
    let second;
    const d = await h.originDelta(origin, async () => { second = await c.request({ edge, path }); });
    assert.strictEqual(d.requests, 0);
    assert.strictEqual(second.status, 200);
    assert.match(second.headers['cache-status'], /^tessera; hit; ttl=\d+/);
    assert.strictEqual(second.body, first.body);
    assert.match(second.headers['content-type'], /^text\/html; ?charset=utf-8$/i);
  });

  it('fragments are cached on their own: another page reuses a fetched fragment', async () => {
    const id = newId();
    const product = await originJson(`/api/product/${id}`);
    let a, b;
    const da = await h.originDelta(origin, async () => { a = await c.request({ edge, path: `/shared-a/${id}` }); });
    assert.strictEqual(a.status, 200, a.body);
    assert.strictEqual(da.requests, 1);
    const db = await h.originDelta(origin, async () => { b = await c.request({ edge, path: `/shared-b/${id}` }); });
    assert.strictEqual(b.status, 200, b.body);
    assert.strictEqual(db.requests, 0, 'the product fragment was fetched again');
    assert.match(b.headers['cache-status'], /fwd=miss/, 'the page itself was composed');
    assert.ok(a.body.includes(`<p class="a">${product.name}</p>`), a.body);
    assert.ok(b.body.includes(`<p class="b">${product.name}</p>`), b.body);
  });

  it('the page carries the union of its fragments\' Surrogate-Key tags', async () => {
    const id = newId();
    const path = `/tags/${id}`;
    const r = await c.request({ edge, path });
    assert.strictEqual(r.status, 200, r.body);
    const tags = h.surrogateKeys(r.headers['surrogate-key']);
    for (const t of [`product-${id}`, 'shared', 'nav', 'footer', 'legal'])
      assert.ok(tags.includes(t), `no ${t} in Surrogate-Key: ${r.headers['surrogate-key']}`);
    assert.strictEqual(tags.filter((t) => t === 'shared').length, 1, 'a tag of two fragments is listed once');
    const hit = await c.request({ edge, path });
    assert.match(hit.headers['cache-status'], /hit/);
    assert.deepStrictEqual(h.surrogateKeys(hit.headers['surrogate-key']).sort(), [...tags].sort());
  });

  it('fragment data is HTML-escaped in .html templates ({{{x}}} is not)', async () => {
    const r = await c.request({ edge, path: `/escape/${newId()}` });
    assert.strictEqual(r.status, 200, r.body);
    assert.ok(!r.body.includes('<script>'), r.body);
    const esc = /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#(39|x27);q&#(39|x27);/;
    assert.match(r.body, new RegExp(`<p class="escaped" title="${esc.source}">${esc.source}</p>`));
    assert.ok(r.body.includes('<div class="raw"><b>raw</b></div>'), r.body);
  });

  it('a .json template renders valid JSON (application/json) for every product shape', async () => {
    // 10 has no reviews; prices on sale and not, 4 to 6 recommendations.
    for (let id = 1; id <= 12; id++) {
      const reviews = await originJson(`/api/reviews/${id}`);
      const product = await originJson(`/api/product/${id}`);
      const r = await c.request({ edge, path: `/appview/${id}` });
      assert.strictEqual(r.status, 200, r.body);
      assert.match(r.headers['content-type'], /^application\/json/);
      let j;
      assert.doesNotThrow(() => { j = JSON.parse(r.body); }, `product ${id}: not JSON:\n${r.body}`);
      assert.strictEqual(j.id, id);
      assert.strictEqual(j.name, product.name);
      assert.strictEqual(j.doc, NASTY);
      assert.strictEqual(typeof j.price, 'number');
      assert.deepStrictEqual(j.reviews, [...reviews.items, null]);
      assert.ok(Array.isArray(j.recs) && j.recs.length >= 1);
    }
  });

  it('passes on the listed query parameters only (?lang=fr reaches the fragment)', async () => {
    const id = newId();
    const r = await c.request({ edge, path: `/query/${id}?lang=fr&utm_source=x&other=1` });
    assert.strictEqual(r.status, 200, r.body);
    const [priced] = fixture.seen(`/echo/${id}/priced`);
    const [plain] = fixture.seen(`/echo/${id}/plain`);
    assert.ok(priced && plain, 'the fragments reached the fixture origin');
    assert.deepStrictEqual(priced.query, { lang: 'fr' });
    assert.deepStrictEqual(plain.query, {});
    const j = JSON.parse(r.body); // the same records, through the template
    assert.deepStrictEqual(j.priced.query, { lang: 'fr' });
    assert.deepStrictEqual(j.plain.query, {});
  });

  it('passes on the listed request header fields only (no Cookie unless listed)', async () => {
    const id = newId();
    const r = await c.request({ edge, path: `/headers/${id}`, headers: {
      'X-Tenant': 'blue', Cookie: 'sid=abc; theme=dark', 'X-Secret': 'hunter2', Authorization: 'Bearer t0ken',
    } });
    assert.strictEqual(r.status, 200, r.body);
    const seen = (name) => {
      const [rec] = fixture.seen(`/echo/${id}/${name}`);
      assert.ok(rec, `the ${name} fragment reached the fixture origin`);
      return rec.headers;
    };
    const tenant = seen('tenant'), session = seen('session'), bare = seen('bare');
    assert.strictEqual(tenant['x-tenant'], 'blue');
    assert.strictEqual(session.cookie, 'sid=abc; theme=dark');
    for (const [name, hd] of [['tenant', tenant], ['session', session], ['bare', bare]]) {
      assert.strictEqual(hd['x-secret'], undefined, `X-Secret reached ${name}`);
      assert.strictEqual(hd.authorization, undefined, `Authorization reached ${name}`);
    }
    assert.strictEqual(tenant.cookie, undefined, 'Cookie reached a fragment that does not list it');
    assert.strictEqual(bare.cookie, undefined, 'Cookie reached a fragment that does not list it');
    assert.strictEqual(session['x-tenant'], undefined);
    assert.strictEqual(bare['x-tenant'], undefined);
    const j = JSON.parse(r.body);
    assert.strictEqual(j.tenant.headers['x-tenant'], 'blue');
    assert.strictEqual(j.bare.headers.cookie, undefined);
  });

  it('proxy routes after the page routes still pass through', async () => {
    const r = await c.request({ edge, path: '/api/nav' });
    assert.strictEqual(r.status, 200);
    assert.ok(Array.isArray(JSON.parse(r.body).categories));
  });
});

for (const proto of ['h2c', 'h2']) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('composes a page in parallel, then serves it from the cache', async () => {
      const id = newId();
      const product = await originJson(`/api/product/${id}`);
      await c.request({ edge, path: '/api/footer' }); // the session's handshake, outside the timing
      let r, ms;
      const d = await h.originDelta(origin, async () => {
        const t0 = performance.now();
        r = await c.request({ edge, path: `/six/${id}` });
        ms = performance.now() - t0;
      });
      assert.strictEqual(r.status, 200, r.body);
      assert.strictEqual(d.requests, 6);
      assert.ok(ms < 200, `the page took ${ms.toFixed(0)} ms`);
      assert.ok(r.body.includes(`<h1>${product.name}</h1>`), r.body);
      // A page streamed before its last optional fragments (p0003) sent its
      // head before it was stored: then Cache-Status cannot say "stored" yet.
      assert.match(r.headers['cache-status'], /^tessera; fwd=miss(; stored; ttl=\d+)?$/);
      let hit;
      const d2 = await h.originDelta(origin, async () => { hit = await c.request({ edge, path: `/six/${id}` }); });
      assert.strictEqual(d2.requests, 0);
      assert.match(hit.headers['cache-status'], /^tessera; hit; ttl=\d+/);
      assert.strictEqual(hit.body, r.body);
    });

    it('a required fragment that fails gives 502', async () => {
      const r = await c.request({ edge, path: `/required-fails/${newId()}` });
      assert.strictEqual(r.status, 502);
      assert.ok(!r.body.includes('half-page'));
    });
  });
}
