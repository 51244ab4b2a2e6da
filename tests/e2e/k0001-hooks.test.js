// SPDX-License-Identifier: Apache-2.0
// Lua hooks, one phase at a time: on_request (answer directly, redirect, set the
// channel, rewrite the path and a page's params, add cache key parts, carry
// vars), on_fragment, on_render, a template lambda, on_response (headers, TTL,
// tags, uncacheable) and on_log. Each assertion reads something only the hook
// can have made, so it fails when the hook is removed. Hooks run on misses and
// on_log on every request; a route without hooks runs none.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./lib/harness');

const SCRIPT = `
local function bucket_of(req)
  if req.cookies.ab == "b" then return "b" end
  return "a"
end

return {
  on_request = function(req)
    if req.cookies.blocked == "1" then
      return { status = 403, body = "denied by hook", headers = { ["X-Why"] = "blocked" } }
    end
    if req.query.go then
      return { status = 302, headers = { Location = "/hp/" .. req.query.go } }
    end
    if req.query.as then req.channel = req.query.as end
    if req.params.id == "alias" then req.params.id = "7" end
    if req.path == "/hp/old-3" then req.path = "/hp/3" end
    local b = bucket_of(req)
    req.key_parts[#req.key_parts + 1] = "ab=" .. b
    req.vars = { bucket = b, lang = req.query.lang or "en" }
    if req.query.keep then KEPT = req; local _ = req.cookies end
    if req.query.reuse then
      req.vars.kept = (KEPT and type(KEPT.headers) or "none") .. "/" .. (KEPT and type(KEPT.cookies) or "none")
    end
  end,

  on_fragment = function(name, data, meta)
    if name == "price" then
      data.doubled = data.amount * 2
      data.from = meta.from
    end
    if name == "product" then return { name = string.upper(data.name), id = data.id } end
  end,

  on_render = function(ctx)
    ctx.greeting = "Hello " .. ctx.product.name .. " (" .. ctx.vars.lang .. ")"
  end,

  lambdas = {
    bold = function(text) return "<b>" .. text .. "</b>" end,
  },

  on_response = function(res)
    res.headers["x-hooked"] = "yes"
    res.headers["x-secret"] = nil
    res.tags = { "hooked" }
    if res.headers["x-nocache"] then res.cacheable = false else res.ttl = 42 end
    if res.vars and res.vars.kept then res.headers["x-kept"] = res.vars.kept end
    if res.headers["x-multi"] then res.headers["x-multi"] = "changed" end
  end,

  on_log = function(e)
    return { bucket = e.vars and e.vars.bucket or "none", hooked = true, status_seen = e.status }
  end,
}
`;

const TEMPLATES = {
  'pages/hooked.html.mustache': [
    '<p class="bucket">{{vars.bucket}}</p>',
    '<p class="price">{{price.amount}}|{{price.doubled}}|{{price.from}}</p>',
    '<p class="greet">{{greeting}}</p>',
    '<p class="bold">{{#bold}}{{product.name}}{{/bold}}</p>',
    '<p class="ch">{{channel}}</p>',
    ''].join('\n'),
  'pages/plain.html.mustache': '<p class="name">{{product.name}}</p><p class="greet">[{{greeting}}]</p>\n',
};

let origin, edge, dir, logFile;
const api = (p) => ({ origin: 'api', path: p, timeout: '1s' });

before(async () => {
  origin = await h.startOrigin();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-hooks-'));
  fs.writeFileSync(path.join(dir, 'hooked.lua'), SCRIPT);
  logFile = path.join(dir, 'access.log');
  const hooks = path.join(dir, 'hooked.lua');
  edge = await h.startTessera(h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [
      { path: '/hp/:id', template: 'pages/hooked', hooks, cache: { ttl: '60s' }, fragments: {
        product: { ...api('/api/product/:id'), required: true },
        price: api('/api/price/:id?cc=max-age%3D60'),
      } },
      { path: '/plain/:id', template: 'pages/plain', cache: { ttl: '60s' }, fragments: {
        product: { ...api('/api/product/:id'), required: true },
      } },
      { path: '/api/price/*', origin: 'api', hooks, cache: {} },
      { path: '/*', origin: 'api' },
    ],
    extra: `log = { access = ${JSON.stringify(logFile)}, format = "json" }`,
  }));
});
after(async () => { await edge.stop(); await origin.stop(); });

const get = (p, headers = {}) => h.request({ port: edge.port, path: p, headers });
const text = (body, cls) => (body.match(new RegExp(`<p class="${cls}">([^<]*(?:<b>[^<]*</b>)?)</p>`)) || [])[1];
const productName = async (id) => JSON.parse((await get(`/api/product/${id}`)).body).name;

describe('on_request', () => {
  it('answers directly, without the cache or the origin', async () => {
    const d = await h.originDelta(origin, async () => {
      const r = await get('/hp/1', { cookie: 'blocked=1' });
      assert.strictEqual(r.status, 403);
      assert.strictEqual(r.body, 'denied by hook');
      assert.strictEqual(r.headers['x-why'], 'blocked');
      assert.match(r.headers['content-type'], /^text\/plain/);
    });
    assert.strictEqual(d.requests, 0);
  });

  it('redirects', async () => {
    const r = await get('/hp/1?go=9');
    assert.strictEqual(r.status, 302);
    assert.strictEqual(r.headers.location, '/hp/9');
  });

  it('sets the channel (part of the cache key)', async () => {
    const web = await get('/hp/2');
    const mobile = await get('/hp/2?as=mobile');
    assert.strictEqual(text(web.body, 'ch'), 'web');
    assert.strictEqual(text(mobile.body, 'ch'), 'mobile');
  });

  it('rewrites a page route\'s param: the fragments are fetched for the new value', async () => {
    const r = await get('/hp/alias');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(text(r.body, 'greet'), `Hello ${(await productName(7)).toUpperCase()} (en)`);
  });

  it('rewrites the path', async () => {
    const r = await get("/hp/old-3");
    assert.strictEqual(r.status, 200, r.body);
    assert.strictEqual(text(r.body, 'greet'), `Hello ${(await productName(3)).toUpperCase()} (en)`);
  });

  it('adds a cache key part: one entry per A/B bucket, each a hit afterwards', async () => {
    const a1 = await get('/hp/4', { cookie: 'ab=a' });
    const b1 = await get('/hp/4', { cookie: 'ab=b' });
    const a2 = await get('/hp/4', { cookie: 'ab=a' });
    const b2 = await get('/hp/4', { cookie: 'ab=b' });
    assert.match(a1.headers['cache-status'], /fwd=miss/);
    assert.match(b1.headers['cache-status'], /fwd=miss/, 'bucket b is an entry of its own');
    assert.match(a2.headers['cache-status'], /; hit/);
    assert.match(b2.headers['cache-status'], /; hit/);
    assert.strictEqual(text(a2.body, 'bucket'), 'a');
    assert.strictEqual(text(b2.body, 'bucket'), 'b');
  });
});

describe('a req table kept past its call', () => {
  it('keeps what was read during the call and nothing else (no dangling request data)', async () => {
    const c = h.client('h1', { keepAlive: true, maxSockets: 1 }); // one connection: one worker
    try {
      await c.request({ edge, path: '/api/price/20?keep=1' });
      const r = await c.request({ edge, path: '/api/price/21?reuse=1' });
      assert.strictEqual(r.headers['x-kept'], 'nil/table');
    } finally {
      await c.close();
    }
  });
});

describe('data phases', () => {
  it('on_fragment changes and replaces fragment data; meta says where it came from', async () => {
    const price = JSON.parse((await get('/api/price/5')).body);
    const r = await get('/hp/5');
    const [amount, doubled, from] = text(r.body, 'price').split('|');
    assert.strictEqual(Number(amount), price.amount);
    assert.strictEqual(Number(doubled), price.amount * 2);
    assert.ok(['origin', 'cache'].includes(from), from);
    assert.match(text(r.body, 'greet'), new RegExp(`^Hello ${(await productName(5)).toUpperCase()}`));
  });

  it('on_render adds fields; req.vars reach the template and the hooks', async () => {
    const r = await get('/hp/6?lang=fr');
    assert.strictEqual(text(r.body, 'greet'), `Hello ${(await productName(6)).toUpperCase()} (fr)`);
  });

  it('a template lambda wraps its section, which is then rendered', async () => {
    const r = await get('/hp/8');
    assert.strictEqual(text(r.body, 'bold'), `<b>${(await productName(8)).toUpperCase()}</b>`);
  });

  it('a route without hooks has none of their effects', async () => {
    const r = await get('/plain/8');
    assert.strictEqual(r.status, 200);
    assert.match(r.body, /<p class="greet">\[\]<\/p>/);
    assert.strictEqual(r.headers['x-hooked'], undefined);
  });
});

describe('on_response', () => {
  it('sets headers, the TTL and tags of a composed page', async () => {
    const r = await get('/hp/10');
    assert.strictEqual(r.headers['x-hooked'], 'yes');
    assert.match(r.headers['cache-status'], /stored; ttl=42/);
    assert.ok(h.surrogateKeys(r.headers['surrogate-key']).includes('hooked'));
    const again = await get('/hp/10');
    assert.match(again.headers['cache-status'], /; hit/);
    assert.strictEqual(again.headers['x-hooked'], 'yes', 'stored with the hook\'s headers');
  });

  it('removes and adds fields of a proxied response', async () => {
    const r = await get('/api/price/11?hdr=X-Secret:s3cret');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.headers['x-secret'], undefined);
    assert.strictEqual(r.headers['x-hooked'], 'yes');
  });

  it('a changed field of several lines becomes one line; untouched ones keep theirs', async () => {
    const r = await get('/api/price/14?hdr=X-Multi:a&hdr=X-Multi:b&hdr=X-Keep:1&hdr=X-Keep:2');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.headers['x-multi'], 'changed');
    assert.strictEqual(r.headers['x-keep'], '1, 2');
  });

  it('marks a response uncacheable', async () => {
    const p = '/api/price/12?hdr=X-Nocache:1&cc=max-age%3D60';
    const r1 = await get(p);
    const r2 = await get(p);
    assert.match(r1.headers['cache-status'], /fwd=miss/);
    assert.match(r2.headers['cache-status'], /fwd=miss/, 'not stored');
    const stored = '/api/price/13?cc=max-age%3D60';
    await get(stored);
    assert.match((await get(stored)).headers['cache-status'], /; hit/);
  });
});

describe('configuration', () => {
  it('page-only phases on a route with an origin are reported, not silently ignored', async () => {
    await get('/api/price/30');
    await h.waitFor(() => /route \/api\/price\/\*: on_fragment, on_render and lambdas of \S+hooked\.lua run on page routes only/
      .test(edge.stderr()), 3000, 'the warning');
  });
});

describe('on_log', () => {
  it('adds fields to the access log line', async () => {
    await get('/hp/14', { cookie: 'ab=b' });
    const line = await h.waitFor(() => {
      const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n') : [];
      return lines.find((l) => l.includes('"/hp/14"'));
    }, 5000, 'the access log line');
    const e = JSON.parse(line);
    assert.strictEqual(e.bucket, 'b');
    assert.strictEqual(e.hooked, true);
    assert.strictEqual(e.status_seen, 200);
  });
});
