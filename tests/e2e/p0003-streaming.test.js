// SPDX-License-Identifier: Apache-2.0
// Streaming on a miss (composition issue, item 7): once every required fragment
// is in, the page's head and its output up to the first place that needs a
// still-missing optional fragment go out (chunked), without waiting for the slow
// fragment; the page is still cached whole, and a hit is the same bytes with a
// Content-Length.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const h = require('./lib/harness');

const TEMPLATES = {
  'pages/stream.html.mustache': [
    '<h1>{{product.name}}</h1>',
    '<p class="early">shown before the slow part</p>',
    '{{#recs}}<ul class="recs">{{#items}}<li>{{name}}</li>{{/items}}</ul>{{/recs}}',
    '{{^recs}}<p class="no-recs">none</p>{{/recs}}',
    '<footer>end</footer>',
    ''].join('\n'),
};

const SLOW_MS = 400;
const api = (p, extra = {}) => ({ origin: 'api', path: p, timeout: '2s', ...extra });

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [
      { path: '/stream/:id', template: 'pages/stream', cache: { ttl: '60s' }, fragments: {
        product: api('/api/product/:id', { required: true }),
        recs: api(`/api/recs/:id?delay=${SLOW_MS}`),
      } },
      { path: '/late/:id', template: 'pages/stream', cache: { ttl: '60s' }, fragments: {
        product: api('/api/product/:id', { required: true }),
        recs: api(`/api/recs/:id?delay=${SLOW_MS}`, { timeout: '100ms' }),
      } },
    ],
  }));
});
after(async () => {
  if (edge) await edge.stop();
  if (origin) await origin.stop();
});

// GET over HTTP/1.1, timing the head, the first body bytes and the end.
function timedGet(path) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port: edge.port, path, agent: false }, (res) => {
      const tHead = performance.now() - t0;
      let tFirst = null;
      let firstChunk = '';
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (tFirst === null) { tFirst = performance.now() - t0; firstChunk = d; }
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, firstChunk,
                                    tHead, tFirst, tEnd: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('streaming on a miss', () => {
  it('sends the page up to the slow optional fragment before it arrives, then the rest', async () => {
    const r = await timedGet('/stream/5');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.headers['transfer-encoding'], 'chunked');
    assert.strictEqual(r.headers['content-length'], undefined);
    assert.match(r.firstChunk, /<h1>[^<]+<\/h1>/);
    assert.match(r.firstChunk, /class="early"/);
    assert.doesNotMatch(r.firstChunk, /class="recs"/);
    assert.ok(r.tFirst < SLOW_MS / 2, `first bytes after ${r.tFirst} ms`);
    assert.ok(r.tEnd >= SLOW_MS - 20, `whole page after ${r.tEnd} ms`);
    assert.match(r.body, /<ul class="recs"><li>/);
    assert.match(r.body, /<footer>end<\/footer>/);

    // stored whole: the hit is the same document, framed by its length
    const hit = await timedGet('/stream/5');
    assert.match(hit.headers['cache-status'], /^tessera; hit/);
    assert.strictEqual(hit.body, r.body);
    assert.strictEqual(Number(hit.headers['content-length']), Buffer.byteLength(r.body));
  });

  it('a slow optional fragment that times out ends the streamed page with its placeholder', async () => {
    const r = await timedGet('/late/6');
    assert.strictEqual(r.status, 200);
    assert.match(r.firstChunk, /class="early"/);
    assert.ok(r.tEnd < SLOW_MS, `ended after ${r.tEnd} ms, at the 100 ms timeout`);
    assert.match(r.body, /<p class="no-recs">none<\/p>/);
    assert.match(r.body, /<footer>end<\/footer>/);
  });

  it('without a slow fragment nothing is streamed: one response with a Content-Length', async () => {
    await timedGet('/stream/7'); // stores it
    const r = await timedGet('/stream/7');
    assert.ok(r.headers['content-length']);
    assert.strictEqual(r.headers['transfer-encoding'], undefined);
  });
});

describe('streaming over h2', () => {
  const c = h.client('h2c');
  after(() => c.close());
  it('an h2 client gets the whole streamed page', async () => {
    const r = await c.request({ edge, path: '/stream/8' });
    assert.strictEqual(r.status, 200);
    assert.match(r.body, /class="early"[\s\S]*<ul class="recs">[\s\S]*<footer>end<\/footer>/);
  });
});
