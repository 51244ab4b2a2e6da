// SPDX-License-Identifier: Apache-2.0
// HTTP/2 abuse, each over a raw socket to the h2c port with frames written by
// hand (lib/h2frames.js): rapid reset (CVE-2023-44487), CONTINUATION flood
// (CVE-2024-27316 family), an HPACK bomb (a dynamic table entry referenced
// thousands of times), SETTINGS and PING floods from a client that never reads
// (RFC 9113 10.5), and a client that keeps its flow-control window at zero. Each
// must cost the attacker its connection (or its stream) without tessera's memory
// growing; after each, ordinary HTTP/1.1 and h2 clients are still served promptly
// by the same (single) worker, and at the end tessera exits 0 on SIGTERM.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');
const f = require('./lib/h2frames');

const BOUND_KB = 8 * 1024; // RSS growth allowed during a flood
const PROMPT_MS = 2000;    // an ordinary request after a flood answers within this

let origin, edge;
before(async () => {
  origin = await h.startOrigin();
  edge = await h.startTessera(h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
    extra: 'timeouts = { send = "500ms" }' }),
  // Under AddressSanitizer freed memory sits in a quarantine that would count as
  // growth; keep it small so RSS reflects what tessera holds.
  { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=1` } });
});
after(async () => { await edge.stop(); await origin.stop(); });

// Ordinary clients of each protocol get a correct answer, promptly, and tessera
// is still running.
async function stillServed() {
  assert.strictEqual(edge.child.exitCode, null, 'tessera is running');
  for (const proto of ['h1', 'h2']) {
    const c = h.client(proto);
    try {
      const t0 = Date.now();
      const r = await c.request({ edge, path: '/api/product/7' });
      const took = Date.now() - t0;
      assert.strictEqual(r.status, 200, `${proto} status`);
      assert.strictEqual(JSON.parse(r.body).id, 7, `${proto} body`);
      assert.ok(took < PROMPT_MS, `${proto} answered after ${took}ms`);
    } finally { await c.close(); }
  }
}

// Samples tessera's RSS while `fn` runs; returns the growth in KB.
async function rssGrowth(fn) {
  const base = edge.memoryKb();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, edge.memoryKb()); }, 10);
  try {
    await fn(() => { peak = Math.max(peak, edge.memoryKb()); });
  } finally { clearInterval(timer); }
  return Math.max(peak, edge.memoryKb()) - base;
}

const yieldLoop = () => new Promise((r) => setImmediate(r));

describe('floods', () => {
  it('a few cancelled streams are fine: the connection keeps serving', async () => {
    const c = await f.RawH2.connect(edge.port);
    try {
      const bufs = [];
      for (let id = 1; id <= 99; id += 2) {
        bufs.push(f.headers(id, f.requestBlock({ path: '/api/nav' })), f.rstStream(id, f.ERROR.CANCEL));
      }
      c.write(bufs);
      c.write(f.headers(101, f.requestBlock({ path: '/api/product/3' })));
      await c.waitEnd(101);
      assert.strictEqual(c.status(101), 200);
      assert.strictEqual(c.goaway(), undefined, 'no GOAWAY for 50 cancellations');
    } finally { c.destroy(); }
    await stillServed();
  });

  it('rapid reset: streams opened and reset in bulk get a GOAWAY and a close', async () => {
    const TOTAL = 20000;
    const before = await origin.stats();
    const c = await f.RawH2.connect(edge.port);
    let opened = 0;
    const growth = await rssGrowth(async () => {
      let id = 1;
      while (opened < TOTAL && !c.isClosed && !c.writeError) {
        const bufs = [];
        for (let i = 0; i < 500; i++, id += 2) {
          bufs.push(f.headers(id, f.requestBlock({ path: '/api/nav' })), f.rstStream(id, f.ERROR.CANCEL));
        }
        c.write(bufs);
        opened += 500;
        await c.drained();
        await yieldLoop();
      }
      assert.ok(await c.waitClosed(5000), `closed (${c.summary()})`);
    });
    c.destroy();
    assert.ok(opened < TOTAL, `stopped after ${opened} of ${TOTAL} streams`);
    // Tessera's own reset budget answers ENHANCE_YOUR_CALM; nghttp2's identical
    // stream_reset_rate_limit, when it trips first, answers INTERNAL_ERROR.
    const g = c.goaway();
    if (g) {
      assert.ok([f.ERROR.ENHANCE_YOUR_CALM, f.ERROR.INTERNAL_ERROR].includes(g.code), `GOAWAY code ${g.code}`);
    }
    const reached = (await origin.stats()) - before;
    assert.ok(reached <= 500, `${reached} of ${opened} reset streams reached the origin`);
    assert.ok(growth < BOUND_KB, `RSS grew ${growth} KB`);
    await stillServed();
  });

  for (const [kind, blockOf] of [
    ['long header fields', (i) => f.literal(`x-junk-${i}`, 'a'.repeat(16000))],
    ['junk header blocks', () => Buffer.alloc(16000, 0xff)],
  ]) {
    it(`CONTINUATION flood (${kind}): the connection is closed, memory stays flat`, async () => {
      const MAX_FRAMES = 4000; // 64 MB of header block if nothing stopped it
      const c = await f.RawH2.connect(edge.port);
      let frames = 0;
      const growth = await rssGrowth(async (sample) => {
        c.write(f.headers(1, f.requestBlock({ path: '/echo' }), { endStream: true, endHeaders: false }));
        while (frames < MAX_FRAMES && !c.isClosed && !c.writeError) {
          c.write(f.continuation(1, blockOf(frames)));
          frames++;
          if (frames % 16 === 0) {
            sample();
            await c.drained();
          }
        }
        assert.ok(await c.waitClosed(5000), `closed (${c.summary()})`);
      });
      c.destroy();
      assert.ok(frames < MAX_FRAMES, `closed after ${frames} CONTINUATION frames`);
      const g = c.goaway();
      if (g) assert.notStrictEqual(g.code, f.ERROR.NO_ERROR, 'a GOAWAY names an error');
      assert.strictEqual(c.status(1), undefined, 'the endless request was not answered');
      assert.ok(growth < BOUND_KB, `RSS grew ${growth} KB`);
      await stillServed();
    });
  }

  it('HPACK bomb: a 4 KB table entry referenced 120,000 times is refused without memory growth', async () => {
    const before = await origin.stats();
    const c = await f.RawH2.connect(edge.port);
    const t0 = Date.now();
    // 4058 + "x-bomb" + 32 bytes of overhead fill the 4096-byte table exactly
    // (RFC 7541 4.1); index 62 is then that entry, one byte per reference.
    const entry = f.literal('x-bomb', 'b'.repeat(4058), { indexing: 'incremental' });
    const first = Buffer.concat([f.requestBlock({ path: '/echo' }), entry]);
    const refs = (n) => Buffer.alloc(n, 0x80 | 62);
    const growth = await rssGrowth(async () => {
      // A HEADERS frame and 7 CONTINUATIONs, each within the 16 KB frame size.
      c.write(f.headers(1, Buffer.concat([first, refs(16384 - first.length)]), { endHeaders: false }));
      for (let i = 0; i < 7; i++) c.write(f.continuation(1, refs(16384), { endHeaders: i === 6 }));
      c.write(f.headers(3, f.requestBlock({ path: '/api/product/8' })));
      await h.waitFor(() => c.isClosed || ((c.status(1) !== undefined || c.rst(1) !== undefined) && c.body(3).ended),
        5000, `an answer to the bomb (${c.summary()})`);
    });
    const took = Date.now() - t0;
    // A stream error (431, RST_STREAM) or a connection error (GOAWAY, or the
    // connection closed: RFC 9113 5.4.1) are all refusals; what matters is that
    // the bomb is not served and costs no memory.
    const refused = c.status(1) === 431 || c.rst(1) !== undefined ||
      (c.goaway() && c.goaway().code !== 0) || (c.isClosed && c.status(1) === undefined);
    assert.ok(refused, `431, RST_STREAM, GOAWAY or close: status ${c.status(1)} rst ${c.rst(1)} (${c.summary()})`);
    if (!c.isClosed) assert.strictEqual(c.status(3), 200, 'the next stream on the connection is served');
    assert.ok((await origin.stats()) - before <= 1, 'the bomb never reached the origin');
    c.destroy();
    assert.ok(growth < BOUND_KB, `RSS grew ${growth} KB`);
    assert.ok(took < PROMPT_MS, `answered after ${took}ms`);
    await stillServed();
  });

  for (const [kind, frame] of [['SETTINGS', f.settings([])], ['PING', f.ping(Buffer.from('floodped'))]]) {
    it(`${kind} flood from a client that never reads: the connection is closed`, async () => {
      const BATCH = 1000;
      const MAX_BATCHES = 2000; // 2 million frames if nothing stopped it
      const c = await f.RawH2.connect(edge.port);
      await c.waitFrame((x) => x.type === f.TYPE.SETTINGS, 3000, 'SETTINGS');
      c.pause(); // every ACK the server owes us piles up on its side
      const batch = Buffer.concat(Array.from({ length: BATCH }, () => frame));
      let batches = 0;
      const growth = await rssGrowth(async (sample) => {
        while (batches < MAX_BATCHES && !c.isClosed && !c.writeError) {
          c.write(batch);
          batches++;
          if (batches % 10 === 0) sample();
          await c.drained();
        }
        // A paused socket learns of the close by writing into it.
        await h.waitFor(() => { c.write(frame); return c.writeError || c.isClosed; }, 5000, 'the close');
      });
      c.destroy();
      assert.ok(batches < MAX_BATCHES, `closed after ${batches * BATCH} ${kind} frames`);
      assert.ok(growth < BOUND_KB, `RSS grew ${growth} KB`);
      await stillServed();
    });
  }

  it('a client that keeps its window at zero is closed at timeouts.send and holds nothing', async () => {
    const c = await f.RawH2.connect(edge.port, {
      settingsEntries: [[f.SETTING.HEADER_TABLE_SIZE, 0], [f.SETTING.INITIAL_WINDOW_SIZE, 0]] });
    const t0 = Date.now();
    try {
      c.write(f.headers(1, f.requestBlock({ path: '/bench/size/1000000' })));
      await c.waitFrame((x) => x.type === f.TYPE.HEADERS && x.streamId === 1, 3000, 'the response head');
      assert.strictEqual(c.status(1), 200);
      await stillServed(); // while it is stalled
      assert.ok(await c.waitClosed(5000), `closed (${c.summary()})`);
      const took = Date.now() - t0;
      assert.ok(took >= 450 && took < 4000, `closed after ${took}ms (timeouts.send is 500ms)`);
      assert.deepStrictEqual(c.body(1), { bytes: 0, ended: false }, 'no DATA past a zero window');
    } finally { c.destroy(); }
    await stillServed();
  });

  it('a zero-window client that keeps sending PINGs is still closed at timeouts.send', async () => {
    const c = await f.RawH2.connect(edge.port, {
      settingsEntries: [[f.SETTING.HEADER_TABLE_SIZE, 0], [f.SETTING.INITIAL_WINDOW_SIZE, 0]] });
    const pinger = setInterval(() => c.write(f.ping(Buffer.from('stillhre'))), 100);
    const t0 = Date.now();
    try {
      c.write(f.headers(1, f.requestBlock({ path: '/bench/size/1000000' })));
      await c.waitFrame((x) => x.type === f.TYPE.HEADERS && x.streamId === 1, 3000, 'the response head');
      assert.ok(await c.waitClosed(2500), `closed (${c.summary()})`);
      const took = Date.now() - t0;
      assert.ok(took < 2500, `closed after ${took}ms (timeouts.send is 500ms)`);
    } finally { clearInterval(pinger); c.destroy(); }
    await stillServed();
  });

  it('after every flood tessera exits 0 on SIGTERM', async () => {
    await stillServed();
    const r = await edge.stop();
    assert.strictEqual(r.code, 0);
  });
});
