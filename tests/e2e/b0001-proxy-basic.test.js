// SPDX-License-Identifier: Apache-2.0
// Basic reverse proxying: the origin's JSON comes back through tessera, the
// origin sees X-Forwarded-For/-Proto and Via, hop-by-hop fields are removed in
// both directions (RFC 9110 7.6.1), and locally made responses carry Date/Server.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

let origin, edge;
test.before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api' }, { path: '/echo', origin: 'api' },
             { path: '/status/:code', origin: 'api' }] }));
});
test.after(async () => { await edge.stop(); await origin.stop(); });

test('GET /api/product/1 returns the origin JSON', async () => {
  const direct = await h.request({ port: origin.port, path: '/api/product/1' });
  const r = await h.request({ port: edge.port, path: '/api/product/1' });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.body, direct.body);
  assert.strictEqual(JSON.parse(r.body).id, 1);
  assert.match(r.headers['content-type'], /application\/json/);
  assert.match(r.headers.via, /1\.1 tessera/);
  assert.ok(r.headers.date);
});

test('origin status codes pass through', async () => {
  const r = await h.request({ port: edge.port, path: '/status/418' });
  assert.strictEqual(r.status, 418);
});

test('the origin sees forwarding fields and no hop-by-hop fields', async () => {
  const r = await h.request({ port: edge.port, path: '/echo?x=1', headers: {
    'X-Forwarded-For': '203.0.113.9', Connection: 'close, X-Secret', 'X-Secret': 'drop me',
    'Keep-Alive': 'timeout=5', 'X-Keep': 'kept', TE: 'trailers', Via: '1.0 client-proxy' } });
  assert.strictEqual(r.status, 200);
  const seen = JSON.parse(r.headers['x-echo-headers']);
  assert.strictEqual(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.strictEqual(seen['x-forwarded-proto'], 'http');
  assert.strictEqual(seen.via, '1.0 client-proxy, 1.1 tessera');
  assert.strictEqual(seen['x-keep'], 'kept');
  assert.strictEqual(seen['x-secret'], undefined, 'field named in Connection is removed');
  assert.strictEqual(seen['keep-alive'], undefined);
  assert.strictEqual(seen.te, undefined);
  assert.strictEqual(r.headers['x-echo-path'], '/echo?x=1');
});

test('no route gives a local 404 with Date and Server', async () => {
  const r = await h.request({ port: edge.port, path: '/nothing-here' });
  assert.strictEqual(r.status, 404);
  assert.strictEqual(r.headers.server, 'tessera');
  assert.ok(!Number.isNaN(Date.parse(r.headers.date)));
});

test('HEAD is forwarded and has no body', async () => {
  const res = await h.raw(edge.port, 'HEAD /api/product/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [r] = h.parseResponses(res.text.replace(/\r\n\r\n[\s\S]*$/, '\r\n\r\n'));
  assert.strictEqual(r.status, 200);
  assert.ok(Number(r.headers['content-length']) > 0, 'HEAD keeps the origin Content-Length');
  assert.ok(res.text.endsWith('\r\n\r\n'), 'nothing after the head');
});

test('absolute-form request-target is forwarded in origin-form', async () => {
  const res = await h.raw(edge.port, 'GET http://example.test/echo?a=b HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
  const [r] = h.parseResponses(res.text);
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.headers['x-echo-path'], '/echo?a=b');
});

test('an HTTP/1.0 client gets a response it can read to close', async () => {
  const res = await h.raw(edge.port, 'GET /api/nav HTTP/1.0\r\n\r\n');
  assert.ok(res.closed);
  assert.match(res.text, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(res.text, /Transfer-Encoding: chunked/i);
});

test('absolute-form: the target authority replaces Host (RFC 9112 3.2.2)', async () => {
  const res = await h.raw(edge.port, 'GET http://right.test/echo HTTP/1.1\r\nHost: wrong.test\r\nConnection: close\r\n\r\n');
  const [r] = h.parseResponses(res.text);
  assert.strictEqual(JSON.parse(r.headers['x-echo-headers']).host, 'right.test');
});

test('absolute-form with userinfo is refused (RFC 9110 4.2.4)', async () => {
  const res = await h.raw(edge.port, 'GET http://user@h.test/echo HTTP/1.1\r\nHost: h.test\r\n\r\n');
  assert.match(res.text, /^HTTP\/1\.1 400 /);
});

test('OPTIONS * is answered by tessera with Allow', async () => {
  const res = await h.raw(edge.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [r] = h.parseResponses(res.text);
  assert.strictEqual(r.status, 200);
  assert.match(r.headers.allow, /GET/);
  assert.strictEqual(r.headers['content-length'], '0');
});

test('OPTIONS with Max-Forwards: 0 is answered here, otherwise forwarded minus one (RFC 9110 7.6.2)', async () => {
  const before = await origin.stats();
  const r0 = await h.request({ port: edge.port, path: '/echo', method: 'OPTIONS', headers: { 'Max-Forwards': '0' } });
  assert.strictEqual(r0.status, 200);
  assert.strictEqual(r0.headers['x-echo-method'], undefined, 'not from the origin');
  assert.strictEqual(await origin.stats(), before);
  const r5 = await h.request({ port: edge.port, path: '/echo', method: 'OPTIONS', headers: { 'Max-Forwards': '5' } });
  assert.strictEqual(JSON.parse(r5.headers['x-echo-headers'])['max-forwards'], '4');
});

test('TRACE is refused with 405 and Allow', async () => {
  const r = await h.request({ port: edge.port, path: '/echo', method: 'TRACE' });
  assert.strictEqual(r.status, 405);
  assert.ok(r.headers.allow);
});

test('CONNECT is refused with 405', async () => {
  const res = await h.raw(edge.port, 'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
  assert.match(res.text, /^HTTP\/1\.1 405 /);
});
