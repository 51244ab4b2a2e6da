// SPDX-License-Identifier: Apache-2.0
// HTTP/2 basics: ALPN chooses h2 or http/1.1 on the TLS listener (RFC 7301); the
// plain listener takes h2c with prior knowledge (RFC 9113 3.3) next to HTTP/1.1;
// the SETTINGS tessera advertises; many concurrent streams on one connection and
// streams over MAX_CONCURRENT_STREAMS refused; request bodies and flow control
// both ways (RFC 9113 5.2); malformed requests with connection-specific fields
// are not forwarded (8.2.2); PRIORITY is accepted harmlessly; GOAWAY on drain
// lets streams up to its last stream id finish (6.8); an idle session is closed
// at timeouts.keepalive.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const http2 = require('node:http2');
const tls = require('node:tls');
const h = require('./lib/harness');
const f = require('./lib/h2frames');

const HEADER_SIZE = 24 * 1024; // distinctive, to find it in SETTINGS

let origin, edge;
before(async () => {
  origin = await h.startOrigin(['-w', '2']);
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
    extra: 'limits = { header_size = "24KB", body_size = "64MB" }' }));
});
after(async () => { await edge.stop(); await origin.stop(); });

async function readBuffer(stream) {
  const chunks = [];
  for await (const d of stream) chunks.push(d);
  return Buffer.concat(chunks);
}

// A TLS connection to the TLS listener offering `alpn` (or nothing).
function tlsConnect(alpn) {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port: edge.tlsPort, ca: h.tlsCert().ca };
    if (alpn) opts.ALPNProtocols = alpn;
    const s = tls.connect(opts, () => resolve(s));
    s.on('error', reject);
  });
}

// Sends a raw HTTP/1.1 request on a connected socket and collects until close.
function h1Over(sock, text) {
  return new Promise((resolve) => {
    let out = '';
    sock.on('data', (d) => { out += d.toString('latin1'); });
    sock.on('close', () => resolve(out));
    sock.write(text);
  });
}

describe('protocol selection', () => {
  it('ALPN picks h2 when the client offers h2 and http/1.1', async () => {
    const s = await tlsConnect(['h2', 'http/1.1']);
    assert.strictEqual(s.alpnProtocol, 'h2');
    s.destroy();
  });

  it('ALPN picks http/1.1 when only that is offered, and HTTP/1.1 is served', async () => {
    const s = await tlsConnect(['http/1.1']);
    assert.strictEqual(s.alpnProtocol, 'http/1.1');
    const out = await h1Over(s, 'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(out);
    assert.strictEqual(r.status, 200);
    assert.strictEqual(JSON.parse(r.headers['x-echo-headers']).via, '1.1 tessera');
  });

  it('a TLS client without ALPN is served HTTP/1.1', async () => {
    const s = await tlsConnect(null);
    assert.ok(!s.alpnProtocol, `no protocol negotiated: ${s.alpnProtocol}`);
    const out = await h1Over(s, 'GET /api/product/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(out);
    assert.strictEqual(r.status, 200);
    assert.strictEqual(JSON.parse(r.body).id, 4);
  });

  it('the plain listener serves h2c with prior knowledge and HTTP/1.1 side by side', async () => {
    const c = h.client('h2c');
    try {
      const r2 = await c.request({ edge, path: '/echo' });
      assert.strictEqual(r2.status, 200);
      assert.strictEqual(JSON.parse(r2.headers['x-echo-headers']).via, '2 tessera');
      const r1 = await h.request({ port: edge.port, path: '/echo' });
      assert.strictEqual(r1.status, 200);
      assert.strictEqual(JSON.parse(r1.headers['x-echo-headers']).via, '1.1 tessera');
    } finally { await c.close(); }
  });

  it('the h2c preface is recognised when it arrives a few bytes at a time', async () => {
    const c = await f.RawH2.connect(edge.port, { preface: false });
    try {
      const parts = [f.PREFACE.subarray(0, 3), f.PREFACE.subarray(3, 14), f.PREFACE.subarray(14),
        f.settings([[f.SETTING.HEADER_TABLE_SIZE, 0]]), f.headers(1, f.requestBlock({ path: '/api/nav' }))];
      for (const p of parts) {
        c.write(p);
        await new Promise((r) => setImmediate(r));
      }
      await c.waitFrame((x) => x.type === f.TYPE.SETTINGS && !(x.flags & f.FLAG.ACK), 3000, 'SETTINGS');
      c.write(f.settings([], { ack: true }));
      await c.waitEnd(1);
      assert.strictEqual(c.status(1), 200);
      assert.ok(c.body(1).bytes > 0);
    } finally { c.destroy(); }
  });
});

describe('SETTINGS', () => {
  for (const proto of ['h2c', 'h2']) {
    it(`tessera advertises its limits (${proto})`, async () => {
      const c = h.client(proto);
      try {
        const s = c.session({ edge });
        const st = await new Promise((resolve) => s.once('remoteSettings', resolve));
        assert.strictEqual(st.maxConcurrentStreams, 100);
        assert.strictEqual(st.enablePush, false);
        assert.strictEqual(st.maxHeaderListSize, HEADER_SIZE, 'SETTINGS_MAX_HEADER_LIST_SIZE is limits.header_size');
      } finally { await c.close(); }
    });
  }
});

for (const proto of ['h2c', 'h2']) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('200 concurrent requests on one connection are all answered correctly', async () => {
      const s = c.session({ edge });
      const ids = Array.from({ length: 200 }, (_, i) => i + 1);
      const rs = await Promise.all(ids.map((id) => c.request({ edge, path: `/api/product/${id}?delay=20` })));
      assert.deepStrictEqual(rs.map((r) => r.status), ids.map(() => 200));
      assert.deepStrictEqual(rs.map((r) => JSON.parse(r.body).id), ids);
      assert.strictEqual(c.session({ edge }), s, 'one session for all of them');
    });

    it('a request body arrives whole', async () => {
      const body = crypto.randomBytes(3 * 1024 * 1024 + 17); // over the stream and connection windows
      const x = c.open({ edge, path: '/echo', method: 'POST', headers: { 'content-type': 'application/octet-stream' } });
      for (let at = 0; at < body.length; at += 64 * 1024) {
        if (!x.req.write(body.subarray(at, at + 64 * 1024))) await new Promise((r) => x.req.once('drain', r));
      }
      x.req.end();
      const res = await x.response;
      const got = await readBuffer(res.stream);
      assert.strictEqual(res.status, 200);
      assert.strictEqual(res.headers['x-echo-length'], String(body.length));
      assert.ok(got.equals(body), 'the echoed body is the body sent');
    });

    it('a 20 MB response to a client that reads slowly completes (flow control)', async () => {
      const SIZE = 20 * 1024 * 1024;
      const x = c.open({ edge, path: `/bench/size/${SIZE}?cl=1`, endStream: true });
      const res = await x.response;
      assert.strictEqual(res.status, 200);
      let received = 0;
      let ok = true;
      let pauses = 0;
      await new Promise((resolve, reject) => {
        res.stream.on('data', (d) => {
          for (let i = 0; i < d.length; i += 4096) {
            if (d[i] !== 97 + ((received + i) % 26)) ok = false;
          }
          received += d.length;
          // Stop reading for a while every 2 MB: the windows close and reopen.
          if (received % (2 * 1024 * 1024) < d.length) {
            pauses++;
            res.stream.pause();
            setTimeout(() => res.stream.resume(), 40);
          }
        });
        res.stream.on('end', resolve);
        res.stream.on('error', reject);
      });
      assert.strictEqual(received, SIZE);
      assert.ok(ok, 'body bytes are the origin pattern');
      assert.ok(pauses >= 9, `paused ${pauses} times`);
    });

    it('PRIORITY is accepted harmlessly', async () => {
      const x = c.open({ edge, path: '/api/product/11?delay=50', endStream: true });
      // Node sends a PRIORITY frame for the open stream.
      x.req.priority({ exclusive: true, parent: 0, weight: 200, silent: false });
      const res = await x.response;
      const body = await readBuffer(res.stream);
      assert.strictEqual(res.status, 200);
      assert.strictEqual(JSON.parse(body.toString()).id, 11);
      const again = await c.request({ edge, path: '/api/nav' });
      assert.strictEqual(again.status, 200, 'the session is still fine');
    });
  });
}

describe('raw frames', () => {
  it('streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused, the others served', async () => {
    // Before the client acknowledges the server's SETTINGS, the limit is
    // "pending": nghttp2 refuses the excess streams (RFC 9113 5.1.2).
    const c = await f.RawH2.connect(edge.port, { ack: false });
    try {
      await c.waitFrame((x) => x.type === f.TYPE.SETTINGS && !(x.flags & f.FLAG.ACK), 3000, 'SETTINGS');
      const before = await origin.stats();
      const ids = Array.from({ length: 120 }, (_, i) => 2 * i + 1);
      c.write(f.windowUpdate(0, 1 << 20)); // 100 responses exceed the initial 64 KB connection window
      c.write(ids.map((id) => f.headers(id, f.requestBlock({ path: `/api/nav?delay=300&s=${id}` }))));
      for (const id of ids) await c.waitEnd(id, 5000);
      assert.ok(!c.isClosed, 'the connection stays open');
      const served = ids.filter((id) => c.status(id) === 200 && c.body(id).ended);
      const refused = ids.filter((id) => c.rst(id) === f.ERROR.REFUSED_STREAM);
      assert.deepStrictEqual(served, ids.slice(0, 100), 'the first 100 streams are served');
      assert.deepStrictEqual(refused, ids.slice(100), 'the streams beyond 100 are refused');
      assert.strictEqual(await origin.stats(), before + 100, 'refused streams never reach the origin');
    } finally { c.destroy(); }
  });

  it('a client exceeding the acknowledged stream limit gets no more than 100 streams', async () => {
    // Once the limit is acknowledged, nghttp2 treats a 101st stream as a
    // connection error (GOAWAY PROTOCOL_ERROR); refusing the stream would do too.
    const c = await f.RawH2.connect(edge.port);
    try {
      await c.waitFrame((x) => x.type === f.TYPE.SETTINGS && !(x.flags & f.FLAG.ACK), 3000, 'SETTINGS');
      c.write(f.ping(Buffer.from('settings'))); // its ACK follows the server's processing of our ACK
      await c.waitFrame((x) => x.type === f.TYPE.PING && (x.flags & f.FLAG.ACK), 3000, 'PING ACK');
      const before = await origin.stats();
      const ids = Array.from({ length: 120 }, (_, i) => 2 * i + 1);
      c.write(ids.map((id) => f.headers(id, f.requestBlock({ path: `/api/nav?delay=300&s=${id}` }))));
      await h.waitFor(() => c.isClosed || ids.every((id) => c.body(id).ended || c.rst(id) !== undefined),
        5000, 'every stream settled or the connection closed');
      if (c.isClosed) {
        assert.strictEqual(c.goaway().code, f.ERROR.PROTOCOL_ERROR, 'GOAWAY before the close');
      } else {
        assert.ok(ids.slice(100).every((id) => c.rst(id) !== undefined), 'the excess streams are reset');
      }
      assert.ok((await origin.stats()) - before <= 100, 'at most 100 requests reached the origin');
      const r = await h.request({ port: edge.port, path: '/api/nav' });
      assert.strictEqual(r.status, 200, 'others are still served');
    } finally { c.destroy(); }
  });

  it('flow control: no more DATA than the client\'s windows allow, then the rest as they open', async () => {
    const SIZE = 1000000;
    const WINDOW = 65535; // the initial stream and connection windows
    const c = await f.RawH2.connect(edge.port);
    try {
      c.write(f.headers(1, f.requestBlock({ path: `/bench/size/${SIZE}?cl=1` })));
      await h.waitFor(() => c.body(1).bytes >= WINDOW || c.isClosed, 3000, 'the first window of DATA');
      // A PING's ACK comes after anything the server had already queued for us.
      c.write(f.ping(Buffer.from('flowctl1')));
      await c.waitFrame((x) => x.type === f.TYPE.PING && (x.flags & f.FLAG.ACK), 3000, 'PING ACK');
      assert.strictEqual(c.body(1).bytes, WINDOW, 'stopped at the window');
      // Open both windows a bit at a time; the body completes.
      let opened = WINDOW;
      while (!c.body(1).ended && !c.isClosed) {
        if (c.body(1).bytes >= opened) {
          c.write([f.windowUpdate(0, 128 * 1024), f.windowUpdate(1, 128 * 1024)]);
          opened += 128 * 1024;
        }
        await c.waitFrame(() => c.body(1).bytes >= opened || c.body(1).ended, 3000, 'more DATA');
      }
      assert.deepStrictEqual(c.body(1), { bytes: SIZE, ended: true });
    } finally { c.destroy(); }
  });

  it('a request with a connection-specific field is malformed and not forwarded (RFC 9113 8.2.2)', async () => {
    const bad = [['connection', 'close'], ['keep-alive', 'timeout=5'], ['transfer-encoding', 'chunked'],
                 ['upgrade', 'h2c'], ['te', 'gzip'], ['proxy-connection', 'keep-alive'], ['X-Upper', 'case']];
    const c = await f.RawH2.connect(edge.port);
    try {
      const before = await origin.stats();
      bad.forEach(([n, v], i) => c.write(f.headers(2 * i + 1, f.requestBlock({ path: '/echo', extra: [[n, v]] }))));
      const last = 2 * bad.length + 1;
      c.write(f.headers(last, f.requestBlock({ path: '/echo' })));
      await c.waitEnd(last);
      assert.strictEqual(c.status(last), 200, 'the connection still serves');
      bad.forEach(([n], i) => {
        const id = 2 * i + 1;
        const answered = c.rst(id) === f.ERROR.PROTOCOL_ERROR || c.status(id) === 400;
        assert.ok(answered, `${n}: RST_STREAM PROTOCOL_ERROR or 400, got rst ${c.rst(id)} status ${c.status(id)}`);
      });
      assert.strictEqual(await origin.stats(), before + 1, 'only the good request reached the origin');
    } finally { c.destroy(); }
  });

  it('PRIORITY frames and HEADERS with a priority block are accepted', async () => {
    const c = await f.RawH2.connect(edge.port);
    try {
      // On idle streams, on a stream about to open, and a HEADERS carrying its own
      // priority (the PRIORITY flag and 5 bytes before the block).
      c.write([f.priority(101, { dependsOn: 0, weight: 1 }), f.priority(3, { dependsOn: 101, weight: 256, exclusive: true })]);
      c.write(f.headers(1, f.requestBlock({ path: '/api/product/5' })));
      const prio = Buffer.from([0x80, 0, 0, 101, 31]);
      c.write(f.frame(f.TYPE.HEADERS, f.FLAG.END_STREAM | f.FLAG.END_HEADERS | f.FLAG.PRIORITY, 3,
        Buffer.concat([prio, f.requestBlock({ path: '/api/product/6' })])));
      c.write(f.priority(1, { dependsOn: 3, weight: 16 }));
      for (const id of [1, 3]) {
        await c.waitEnd(id);
        assert.strictEqual(c.status(id), 200);
        assert.ok(c.body(id).bytes > 0, `stream ${id} has its body`);
      }
      assert.strictEqual(c.goaway(), undefined, 'no GOAWAY');
    } finally { c.destroy(); }
  });
});

describe('drain and timeouts', () => {
  it('GOAWAY on SIGTERM: the stream in flight completes, then tessera exits 0', async () => {
    const e = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
    const s = http2.connect(`http://127.0.0.1:${e.port}`);
    s.on('error', () => {});
    const goaway = new Promise((r) => s.once('goaway', (code, lastStreamId) => r({ code, lastStreamId })));
    const closed = new Promise((r) => s.once('close', r));
    try {
      const before = await origin.stats();
      const st = s.request({ ':path': '/api/nav?delay=500' }, { endStream: true });
      const head = new Promise((resolve, reject) => { st.once('response', resolve); st.once('error', reject); });
      const body = readBuffer(st);
      await h.waitFor(async () => (await origin.stats()) > before, 3000, 'request at the origin');
      e.signal('SIGTERM');
      const g = await goaway;
      assert.strictEqual(g.code, http2.constants.NGHTTP2_NO_ERROR);
      assert.ok(g.lastStreamId >= st.id, `last stream ${g.lastStreamId} covers stream ${st.id}`);
      assert.strictEqual((await head)[':status'], 200);
      assert.ok(JSON.parse((await body).toString()), 'the whole JSON body');
      await closed;
      const { code } = await e.child.exited;
      assert.strictEqual(code, 0);
    } finally { s.destroy(); await e.stop(); }
  });

  it('after GOAWAY, new streams are not served but the old one finishes', async () => {
    const e = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } }));
    const c = await f.RawH2.connect(e.port);
    try {
      const before = await origin.stats();
      c.write(f.headers(1, f.requestBlock({ path: '/api/nav?delay=500' })));
      await h.waitFor(async () => (await origin.stats()) > before, 3000, 'request at the origin');
      e.signal('SIGTERM');
      await c.waitFrame((x) => x.type === f.TYPE.GOAWAY, 3000, 'GOAWAY');
      assert.deepStrictEqual(c.goaway(), { lastStreamId: 1, code: f.ERROR.NO_ERROR });
      c.write(f.headers(3, f.requestBlock({ path: '/api/nav' })));
      await c.waitEnd(1);
      assert.strictEqual(c.status(1), 200);
      assert.ok(await c.waitClosed(3000), 'closed once stream 1 is done');
      assert.strictEqual(c.status(3), undefined, 'stream 3 (after the GOAWAY) is not answered');
      assert.strictEqual(await origin.stats(), before + 1, 'stream 3 never reached the origin');
      assert.strictEqual((await e.child.exited).code, 0);
    } finally { c.destroy(); await e.stop(); }
  });

  it('an idle session is closed with GOAWAY at timeouts.keepalive; a slow stream is not', async () => {
    const e = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
      extra: 'timeouts = { keepalive = "300ms" }' }));
    try {
      const busy = await f.RawH2.connect(e.port);
      busy.write(f.headers(1, f.requestBlock({ path: '/api/nav?delay=700' })));
      const t0 = Date.now();
      const idle = await f.RawH2.connect(e.port);
      assert.ok(await idle.waitClosed(3000), 'the idle session is closed');
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 2500, `closed after ${took}ms`);
      assert.deepStrictEqual(idle.goaway(), { lastStreamId: 0, code: f.ERROR.NO_ERROR });
      await busy.waitEnd(1);
      assert.strictEqual(busy.status(1), 200);
      busy.destroy();
    } finally { await e.stop(); }
  });
});
