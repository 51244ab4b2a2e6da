// SPDX-License-Identifier: Apache-2.0
// Request bodies: Content-Length and chunked bodies reach the origin intact,
// including chunks split across writes and chunk extensions; Expect: 100-continue
// gets its interim response (RFC 9110 10.1.1) before the body is sent.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

let origin, edge;
test.before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
});
test.after(async () => { await edge.stop(); await origin.stop(); });

test('a Content-Length body is forwarded', async () => {
  const r = await h.request({ port: edge.port, path: '/echo', method: 'POST', body: 'hello=world',
                              headers: { 'Content-Type': 'text/plain' } });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.body, 'hello=world');
  assert.strictEqual(r.headers['x-echo-method'], 'POST');
  assert.strictEqual(r.headers['x-echo-length'], '11');
});

test('a chunked body split across writes is forwarded whole', async () => {
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

test('Expect: 100-continue gets 100 before the body is sent', async () => {
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

test('a response without length is re-chunked for an HTTP/1.1 client', async () => {
  const r = await h.request({ port: edge.port, path: '/bench/size/100000' });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.body.length, 100000);
  assert.strictEqual(r.body.slice(0, 3), 'abc');
});
