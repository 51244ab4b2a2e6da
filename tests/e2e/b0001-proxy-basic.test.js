// SPDX-License-Identifier: Apache-2.0
// Basic reverse proxying, over HTTP/1.1, h2c and h2: the origin's JSON comes back
// through tessera, the origin sees X-Forwarded-For/-Proto and Via (naming the
// protocol version tessera received, RFC 9110 7.6.3), hop-by-hop fields are
// removed (RFC 9110 7.6.1), locally made responses carry Date/Server, and the
// access log names the protocol. Request-target forms and raw HTTP/1.1 framing
// are HTTP/1.1-only.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

let origin, edge, accessLog;
before(async () => {
  origin = await h.startOrigin();
  accessLog = path.join(path.dirname(h.tmpFile('x', '')), 'access.log');
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [{ path: '/api/*', origin: 'api' }, { path: '/echo', origin: 'api' },
             { path: '/status/:code', origin: 'api' }],
    extra: `log = { access = ${JSON.stringify(accessLog)}, format = "combined" }` }));
});
after(async () => { await edge.stop(); await origin.stop(); });

// What the origin sees in Via and X-Forwarded-Proto for each client protocol.
const VIA = { h1: '1.1 tessera', h2c: '2 tessera', h2: '2 tessera' };
const SCHEME = { h1: 'http', h2c: 'http', h2: 'https' };
const LOG_PROTO = { h1: 'HTTP/1.1', h2c: 'HTTP/2.0', h2: 'HTTP/2.0' };

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('GET /api/product/1 returns the origin JSON', async () => {
      const direct = await h.request({ port: origin.port, path: '/api/product/1' });
      const r = await c.request({ edge, path: '/api/product/1' });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.body, direct.body);
      assert.strictEqual(JSON.parse(r.body).id, 1);
      assert.match(r.headers['content-type'], /application\/json/);
      assert.match(r.headers.via, /1\.1 tessera/);
      assert.ok(r.headers.date);
    });

    it('origin status codes pass through', async () => {
      const r = await c.request({ edge, path: '/status/418' });
      assert.strictEqual(r.status, 418);
    });

    it('the origin sees forwarding fields and no hop-by-hop fields', async () => {
      const headers = { 'X-Forwarded-For': '203.0.113.9', 'X-Keep': 'kept', Via: '1.0 client-proxy' };
      if (proto === 'h1') {
        Object.assign(headers, { Connection: 'close, X-Secret', 'X-Secret': 'drop me',
                                 'Keep-Alive': 'timeout=5', TE: 'trailers' });
      } else {
        // HTTP/2 has no connection-specific fields (RFC 9113 8.2.2): node refuses to
        // send Connection or Keep-Alive, and TE may only be "trailers". h0001 checks
        // that a request carrying one is refused, not forwarded.
        headers.TE = 'trailers';
      }
      const r = await c.request({ edge, path: '/echo?x=1', headers });
      assert.strictEqual(r.status, 200);
      const seen = JSON.parse(r.headers['x-echo-headers']);
      assert.strictEqual(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
      assert.strictEqual(seen.via, `1.0 client-proxy, ${VIA[proto]}`);
      assert.strictEqual(seen['x-keep'], 'kept');
      assert.strictEqual(seen['x-secret'], undefined, 'field named in Connection is removed');
      assert.strictEqual(seen.connection, undefined);
      assert.strictEqual(seen['keep-alive'], undefined);
      assert.strictEqual(seen.te, undefined);
      assert.strictEqual(r.headers['x-echo-path'], '/echo?x=1');
    });

    it('X-Forwarded-Proto names the scheme the client used', async () => {
      const r = await c.request({ edge, path: '/echo', headers: { 'X-Forwarded-Proto': 'gopher' } });
      assert.strictEqual(r.status, 200);
      assert.strictEqual(JSON.parse(r.headers['x-echo-headers'])['x-forwarded-proto'], SCHEME[proto]);
    });

    it('the origin gets the authority as Host', async () => {
      const r = await c.request({ edge, path: '/echo' });
      const port = proto === 'h2' ? edge.tlsPort : edge.port;
      assert.strictEqual(JSON.parse(r.headers['x-echo-headers']).host, `127.0.0.1:${port}`);
    });

    it('no route gives a local 404 with Date and Server', async () => {
      const r = await c.request({ edge, path: '/nothing-here' });
      assert.strictEqual(r.status, 404);
      assert.strictEqual(r.headers.server, 'tessera');
      assert.ok(!Number.isNaN(Date.parse(r.headers.date)));
    });

    it('no route gives a local 404 to a request with a body too (RFC 9113 8.1)', async () => {
      const x = c.open({ edge, path: '/nothing-here', method: 'POST' });
      x.req.on('error', () => {}); // the server may stop the upload
      x.req.write('part one;');
      const res = await x.response;
      x.req.end('part two');
      res.stream.resume();
      assert.strictEqual(res.status, 404);
      assert.strictEqual(res.headers.server, 'tessera');
      const next = await c.request({ edge, path: '/api/nav' });
      assert.strictEqual(next.status, 200, 'the client is still served');
    });

    it('HEAD is forwarded and has no body', async () => {
      const r = await c.request({ edge, path: '/api/product/2', method: 'HEAD' });
      assert.strictEqual(r.status, 200);
      assert.ok(Number(r.headers['content-length']) > 0, 'HEAD keeps the origin Content-Length');
      assert.strictEqual(r.body, '');
    });

    it('OPTIONS with Max-Forwards: 0 is answered here, otherwise forwarded minus one (RFC 9110 7.6.2)', async () => {
      const before = await origin.stats();
      const r0 = await c.request({ edge, path: '/echo', method: 'OPTIONS', headers: { 'Max-Forwards': '0' } });
      assert.strictEqual(r0.status, 200);
      assert.strictEqual(r0.headers['x-echo-method'], undefined, 'not from the origin');
      assert.match(r0.headers.allow, /GET/);
      assert.strictEqual(await origin.stats(), before, 'nothing reached the origin');
      const r5 = await c.request({ edge, path: '/echo', method: 'OPTIONS', headers: { 'Max-Forwards': '5' } });
      assert.strictEqual(JSON.parse(r5.headers['x-echo-headers'])['max-forwards'], '4');
    });

    it('TRACE is refused with 405 and Allow', async () => {
      const r = await c.request({ edge, path: '/echo', method: 'TRACE' });
      assert.strictEqual(r.status, 405);
      assert.ok(r.headers.allow);
    });

    it('the access log line names the protocol', async () => {
      const p = `/api/product/3?log=${proto}`;
      const r = await c.request({ edge, path: p, headers: { 'User-Agent': `ua-${proto}` } });
      assert.strictEqual(r.status, 200);
      const line = await h.waitFor(() => fs.existsSync(accessLog) &&
        fs.readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes(`${p} `)), 5000, 'access log line');
      assert.ok(line.includes(`"GET ${p} ${LOG_PROTO[proto]}" 200 `), line);
      assert.ok(line.includes(`"ua-${proto}"`), line);
    });
  });
}

describe('h1 only', () => {
  it('HEAD: nothing follows the head on the wire', async () => {
    const res = await h.raw(edge.port, 'HEAD /api/product/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(res.text.replace(/\r\n\r\n[\s\S]*$/, '\r\n\r\n'));
    assert.strictEqual(r.status, 200);
    assert.ok(Number(r.headers['content-length']) > 0, 'HEAD keeps the origin Content-Length');
    assert.ok(res.text.endsWith('\r\n\r\n'), 'nothing after the head');
  });

  it('absolute-form request-target is forwarded in origin-form', async () => {
    const res = await h.raw(edge.port, 'GET http://example.test/echo?a=b HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(res.text);
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.headers['x-echo-path'], '/echo?a=b');
  });

  it('an HTTP/1.0 client gets a response it can read to close', async () => {
    const res = await h.raw(edge.port, 'GET /api/nav HTTP/1.0\r\n\r\n');
    assert.ok(res.closed);
    assert.match(res.text, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(res.text, /Transfer-Encoding: chunked/i);
  });

  it('an HTTP/1.0 request is forwarded with Via 1.0', async () => {
    const res = await h.raw(edge.port, 'GET /echo HTTP/1.0\r\nHost: x\r\n\r\n');
    const [r] = h.parseResponses(res.text);
    assert.strictEqual(JSON.parse(r.headers['x-echo-headers']).via, '1.0 tessera');
  });

  it('absolute-form: the target authority replaces Host (RFC 9112 3.2.2)', async () => {
    const res = await h.raw(edge.port, 'GET http://right.test/echo HTTP/1.1\r\nHost: wrong.test\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(res.text);
    assert.strictEqual(JSON.parse(r.headers['x-echo-headers']).host, 'right.test');
  });

  it('absolute-form with userinfo is refused (RFC 9110 4.2.4)', async () => {
    const res = await h.raw(edge.port, 'GET http://user@h.test/echo HTTP/1.1\r\nHost: h.test\r\n\r\n');
    assert.match(res.text, /^HTTP\/1\.1 400 /);
  });

  it('OPTIONS * is answered by tessera with Allow', async () => {
    const res = await h.raw(edge.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = h.parseResponses(res.text);
    assert.strictEqual(r.status, 200);
    assert.match(r.headers.allow, /GET/);
    assert.strictEqual(r.headers['content-length'], '0');
  });

  it('CONNECT is refused with 405', async () => {
    const res = await h.raw(edge.port, 'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
    assert.match(res.text, /^HTTP\/1\.1 405 /);
  });
});
