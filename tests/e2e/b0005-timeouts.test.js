// SPDX-License-Identifier: Apache-2.0
// Client timeouts: a client that sends its head too slowly is answered 408 and
// closed at timeouts.header while other clients are served; an idle keep-alive
// connection is closed at timeouts.keepalive; a stalled body gets 408.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

let origin, edge;
test.before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
    extra: 'timeouts = { header = "400ms", keepalive = "600ms", body = "400ms" }' }));
});
test.after(async () => { await edge.stop(); await origin.stop(); });

test('a slow-header client is closed at the header timeout while others are served', async () => {
  const started = Date.now();
  let closedAt = 0;
  let got = '';
  const slow = net.connect(edge.port, '127.0.0.1');
  slow.on('data', (d) => { got += d.toString(); });
  const closed = new Promise((resolve) => slow.on('close', () => { closedAt = Date.now(); resolve(); }));
  slow.on('connect', () => slow.write('GET /api/nav HTTP/1.1\r\nHost: x\r\n'));
  // Keep trickling bytes: a deadline on the whole head must still fire.
  const trickle = setInterval(() => { if (!slow.destroyed) slow.write('X-A: b\r\n'); }, 100);
  const served = [];
  while (closedAt === 0 && Date.now() - started < 3000) {
    const r = await h.request({ port: edge.port, path: '/api/nav' });
    served.push(r.status);
  }
  await closed;
  clearInterval(trickle);
  assert.ok(served.length > 0 && served.every((s) => s === 200), 'other clients were served');
  assert.match(got, /^HTTP\/1\.1 408 /);
  const took = closedAt - started;
  assert.ok(took >= 350 && took < 2500, `closed after ${took}ms`);
});

test('an idle keep-alive connection is closed at the keep-alive timeout', async () => {
  const s = net.connect(edge.port, '127.0.0.1');
  const t0 = Date.now();
  await new Promise((resolve) => s.on('close', resolve));
  const took = Date.now() - t0;
  assert.ok(took >= 500 && took < 2500, `closed after ${took}ms`);
});

test('a request body that stops arriving gets 408 and a close', async () => {
  const res = await h.raw(edge.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part', { ms: 3000 });
  assert.ok(res.closed);
  assert.match(res.text, /^HTTP\/1\.1 408 /);
});
