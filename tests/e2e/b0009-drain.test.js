// SPDX-License-Identifier: Apache-2.0
// SIGTERM drains: requests in flight finish, new connections are refused, idle
// keep-alive connections are closed, and the process exits 0; a request still
// running at timeouts.drain does not keep the process alive.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

let origin;
test.before(async () => { origin = await h.startOrigin(); });
test.after(async () => { await origin.stop(); });

test('SIGTERM lets in-flight requests finish, then exits 0', async () => {
  const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
  const idle = net.connect(edge.port, '127.0.0.1');
  const idleClosed = new Promise((r) => idle.on('close', r));
  await new Promise((r) => idle.on('connect', r));
  const inflight = h.request({ port: edge.port, path: '/api/product/9?delay=600' });
  // The request is in flight once the origin has it.
  await h.waitFor(async () => (await origin.stats()) > 0, 3000, 'request at the origin');
  edge.signal('SIGTERM');
  await idleClosed;
  const r = await inflight;
  assert.strictEqual(r.status, 200);
  assert.strictEqual(JSON.parse(r.body).id, 9);
  assert.strictEqual(r.headers.connection, 'close');
  const { code } = await edge.child.exited;
  assert.strictEqual(code, 0);
  assert.doesNotMatch(edge.stderr(), /ERROR: AddressSanitizer|runtime error:/);
  await assert.rejects(h.request({ port: edge.port, path: '/api/nav' }));
});

test('the drain timeout bounds the wait', async () => {
  const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
    extra: 'timeouts = { drain = "300ms" }' }).replace('timeout = "2s"', 'timeout = "10s"'));
  const slow = h.request({ port: edge.port, path: '/api/nav?delay=5000' }).catch((e) => e);
  await h.waitFor(() => true, 100);
  const t0 = Date.now();
  edge.signal('SIGTERM');
  const { code } = await edge.child.exited;
  const took = Date.now() - t0;
  assert.strictEqual(code, 0);
  assert.ok(took < 3000, `exited after ${took}ms`);
  await slow;
});
