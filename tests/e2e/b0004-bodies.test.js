// SPDX-License-Identifier: Apache-2.0
// Request bodies, over HTTP/1.1, h2c and h2: Content-Length bodies and bodies
// streamed without a length (chunked in HTTP/1.1, DATA frames in HTTP/2) reach
// the origin intact, and a response without a length is relayed whole. HTTP/1.1
// only: chunks split across writes with extensions and trailers, and
// Expect: 100-continue (RFC 9110 10.1.1) getting its interim response before the
// body is sent.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
});
after(async () => { await edge.stop(); await origin.stop(); });

async function readAll(stream) {
  const chunks = [];
  for await (const d of stream) chunks.push(d);
  return Buffer.concat(chunks).toString();
}

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('a Content-Length body is forwarded', async () => {
      const r = await c.request({ edge, path: '/echo', method: 'POST', body: 'hello=world',
                                  headers: { 'Content-Type': 'text/plain' } });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.body, 'hello=world');
      assert.strictEqual(r.headers['x-echo-method'], 'POST');
      assert.strictEqual(r.headers['x-echo-length'], '11');
      assert.strictEqual(JSON.parse(r.headers['x-echo-headers'])['content-length'], '11');
    });

    it('a body streamed without a length is forwarded whole', async () => {
      const x = c.open({ edge, path: '/echo', method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      // Each piece leaves on its own turn of the loop: separate chunks / DATA frames.
      for (const piece of ['hel', 'lo', ' wor', 'ld']) {
        x.req.write(piece);
        await new Promise((r) => setImmediate(r));
      }
      x.req.end();
      const res = await x.response;
      const body = await readAll(res.stream);
      assert.strictEqual(res.status, 200);
      assert.strictEqual(body, 'hello world');
      assert.strictEqual(res.headers['x-echo-method'], 'PUT');
      assert.strictEqual(res.headers['x-echo-length'], '11');
    });

    it('an empty POST is forwarded with no body', async () => {
      const r = await c.request({ edge, path: '/echo', method: 'POST', body: '' });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.headers['x-echo-length'], '0');
      assert.strictEqual(r.body, '');
    });

    it('a response without length is relayed whole', async () => {
      const r = await c.request({ edge, path: '/bench/size/100000' });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.body.length, 100000);
      assert.strictEqual(r.body.slice(0, 3), 'abc');
      assert.strictEqual(r.headers['content-length'], undefined);
      // HTTP/1.1 re-chunks it; HTTP/2 frames it with DATA and END_STREAM.
      if (proto === 'h1') assert.strictEqual(r.headers['transfer-encoding'], 'chunked');
    });
  });
}

describe('h1 only', () => {
  it('a chunked body split across writes is forwarded whole', async () => {
    const parts = ['POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      '5\r\nhel', 'lo\r\n', '6;ext=1\r\n wor', 'ld\r\n0\r\n', 'X-Trailer: t\r\n\r\n'];
    const res = await new Promise((resolve) => {
      const s = net.connect(edge.port, '127.0.0.1');
      let out = '';
      let i = 0;
      const next = () => { if (i < parts.length) { s.write(parts[i++]); setImmediate(next); } };
      s.on('connect', next);
      s.on('data', (d) => { out += d.toString('latin1'); });
      s.on('close', () => resolve(out));
    });
    const [r] = h.parseResponses(res);
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.body, 'hello world');
  });

  it('Expect: 100-continue gets 100 before the body is sent', async () => {
    const res = await new Promise((resolve) => {
      const s = net.connect(edge.port, '127.0.0.1');
      let out = '';
      let sent = false;
      s.on('connect', () => s.write('PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n'));
      s.on('data', (d) => {
        out += d.toString('latin1');
        if (!sent && out.startsWith('HTTP/1.1 100 ')) { sent = true; s.write('body'); }
      });
      s.on('close', () => resolve(out));
    });
    const rs = h.parseResponses(res);
    assert.strictEqual(rs[0].status, 100);
    assert.strictEqual(rs[1].status, 200);
    assert.strictEqual(rs[1].body, 'body');
  });
});
