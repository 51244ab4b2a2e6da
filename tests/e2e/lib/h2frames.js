// SPDX-License-Identifier: Apache-2.0
//
// HTTP/2 frames written by hand, for tests that must send what a well-behaved
// client library never would (floods, malformed requests): a frame encoder
// (RFC 9113 4.1 and section 6), an HPACK encoder that uses the static table and
// literals only (RFC 7541, no Huffman coding), a frame splitter for what the
// server sends, and RawH2, a connection over a plain socket that collects the
// server's frames and waits on conditions.
'use strict';

const net = require('node:net');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const TYPE = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5,
               PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };
const ERROR = { NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, FLOW_CONTROL_ERROR: 0x3,
                SETTINGS_TIMEOUT: 0x4, STREAM_CLOSED: 0x5, FRAME_SIZE_ERROR: 0x6, REFUSED_STREAM: 0x7,
                CANCEL: 0x8, COMPRESSION_ERROR: 0x9, CONNECT_ERROR: 0xa, ENHANCE_YOUR_CALM: 0xb,
                INADEQUATE_SECURITY: 0xc, HTTP_1_1_REQUIRED: 0xd };
const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3,
                  INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 };

// ---- frames ------------------------------------------------------------------

// The 9-byte frame header (24-bit length, type, flags, 31-bit stream id) and payload.
function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const hd = Buffer.alloc(9);
  hd.writeUIntBE(payload.length, 0, 3);
  hd[3] = type;
  hd[4] = flags;
  hd.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([hd, payload]);
}

// entries: [[SETTING.X, value], ...]
function settings(entries = [], { ack = false } = {}) {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2); });
  return frame(TYPE.SETTINGS, ack ? FLAG.ACK : 0, 0, p);
}

function headers(streamId, block, { endStream = true, endHeaders = true } = {}) {
  return frame(TYPE.HEADERS, (endStream ? FLAG.END_STREAM : 0) | (endHeaders ? FLAG.END_HEADERS : 0),
               streamId, block);
}

function continuation(streamId, block, { endHeaders = false } = {}) {
  return frame(TYPE.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, streamId, block);
}

function data(streamId, payload, { endStream = false } = {}) {
  return frame(TYPE.DATA, endStream ? FLAG.END_STREAM : 0, streamId, Buffer.from(payload));
}

function rstStream(streamId, code = ERROR.CANCEL) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(TYPE.RST_STREAM, 0, streamId, p);
}

function ping(opaque = Buffer.alloc(8), { ack = false } = {}) {
  return frame(TYPE.PING, ack ? FLAG.ACK : 0, 0, opaque);
}

function windowUpdate(streamId, increment) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment & 0x7fffffff);
  return frame(TYPE.WINDOW_UPDATE, 0, streamId, p);
}

function priority(streamId, { dependsOn = 0, weight = 16, exclusive = false } = {}) {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(((exclusive ? 0x80000000 : 0) | dependsOn) >>> 0);
  p[4] = weight - 1;
  return frame(TYPE.PRIORITY, 0, streamId, p);
}

function goaway(lastStreamId, code = ERROR.NO_ERROR) {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId & 0x7fffffff);
  p.writeUInt32BE(code, 4);
  return frame(TYPE.GOAWAY, 0, 0, p);
}

// ---- HPACK: static table and literals only ---------------------------------------

// RFC 7541 5.1: an integer with an N-bit prefix; `high` holds the bits above it.
function hpackInt(value, prefixBits, high = 0) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const out = [high | max];
  let v = value - max;
  while (v >= 128) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

// RFC 7541 5.2, without Huffman coding (H = 0).
function hpackString(s) {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7, 0), b]);
}

// Static table entries used here (RFC 7541 Appendix A).
const STATIC = { ':authority': 1, ':method GET': 2, ':method POST': 3, ':path /': 4, ':scheme http': 6,
                 ':scheme https': 7, ':path': 4, ':method': 2 };

// 6.1: a field from the table, by index (static 1-61, dynamic from 62).
function indexed(index) { return hpackInt(index, 7, 0x80); }

// 6.2: a literal field. indexing: 'incremental' adds it to the dynamic table
// (6.2.1), 'none' does not (6.2.2), 'never' marks it sensitive (6.2.3). With
// nameIndex the name is taken from the table, else it is sent as a literal.
function literal(name, value, { indexing = 'none', nameIndex = 0 } = {}) {
  const [bits, high] = indexing === 'incremental' ? [6, 0x40] : indexing === 'never' ? [4, 0x10] : [4, 0x00];
  const parts = [hpackInt(nameIndex, bits, high)];
  if (!nameIndex) parts.push(hpackString(name));
  parts.push(hpackString(value));
  return Buffer.concat(parts);
}

// 6.3: a dynamic table size update.
function tableSizeUpdate(size) { return hpackInt(size, 5, 0x20); }

// A request header block: GET, http and / are single static-table bytes (0x82,
// 0x86, 0x84); other values are literals with an indexed name; `extra` is a list
// of [name, value] literals (or Buffers, appended as they are).
function requestBlock({ method = 'GET', scheme = 'http', path = '/', authority = '127.0.0.1',
                        extra = [] } = {}) {
  const parts = [];
  parts.push(method === 'GET' ? indexed(2) : method === 'POST' ? indexed(3)
    : literal(':method', method, { nameIndex: STATIC[':method'] }));
  parts.push(scheme === 'http' ? indexed(6) : scheme === 'https' ? indexed(7)
    : literal(':scheme', scheme, { nameIndex: 6 }));
  parts.push(path === '/' ? indexed(4) : literal(':path', path, { nameIndex: STATIC[':path'] }));
  if (authority !== null) parts.push(literal(':authority', authority, { nameIndex: STATIC[':authority'] }));
  for (const e of extra) parts.push(Buffer.isBuffer(e) ? e : literal(e[0], e[1]));
  return Buffer.concat(parts);
}

// ---- reading what the server sends -------------------------------------------------

// Splits a byte stream into frames: push(bytes) returns the frames completed.
class FrameSplitter {
  constructor() { this.buf = Buffer.alloc(0); }
  push(bytes) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, bytes]) : bytes;
    const out = [];
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      out.push({ type: this.buf[3], typeName: TYPE_NAME[this.buf[3]] || `0x${this.buf[3].toString(16)}`,
                 flags: this.buf[4], streamId: this.buf.readUInt32BE(5) & 0x7fffffff,
                 payload: this.buf.subarray(9, 9 + len) });
      this.buf = this.buf.subarray(9 + len);
    }
    return out;
  }
}

// RFC 7541 Appendix B codes of the digits, enough to read a Huffman-coded :status.
const HUFFMAN_DIGITS = [[0b00000, 5], [0b00001, 5], [0b00010, 5], [0b011001, 6], [0b011010, 6],
                        [0b011011, 6], [0b011100, 6], [0b011101, 6], [0b011110, 6], [0b011111, 6]];

function huffmanDigits(bytes) {
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  let i = 0;
  outer: while (i < bits.length) {
    for (let d = 0; d < 10; d++) {
      const [code, n] = HUFFMAN_DIGITS[d];
      if (i + n <= bits.length && parseInt(bits.slice(i, i + n), 2) === code) {
        out += String(d);
        i += n;
        continue outer;
      }
    }
    break; // the rest is padding (all ones) or not a digit
  }
  return /^1*$/.test(bits.slice(i)) && bits.length - i < 8 ? out : null;
}

function readInt(b, at, prefixBits) {
  const max = (1 << prefixBits) - 1;
  let v = b[at] & max;
  at++;
  if (v < max) return [v, at];
  let m = 0;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * 2 ** m;
    m += 7;
    if (!(x & 0x80)) return [v, at];
  }
}

// The :status of a response header block whose first field is :status from the
// static table or a literal with the :status name (what a server whose dynamic
// table we set to 0 sends); null when it is encoded some other way.
function responseStatus(block) {
  let at = 0;
  while (at < block.length && (block[at] & 0xe0) === 0x20) [, at] = readInt(block, at, 5); // size updates
  if (at >= block.length) return null;
  const b = block[at];
  const byIndex = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };
  if (b & 0x80) return byIndex[readInt(block, at, 7)[0]] || null;
  let nameIndex;
  if ((b & 0xc0) === 0x40) [nameIndex, at] = readInt(block, at, 6);
  else [nameIndex, at] = readInt(block, at, 4);
  if (nameIndex < 8 || nameIndex > 14) return null;
  const huffman = (block[at] & 0x80) !== 0;
  let len;
  [len, at] = readInt(block, at, 7);
  const v = block.subarray(at, at + len);
  const text = huffman ? huffmanDigits(v) : v.toString('latin1');
  return text && /^\d{3}$/.test(text) ? Number(text) : null;
}

// ---- a raw connection ------------------------------------------------------------

// A plain-TCP HTTP/2 connection driven by hand. `frames` collects what the server
// sent, `closed` resolves when the socket closes. With ack, the server's SETTINGS
// are acknowledged as they arrive; that is only valid once our own SETTINGS went
// out (RFC 9113 3.4), so without `preface` (the test sends it) the default is
// not to. pause() stops reading the socket. The default SETTINGS set our HPACK
// table to 0, so that responseStatus() can read every :status.
class RawH2 {
  static connect(port, { settingsEntries = [[SETTING.HEADER_TABLE_SIZE, 0]], preface = true, ack = preface } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        const c = new RawH2(sock, ack);
        if (preface) c.write([PREFACE, settings(settingsEntries)]);
        resolve(c);
      });
    });
  }

  constructor(sock, ack) {
    this.sock = sock;
    this.frames = [];
    this.bytesIn = 0;
    this.writeError = null;
    this.waiters = new Set();
    const splitter = new FrameSplitter();
    this.closed = new Promise((resolve) => sock.on('close', () => { this.isClosed = true; this.wake(); resolve(); }));
    this.isClosed = false;
    sock.setNoDelay(true);
    sock.on('error', (e) => { this.writeError = this.writeError || e; });
    sock.on('data', (d) => {
      this.bytesIn += d.length;
      for (const f of splitter.push(d)) {
        this.frames.push(f);
        if (ack && f.type === TYPE.SETTINGS && !(f.flags & FLAG.ACK)) this.write(settings([], { ack: true }));
      }
      this.wake();
    });
  }

  wake() { for (const w of this.waiters) w(); }

  // Writes one buffer or a list; false when the socket buffer is full (or gone).
  write(bufs) {
    if (this.sock.destroyed) return false;
    return this.sock.write(Array.isArray(bufs) ? Buffer.concat(bufs) : bufs);
  }

  // Resolves once the socket can take more (or is closed).
  drained() {
    if (this.sock.destroyed || !this.sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { this.sock.off('drain', done); this.sock.off('close', done); resolve(); };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  pause() { this.sock.pause(); }
  resume() { this.sock.resume(); }

  // Resolves with the first received frame matching `pred` (or null when the
  // connection closed without one); rejects after `ms`.
  waitFrame(pred, ms = 3000, what = 'frame') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find(pred);
        if (f || this.isClosed) { finish(); resolve(f || null); }
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`no ${what} within ${ms}ms; got ${this.summary()}`)); }, ms);
      const finish = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  // Resolves true when the connection is closed, or false after `ms`.
  waitClosed(ms) {
    return Promise.race([this.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), ms).unref())]);
  }

  goaway() {
    const f = this.frames.find((x) => x.type === TYPE.GOAWAY);
    return f && { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  // The status of the response on `streamId` (null if not decodable, undefined if none yet).
  status(streamId) {
    const f = this.frames.find((x) => x.type === TYPE.HEADERS && x.streamId === streamId);
    return f === undefined ? undefined : responseStatus(f.payload);
  }

  rst(streamId) {
    const f = this.frames.find((x) => x.type === TYPE.RST_STREAM && x.streamId === streamId);
    return f && f.payload.readUInt32BE(0);
  }

  // The DATA bytes received on a stream, and whether END_STREAM came (on DATA or
  // on HEADERS, for a response without a body).
  body(streamId) {
    const fs = this.frames.filter((x) => (x.type === TYPE.DATA || x.type === TYPE.HEADERS) && x.streamId === streamId);
    return { bytes: fs.reduce((n, f) => n + (f.type === TYPE.DATA ? f.payload.length : 0), 0),
             ended: fs.some((f) => f.flags & FLAG.END_STREAM) };
  }

  // Resolves once the response on `streamId` is complete, or reset, or the
  // connection closed; rejects after `ms`.
  async waitEnd(streamId, ms = 3000) {
    await this.waitFrame(() => this.body(streamId).ended || this.rst(streamId) !== undefined, ms,
                         `the end of stream ${streamId}`);
  }

  summary() {
    const counts = {};
    for (const f of this.frames) counts[f.typeName] = (counts[f.typeName] || 0) + 1;
    return `${JSON.stringify(counts)}${this.isClosed ? ', closed' : ''}`;
  }

  destroy() { this.sock.destroy(); }
}

module.exports = { PREFACE, TYPE, FLAG, ERROR, SETTING, frame, settings, headers, continuation, data,
                   rstStream, ping, windowUpdate, priority, goaway, hpackInt, hpackString, indexed,
                   literal, tableSizeUpdate, requestBlock, FrameSplitter, responseStatus, RawH2 };
