// SPDX-License-Identifier: Apache-2.0
// Channels on page routes, with the demo's rules (conf/tessera.lua): an explicit
// X-Channel wins, then a mobile client hint (Sec-CH-UA-Mobile: ?1) or a mobile
// User-Agent, else web. The channel picks the templates (templates/<channel>/
// overrides templates/, for pages and for the partials they include), is part
// of the page's cache key, and the fields its rules read are named in Vary.
// The templates are written by this file into a temporary directory; a last
// suite runs the demo itself (conf/tessera.lua and templates/) and checks only
// what any version of the demo templates must give: pages for every channel,
// valid JSON for the app.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148';
const ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36';
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

const TEMPLATES = {
  // One shared page for every channel: the body is the channel's name.
  'pages/which.txt.mustache': '{{channel}}',
  // A page with a mobile and an app version, and a component with a mobile one.
  'pages/show.html.mustache': '<p class="page web-page">{{channel}}: {{product.name}}</p> {{> components/badge}}\n',
  'mobile/pages/show.html.mustache': '<p class="page mobile-page">{{channel}}: {{product.name}}</p> {{> components/badge}}\n',
  'app/pages/show.json.mustache': '{"channel": "{{channel}}", "id": {{product.id}}, "name": "{{product.name}}"}\n',
  // A page nobody overrides, including the component mobile overrides.
  'pages/plain.html.mustache': '<div class="plain">{{channel}}: {{product.name}}</div> {{> components/badge}}\n',
  'components/badge.html.mustache': '<span class="badge shared-badge">{{channel}}</span>',
  'mobile/components/badge.html.mustache': '<span class="badge mobile-badge">{{channel}}</span>',
};

const product = { origin: 'api', path: '/api/product/:id', timeout: '300ms', required: true };

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [
      { path: '/which/:id', template: 'pages/which', cache: { ttl: '60s' }, fragments: { product } },
      { path: '/show/:id', template: 'pages/show', cache: { ttl: '60s' }, fragments: { product } },
      { path: '/plain/:id', template: 'pages/plain', cache: { ttl: '60s' }, fragments: { product } },
      { path: '/*', origin: 'api' },
    ],
  }));
});
after(async () => {
  if (edge) await edge.stop();
  if (origin) await origin.stop();
});

async function productName(id) {
  const r = await h.request({ port: origin.port, path: `/api/product/${id}` });
  return JSON.parse(r.body).name;
}

// The channel fields of a Vary value, lower-cased.
function varyFields(v) {
  return String(v || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function assertVary(r) {
  const fields = varyFields(r.headers.vary);
  for (const f of ['x-channel', 'sec-ch-ua-mobile', 'user-agent'])
    assert.ok(fields.includes(f), `Vary lacks ${f}: ${r.headers.vary}`);
}

const SELECTION = [
  ['no channel signal', {}, 'web'],
  ['X-Channel: web', { 'x-channel': 'web' }, 'web'],
  ['X-Channel: mobile', { 'x-channel': 'mobile' }, 'mobile'],
  ['X-Channel: app', { 'x-channel': 'app' }, 'app'],
  ['X-Channel: web wins over an iPhone User-Agent', { 'x-channel': 'web', 'user-agent': IPHONE }, 'web'],
  ['X-Channel: app wins over Sec-CH-UA-Mobile: ?1', { 'x-channel': 'app', 'sec-ch-ua-mobile': '?1' }, 'app'],
  ['an iPhone User-Agent', { 'user-agent': IPHONE }, 'mobile'],
  ['an Android User-Agent', { 'user-agent': ANDROID }, 'mobile'],
  ['a desktop User-Agent', { 'user-agent': DESKTOP }, 'web'],
  ['Sec-CH-UA-Mobile: ?1', { 'sec-ch-ua-mobile': '?1', 'user-agent': DESKTOP }, 'mobile'],
  ['Sec-CH-UA-Mobile: ?0', { 'sec-ch-ua-mobile': '?0', 'user-agent': DESKTOP }, 'web'],
  ['an X-Channel value no rule names', { 'x-channel': 'tv', 'user-agent': DESKTOP }, 'web'],
];

for (const [pi, proto] of ['h1', 'h2'].entries()) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());
    let next = 200 + pi * 100; // product ids of this protocol's cases
    const newId = () => next++;

    describe('channel selection', () => {
      for (const [what, headers, channel] of SELECTION) {
        it(`${what} -> ${channel}`, async () => {
          const r = await c.request({ edge, path: `/which/${newId()}`, headers });
          assert.strictEqual(r.status, 200, r.body);
          assert.strictEqual(r.body.trim(), channel);
          assert.match(r.headers['content-type'], /^text\/plain/);
        });
      }
    });

    it('the three channels give three documents from the same fragments', async () => {
      const id = newId();
      const name = await productName(id);
      let web, mobile, app;
      const d = await h.originDelta(origin, async () => {
        web = await c.request({ edge, path: `/show/${id}` });
        mobile = await c.request({ edge, path: `/show/${id}`, headers: { 'x-channel': 'mobile' } });
        app = await c.request({ edge, path: `/show/${id}`, headers: { 'x-channel': 'app' } });
      });
      for (const r of [web, mobile, app]) assert.strictEqual(r.status, 200, r.body);
      assert.strictEqual(web.body, `<p class="page web-page">web: ${name}</p> <span class="badge shared-badge">web</span>\n`);
      assert.strictEqual(mobile.body,
                         `<p class="page mobile-page">mobile: ${name}</p> <span class="badge mobile-badge">mobile</span>\n`);
      assert.deepStrictEqual(JSON.parse(app.body), { channel: 'app', id, name });
      assert.match(web.headers['content-type'], /^text\/html; ?charset=utf-8$/i);
      assert.match(mobile.headers['content-type'], /^text\/html; ?charset=utf-8$/i);
      assert.match(app.headers['content-type'], /^application\/json/);
      assert.strictEqual(d.requests, 1, 'the product fragment is fetched once for the three channels');
    });

    it('each channel has its own cache entry', async () => {
      const path = `/show/${newId()}`;
      const web1 = await c.request({ edge, path });
      assert.match(web1.headers['cache-status'], /^tessera; fwd=miss; stored/);
      const web2 = await c.request({ edge, path, headers: { 'user-agent': DESKTOP } });
      assert.match(web2.headers['cache-status'], /^tessera; hit/);
      assert.strictEqual(web2.body, web1.body);

      const mob1 = await c.request({ edge, path, headers: { 'x-channel': 'mobile' } });
      assert.match(mob1.headers['cache-status'], /fwd=miss/, 'a web entry answered a mobile request');
      assert.ok(mob1.body.includes('mobile-page'), mob1.body);
      // Another signal for the same channel: the same entry.
      const mob2 = await c.request({ edge, path, headers: { 'user-agent': IPHONE } });
      assert.match(mob2.headers['cache-status'], /^tessera; hit/);
      assert.strictEqual(mob2.body, mob1.body);
      const mob3 = await c.request({ edge, path, headers: { 'sec-ch-ua-mobile': '?1' } });
      assert.match(mob3.headers['cache-status'], /^tessera; hit/);
      assert.strictEqual(mob3.body, mob1.body);

      const app1 = await c.request({ edge, path, headers: { 'x-channel': 'app' } });
      assert.match(app1.headers['cache-status'], /fwd=miss/);
      assert.strictEqual(JSON.parse(app1.body).channel, 'app');
      const app2 = await c.request({ edge, path, headers: { 'x-channel': 'app', 'user-agent': IPHONE } });
      assert.match(app2.headers['cache-status'], /^tessera; hit/);
      assert.strictEqual(app2.body, app1.body);
      assert.match(app2.headers['content-type'], /^application\/json/);

      const web3 = await c.request({ edge, path });
      assert.match(web3.headers['cache-status'], /^tessera; hit/);
      assert.strictEqual(web3.body, web1.body);
      assert.match(web3.headers['content-type'], /^text\/html/);
    });

    it('a channel override is used for that channel only; others get the shared template', async () => {
      const id = newId();
      const name = await productName(id);
      const mobile = await c.request({ edge, path: `/plain/${id}`, headers: { 'user-agent': ANDROID } });
      const web = await c.request({ edge, path: `/plain/${id}` });
      const app = await c.request({ edge, path: `/plain/${id}`, headers: { 'x-channel': 'app' } });
      // No mobile page: the shared one, with the mobile component inside.
      assert.strictEqual(mobile.body,
                         `<div class="plain">mobile: ${name}</div> <span class="badge mobile-badge">mobile</span>\n`);
      assert.strictEqual(web.body, `<div class="plain">web: ${name}</div> <span class="badge shared-badge">web</span>\n`);
      // No app page at all: the shared HTML page, with the shared component.
      assert.strictEqual(app.body, `<div class="plain">app: ${name}</div> <span class="badge shared-badge">app</span>\n`);
      assert.match(app.headers['content-type'], /^text\/html/);
    });

    it('page responses carry Vary with the fields the channel rules read', async () => {
      const path = `/show/${newId()}`;
      const miss = await c.request({ edge, path, headers: { 'user-agent': IPHONE } });
      const hit = await c.request({ edge, path, headers: { 'user-agent': IPHONE } });
      const app = await c.request({ edge, path, headers: { 'x-channel': 'app' } });
      assert.match(hit.headers['cache-status'], /hit/);
      for (const r of [miss, hit, app]) assertVary(r);
    });
  });
}

// The demo: conf/tessera.lua's routes and channels with templates/, against a
// 40-product catalogue.
describe('the demo configuration and templates', () => {
  const N = 40;
  let demoOrigin, demo, names, slugs;
  const c = h.client('h1');
  before(async () => {
    demoOrigin = await h.startOrigin(['-n', String(N)]);
    demo = await h.startTessera(h.demoConfig(demoOrigin.port));
    names = {};
    for (let id = 1; id <= N; id++) {
      const r = await h.request({ port: demoOrigin.port, path: `/api/product/${id}` });
      names[id] = JSON.parse(r.body).name;
    }
    const nav = await h.request({ port: demoOrigin.port, path: '/api/nav' });
    slugs = JSON.parse(nav.body).categories.map((x) => x.slug);
  });
  after(async () => {
    await c.close();
    if (demo) await demo.stop();
    if (demoOrigin) await demoOrigin.stop();
  });

  it('the app channel gets valid JSON for every product', async () => {
    for (let id = 1; id <= N; id++) {
      const r = await c.request({ edge: demo, path: `/product/${id}`, headers: { 'x-channel': 'app' } });
      assert.strictEqual(r.status, 200, `product ${id}: ${r.body}`);
      assert.match(r.headers['content-type'], /^application\/json/);
      let j;
      assert.doesNotThrow(() => { j = JSON.parse(r.body); }, `product ${id}: not JSON:\n${r.body}`);
      assert.ok(JSON.stringify(j).includes(JSON.stringify(names[id])), `product ${id}: no name in ${r.body}`);
    }
  });

  it('web and mobile get HTML product pages, mobile without the review texts', async () => {
    for (let id = 1; id <= N; id++) {
      const web = await c.request({ edge: demo, path: `/product/${id}` });
      const mobile = await c.request({ edge: demo, path: `/product/${id}`, headers: { 'user-agent': IPHONE } });
      for (const r of [web, mobile]) {
        assert.strictEqual(r.status, 200, `product ${id}: ${r.body}`);
        assert.match(r.headers['content-type'], /^text\/html; ?charset=utf-8$/i);
        assert.ok(r.body.includes(names[id]), `product ${id}: no name`);
      }
      assert.notStrictEqual(web.body, mobile.body);
      const rv = JSON.parse((await h.request({ port: demoOrigin.port, path: `/api/reviews/${id}` })).body);
      for (const item of rv.items) {
        assert.ok(web.body.includes(item.text), `product ${id}: web lacks the review "${item.text}"`);
        assert.ok(!mobile.body.includes(item.text), `product ${id}: mobile shows the review "${item.text}"`);
      }
    }
  });

  it('category pages and the home page render for every channel', async () => {
    for (const [channel, headers] of [['web', {}], ['mobile', { 'x-channel': 'mobile' }], ['app', { 'x-channel': 'app' }]]) {
      for (const p of ['/', ...slugs.map((s) => `/category/${s}`)]) {
        const r = await c.request({ edge: demo, path: p, headers });
        assert.strictEqual(r.status, 200, `${channel} ${p}: ${r.body}`);
        if (channel === 'app') assert.doesNotThrow(() => JSON.parse(r.body), `${p}: not JSON:\n${r.body}`);
        else assert.match(r.headers['content-type'], /^text\/html/);
        assertVary(r);
      }
    }
  });

  it('a product or category the origin does not have fails the page (required fragment)', async () => {
    for (const p of [`/product/${N + 1}`, '/category/no-such-thing']) {
      const r = await c.request({ edge: demo, path: p });
      assert.strictEqual(r.status, 502, `${p}: ${r.status} ${r.body}`);
    }
  });

  it('/api/* is still a pass-through after the page routes', async () => {
    const r = await c.request({ edge: demo, path: '/api/product/1' });
    assert.strictEqual(r.status, 200);
    assert.strictEqual(JSON.parse(r.body).name, names[1]);
  });
});
