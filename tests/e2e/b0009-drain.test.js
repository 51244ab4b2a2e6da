// SPDX-License-Identifier: Apache-2.0
// SIGTERM drains, over HTTP/1.1, h2c and h2: requests in flight finish, idle
// connections are closed (HTTP/2 sessions get GOAWAY first, whose last stream id
// lets the in-flight stream complete, RFC 9113 6.8), new connections are refused,
// and the process exits 0; a request still running at timeouts.drain does not
// keep the process alive.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const h = require('./lib/harness');

let origin;
before(async () => { origin = await h.startOrigin(); });
after(async () => { await origin.stop(); });

// An idle connection of `proto`: resolves { closed, goaway } promises once it is
// established (for HTTP/2, once the server's SETTINGS arrived).
async function idleConnection(proto, edge) {
  if (proto === 'h1') {
    const s = net.connect(edge.port, '127.0.0.1');
    const closed = new Promise((r) => s.on('close', r));
    await new Promise((r) => s.on('connect', r));
    return { closed, goaway: null };
  }
  const c = h.client(proto);
  const s = c.session({ edge });
  s.on('error', () => {});
  const closed = new Promise((r) => s.on('close', r));
  const goaway = new Promise((r) => s.on('goaway', (code, lastStreamId) => r({ code, lastStreamId })));
  await new Promise((r) => s.once('remoteSettings', r));
  return { closed, goaway };
}

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('SIGTERM lets in-flight requests finish, then exits 0', async () => {
      const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
      const idle = await idleConnection(proto, edge);
      const before = await origin.stats();
      const x = c.open({ edge, path: '/api/product/9?delay=600', endStream: true });
      const session = proto === 'h1' ? null : c.session({ edge });
      const goaway = session && new Promise((r) => session.on('goaway', (code, lastStreamId) => r({ code, lastStreamId })));
      // The request is in flight once the origin has it.
      await h.waitFor(async () => (await origin.stats()) > before, 3000, 'request at the origin');
      edge.signal('SIGTERM');
      await idle.closed;
      if (idle.goaway) assert.strictEqual((await idle.goaway).code, 0, 'idle session: GOAWAY NO_ERROR');
      const res = await x.response;
      const chunks = [];
      for await (const d of res.stream) chunks.push(d);
      assert.strictEqual(res.status, 200);
      assert.strictEqual(JSON.parse(Buffer.concat(chunks).toString()).id, 9);
      if (proto === 'h1') {
        assert.strictEqual(res.headers.connection, 'close');
      } else {
        const g = await goaway;
        assert.strictEqual(g.code, 0, 'GOAWAY NO_ERROR');
        assert.ok(g.lastStreamId >= x.req.id, `GOAWAY last stream ${g.lastStreamId} covers stream ${x.req.id}`);
      }
      const { code } = await edge.child.exited;
      assert.strictEqual(code, 0);
      assert.doesNotMatch(edge.stderr(), /ERROR: AddressSanitizer|runtime error:/);
      await assert.rejects(c.request({ edge, path: '/api/nav' }));
    });

    it('the drain timeout bounds the wait', async () => {
      const edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
        extra: 'timeouts = { drain = "300ms" }' }).replace('timeout = "2s"', 'timeout = "10s"'));
      const before = await origin.stats();
      const slow = c.request({ edge, path: '/api/nav?delay=5000' }).catch((e) => e);
      await h.waitFor(async () => (await origin.stats()) > before, 3000, 'request at the origin');
      const t0 = Date.now();
      edge.signal('SIGTERM');
      const { code } = await edge.child.exited;
      const took = Date.now() - t0;
      assert.strictEqual(code, 0);
      assert.ok(took < 3000, `exited after ${took}ms`);
      const r = await slow;
      assert.ok(r instanceof Error || r.status >= 500, 'the cut request is not a success');
    });
  });
}
