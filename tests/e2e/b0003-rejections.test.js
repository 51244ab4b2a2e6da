// SPDX-License-Identifier: Apache-2.0
// Every request the HTTP/1.1 parser must refuse, over a real socket: the status,
// and that the connection is closed (the framing cannot be trusted; RFC 9112
// 11.2). Also the limit statuses 431, 414 and 413, and that nothing refused
// reaches the origin; the limits are also checked over h2c and h2.
'use strict';
const { describe, it, before, after } = require('node:test');
const test = it;
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
    extra: 'limits = { header_size = "4KB", uri_size = "1KB", headers = 20, body_size = "1KB" }' }));
});
after(async () => { await edge.stop(); await origin.stop(); });

const cases = [
  ['Content-Length with Transfer-Encoding', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['repeated Content-Length', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab', 400],
  ['Content-Length list', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na', 400],
  ['invalid Content-Length', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\na', 400],
  ['negative Content-Length', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
  ['invalid chunk size', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n', 400],
  ['chunk size with 0x prefix', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n', 400],
  ['chunk data longer than its size', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 400],
  ['unknown transfer coding', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', [400, 501]],
  ['obs-fold', 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n', 400],
  ['space before the colon', 'GET /echo HTTP/1.1\r\nHost : x\r\n\r\n', 400],
  ['bare CR in a field value', 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 400],
  ['control character in a field value', 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400],
  ['NUL in a field value', 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 400],
  ['invalid method', 'G(T /echo HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['lower-case protocol name', 'GET /echo http/1.1\r\nHost: x\r\n\r\n', 400],
  ['invalid version', 'GET /echo HTTP/1.1x\r\nHost: x\r\n\r\n', 400],
  ['HTTP/2.0 on an HTTP/1 line', 'GET /echo HTTP/2.0\r\nHost: x\r\n\r\n', 505],
  ['missing Host in HTTP/1.1', 'GET /echo HTTP/1.1\r\n\r\n', 400],
  ['two Host fields', 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['space in the request-target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['header block too large', `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431],
  ['too many header fields', `GET /echo HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 25 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`, 431],
  ['URI too long', `GET /${'u'.repeat(2000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ['body over limits.body_size', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'b'.repeat(5000)}`, 413],
  ['chunked body over limits.body_size', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'b'.repeat(2048)}\r\n0\r\n\r\n`, 413],
];

for (const [name, data, want] of cases) {
  test(`${name} is refused and the connection closed`, async () => {
    const res = await h.raw(edge.port, data);
    assert.ok(res.closed, 'the server closed the connection');
    const m = res.text.match(/^HTTP\/1\.1 (\d{3}) /);
    assert.ok(m, `a status line: ${JSON.stringify(res.text.slice(0, 80))}`);
    const got = Number(m[1]);
    if (Array.isArray(want)) assert.ok(want.includes(got), `status ${got}`);
    else assert.strictEqual(got, want);
    assert.match(res.text, /\r\nConnection: close\r\n/i);
  });
}

test('a refused request never reaches the origin', async () => {
  const s0 = await origin.stats();
  const before = await origin.stats();
  const idle = before - s0; // what asking for the stats itself adds
  await h.raw(edge.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  await h.raw(edge.port, 'GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n');
  const after = await origin.stats();
  assert.strictEqual(after - before, idle, 'no refused request reached the origin');
});

test('a request smuggled after a refused one is not served', async () => {
  const res = await h.raw(edge.port,
    'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/nav HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.strictEqual(h.parseResponses(res.text).length, 1);
});

// The same limits through each protocol's client. Over HTTP/2 a refused request
// only costs its stream: the next request on the session is served.
for (const proto of h.PROTOCOLS) {
  const h2 = proto !== 'h1';
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    async function refused(opts, want) {
      const before = await origin.stats();
      const r = await c.request({ edge, ...opts });
      assert.strictEqual(r.status, want);
      assert.strictEqual(await origin.stats(), before, 'the refused request did not reach the origin');
      const next = await c.request({ edge, path: '/api/nav' });
      assert.strictEqual(next.status, 200, 'the client is still served');
    }

    it('a header block over limits.header_size gets 431', async () => {
      await refused({ path: '/echo', headers: { 'X-Big': 'a'.repeat(5000) } }, 431);
    });

    it('more header fields than limits.headers gets 431', async () => {
      const headers = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`X-${i}`, 'v']));
      await refused({ path: '/echo', headers }, 431);
    });

    it('a request-target over limits.uri_size gets 414', async () => {
      await refused({ path: `/${'u'.repeat(2000)}` }, 414);
    });

    it('a Content-Length over limits.body_size gets 413', async () => {
      await refused({ path: '/echo', method: 'POST', body: 'b'.repeat(5000) }, 413);
    });

    it('a body without a length that grows over limits.body_size gets 413', async () => {
      const x = c.open({ edge, path: '/echo', method: 'POST' });
      x.req.on('error', () => {}); // the server may stop the upload
      x.req.write('b'.repeat(3000));
      x.req.end('b'.repeat(3000));
      const res = await x.response;
      res.stream.resume();
      assert.strictEqual(res.status, 413);
    });
  });
}
