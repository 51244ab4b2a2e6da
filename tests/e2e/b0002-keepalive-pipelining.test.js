// SPDX-License-Identifier: Apache-2.0
// Persistent connections and pipelining (RFC 9112 9.3, 9.3.2): several requests
// on one connection, pipelined requests answered in order, Connection: close
// honoured (all HTTP/1.1 only), and origin connections reused from the pool
// whatever the client protocol.
'use strict';
const { describe, it: test, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1 }));
});
after(async () => { await edge.stop(); await origin.stop(); });

test('pipelined requests are answered in order on one connection', async () => {
  const ids = [5, 3, 9, 1];
  const reqs = ids.map((id, i) => `GET /api/product/${id}?delay=${(ids.length - i) * 20} HTTP/1.1\r\nHost: x\r\n` +
    (i === ids.length - 1 ? 'Connection: close\r\n' : '') + '\r\n').join('');
  const res = await h.raw(edge.port, reqs);
  const rs = h.parseResponses(res.text);
  assert.deepStrictEqual(rs.map((r) => r.status), [200, 200, 200, 200]);
  assert.deepStrictEqual(rs.map((r) => JSON.parse(r.body).id), ids);
  assert.strictEqual(rs[3].headers.connection, 'close');
  assert.ok(res.closed, 'closed after Connection: close');
});

test('requests sent one after another reuse the client connection', async () => {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Set();
  for (let i = 1; i <= 5; i++) {
    const r = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: edge.port, path: `/api/price/${i}`, agent }, (res) => {
        ports.add(res.socket.localPort);
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
    });
    assert.strictEqual(r.status, 200);
    assert.strictEqual(JSON.parse(r.body).id, i);
  }
  agent.destroy();
  assert.strictEqual(ports.size, 1, 'one client connection for all five');
});

test('an HTTP/1.0 request without keep-alive is closed after its response', async () => {
  const res = await h.raw(edge.port, 'GET /api/nav HTTP/1.0\r\n\r\n');
  assert.ok(res.closed);
  assert.match(res.text, /^HTTP\/1\.1 200/);
});

test('HTTP/1.0 with Connection: keep-alive stays open for the next request', async () => {
  const res = await h.raw(edge.port, 'GET /api/product/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
    'GET /api/product/2 HTTP/1.0\r\n\r\n');
  const rs = h.parseResponses(res.text);
  assert.deepStrictEqual(rs.map((r) => JSON.parse(r.body).id), [1, 2]);
  assert.ok(res.closed);
});

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    test('the origin connection is reused (keep-alive pool)', async () => {
      const peers = new Set();
      for (let i = 0; i < 5; i++) {
        const r = await c.request({ edge, path: '/echo' });
        assert.strictEqual(r.status, 200);
        peers.add(r.headers['x-echo-peer']);
      }
      assert.ok(!peers.has(undefined), 'the origin names the peer');
      assert.strictEqual(peers.size, 1, `one origin connection for five requests: ${[...peers]}`);
    });
  });
}
