// SPDX-License-Identifier: Apache-2.0
// Compression with composition (composition issue, item 5): fragments that
// arrive gzip- or br-encoded are decoded before use; the composed page is stored
// and served as br, gzip or identity by the client's Accept-Encoding (RFC 9110
// 12.5.3, 8.4.1), one cache entry per coding, with Vary: Accept-Encoding.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const zlib = require('node:zlib');
const h = require('./lib/harness');

const TEMPLATES = {
  'pages/z.html.mustache': '<h1>{{doc.title}}</h1>{{#doc.items}}<li>{{.}}</li>{{/doc.items}}\n',
};
const DOC = { title: 'Compressed <fragment>', items: Array.from({ length: 200 }, (_, i) => `item ${i}`) };

// An origin whose fragments come compressed (and one that lies about it).
let coded;
function startCodedOrigin() {
  const json = Buffer.from(JSON.stringify(DOC));
  const bodies = {
    '/gz': { enc: 'gzip', body: zlib.gzipSync(json) },
    '/br': { enc: 'br', body: zlib.brotliCompressSync(json) },
    '/bad': { enc: 'gzip', body: Buffer.from('not gzip at all') },
    '/bomb': { enc: 'gzip', body: zlib.gzipSync(Buffer.alloc(64 << 20, 0x20)) },
  };
  const server = http.createServer((req, res) => {
    const b = bodies[new URL(req.url, 'http://x').pathname];
    if (!b) { res.writeHead(404, { 'content-length': 0 }); res.end(); return; }
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': b.enc,
                         'cache-control': 'max-age=60', 'content-length': b.body.length });
    res.end(b.body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ port: server.address().port, stop: () => new Promise((r) => server.close(r)) })));
}

let edge;
before(async () => {
  coded = await startCodedOrigin();
  const frag = (p, required = true) => ({ origin: 'z', path: p, timeout: '2s', required });
  edge = await h.startTessera(h.pageConfig({
    origins: { z: [`127.0.0.1:${coded.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [
      { path: '/gz/:n', template: 'pages/z', cache: { ttl: '60s' }, fragments: { doc: frag('/gz') } },
      { path: '/br/:n', template: 'pages/z', cache: { ttl: '60s' }, fragments: { doc: frag('/br') } },
      { path: '/bad/:n', template: 'pages/z', cache: { ttl: '60s' }, fragments: { doc: frag('/bad') } },
      { path: '/bomb/:n', template: 'pages/z', cache: { ttl: '60s' }, fragments: { doc: frag('/bomb') } },
    ],
  }));
});
after(async () => {
  if (edge) await edge.stop();
  if (coded) await coded.stop();
});

function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: edge.port, path, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, raw: Buffer.concat(parts) }));
    }).on('error', reject);
  });
}

const expected = `<h1>Compressed &lt;fragment&gt;</h1>${DOC.items.map((i) => `<li>${i}</li>`).join('')}\n`;

describe('compressed fragments are decoded before use', () => {
  for (const coding of ['gz', 'br']) {
    it(`a ${coding === 'gz' ? 'gzip' : 'br'} fragment renders as its data (RFC 9110 8.4.1)`, async () => {
      const r = await get(`/${coding}/1`);
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.headers['content-encoding'], undefined);
      assert.strictEqual(r.raw.toString(), expected);
    });
  }
  it('a fragment whose body is not what its Content-Encoding says fails (a required one: 502)', async () => {
    const r = await get('/bad/1');
    assert.strictEqual(r.status, 502);
  });
  it('a decompression bomb is refused at the cap, not expanded', async () => {
    const r = await get('/bomb/1');
    assert.strictEqual(r.status, 502);
  });
});

describe('pages are stored and served in the client\'s coding (RFC 9110 12.5.3)', () => {
  it('br when accepted, decoding to the identity page; then a hit in br', async () => {
    const r = await get('/gz/2', { 'accept-encoding': 'gzip, deflate, br' });
    assert.strictEqual(r.headers['content-encoding'], 'br');
    assert.match(r.headers.vary, /Accept-Encoding/);
    assert.strictEqual(zlib.brotliDecompressSync(r.raw).toString(), expected);
    assert.ok(r.raw.length < Buffer.byteLength(expected) / 2, `br ${r.raw.length} bytes`);
    const hit = await get('/gz/2', { 'accept-encoding': 'br' });
    assert.match(hit.headers['cache-status'], /^tessera; hit/);
    assert.strictEqual(hit.headers['content-encoding'], 'br');
    assert.strictEqual(zlib.brotliDecompressSync(hit.raw).toString(), expected);
  });
  it('gzip when br is not accepted', async () => {
    const r = await get('/gz/3', { 'accept-encoding': 'gzip;q=0.8, br;q=0' });
    assert.strictEqual(r.headers['content-encoding'], 'gzip');
    assert.strictEqual(zlib.gunzipSync(r.raw).toString(), expected);
  });
  it('identity without Accept-Encoding, and each coding is its own cache entry', async () => {
    await get('/gz/4', { 'accept-encoding': 'br' }); // stores the br page
    const r = await get('/gz/4');
    assert.strictEqual(r.headers['content-encoding'], undefined);
    assert.match(r.headers['cache-status'], /fwd=miss/);
    assert.strictEqual(r.raw.toString(), expected);
    const again = await get('/gz/4', { 'accept-encoding': 'identity' });
    assert.match(again.headers['cache-status'], /^tessera; hit/);
    assert.strictEqual(again.raw.toString(), expected);
  });
});
