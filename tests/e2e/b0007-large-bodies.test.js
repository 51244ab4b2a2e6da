// SPDX-License-Identifier: Apache-2.0
// Bodies stream with back-pressure, over HTTP/1.1, h2c and h2: a 20 MB response
// read slowly and a 20 MB request body sent to an origin both pass whole while
// tessera's resident memory grows by far less than the body (nothing is buffered
// whole). In HTTP/2 the back-pressure is flow control: the client's window
// towards the slow reader, tessera's window towards the uploader.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

const SIZE = 20 * 1024 * 1024;
const BOUND_KB = 8 * 1024; // growth allowed: well under the 20 MB body

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
    extra: 'limits = { body_size = "64MB" }' }),
    // Under AddressSanitizer freed memory is held in a quarantine that would count
    // as growth here; keep it small so RSS still reflects what tessera holds.
    { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=1` } });
});
after(async () => { await edge.stop(); await origin.stop(); });

// Sends SIZE bytes of `chunk` on the request's writable side, waiting for
// 'drain' whenever it is full; `onFull` runs each time (to sample memory).
function pump(req, chunk, onFull = () => {}) {
  let sent = 0;
  const step = () => {
    while (sent < SIZE) {
      sent += chunk.length;
      if (!req.write(chunk)) {
        onFull();
        req.once('drain', step);
        return;
      }
    }
    req.end();
  };
  step();
}

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    const c = h.client(proto);
    after(() => c.close());

    it('a 20 MB response streams to a slow reader with bounded memory', async () => {
      const base = edge.memoryKb();
      let peak = base;
      let received = 0;
      let ok = true;
      const x = c.open({ edge, path: `/bench/size/${SIZE}?cl=1`, endStream: true });
      const res = await x.response;
      assert.strictEqual(res.status, 200);
      assert.strictEqual(res.headers['content-length'], String(SIZE));
      await new Promise((resolve, reject) => {
        res.stream.on('data', (d) => {
          for (let i = 0; i < d.length; i += 4096) {
            if (d[i] !== 97 + ((received + i) % 26)) ok = false;
          }
          received += d.length;
          // Read slowly: pause now and then so the proxy has to hold back.
          if (received % (1024 * 1024) < d.length) {
            res.stream.pause();
            peak = Math.max(peak, edge.memoryKb());
            setTimeout(() => res.stream.resume(), 5);
          }
        });
        res.stream.on('end', resolve);
        res.stream.on('error', reject);
      });
      assert.strictEqual(received, SIZE);
      assert.ok(ok, 'body bytes are the origin pattern');
      assert.ok(peak - base < BOUND_KB, `RSS grew ${peak - base} KB`);
    });

    it('a 20 MB response without a length from the origin is relayed whole', async () => {
      const x = c.open({ edge, path: `/bench/size/${SIZE}`, endStream: true });
      const res = await x.response;
      let n = 0;
      for await (const d of res.stream) n += d.length;
      assert.strictEqual(res.status, 200);
      assert.strictEqual(n, SIZE);
      assert.strictEqual(res.headers['content-length'], undefined);
      if (proto === 'h1') assert.strictEqual(res.headers['transfer-encoding'], 'chunked');
    });

    it('a 20 MB request body streams to the origin with bounded memory', async () => {
      const base = edge.memoryKb();
      let peak = base;
      const x = c.open({ edge, path: '/echo?discard=1', method: 'POST', headers: { 'Content-Length': SIZE } });
      pump(x.req, Buffer.alloc(256 * 1024, 'q'), () => { peak = Math.max(peak, edge.memoryKb()); });
      const res = await x.response;
      res.stream.resume();
      await new Promise((r) => res.stream.on('end', r));
      assert.strictEqual(res.status, 200);
      assert.strictEqual(res.headers['x-echo-length'], String(SIZE));
      assert.strictEqual(JSON.parse(res.headers['x-echo-headers'])['content-length'], String(SIZE));
      assert.ok(peak - base < BOUND_KB, `RSS grew ${peak - base} KB`);
    });

    it('a 20 MB upload without a length is re-chunked to the origin', async () => {
      const base = edge.memoryKb();
      let peak = base;
      const x = c.open({ edge, path: '/echo?discard=1', method: 'POST' });
      pump(x.req, Buffer.alloc(1024 * 1024, 'z'), () => { peak = Math.max(peak, edge.memoryKb()); });
      const res = await x.response;
      res.stream.resume();
      await new Promise((r) => res.stream.on('end', r));
      assert.strictEqual(res.status, 200);
      assert.strictEqual(res.headers['x-echo-length'], String(SIZE));
      assert.strictEqual(JSON.parse(res.headers['x-echo-headers'])['transfer-encoding'], 'chunked');
      assert.ok(peak - base < BOUND_KB, `RSS grew ${peak - base} KB`);
    });
  });
}
