// SPDX-License-Identifier: Apache-2.0
// TLS certificates: several certificates chosen by SNI with the first as the
// default, TLS 1.2 as the floor, AEAD suites only, session resumption by ticket,
// and certificates reloaded on SIGHUP (a broken one keeps the running set).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const h = require('./lib/harness');

// A self-signed certificate for `name` (EC P-256) in its own directory.
function makeCert(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sni-'));
  const cert = path.join(dir, 'c.pem');
  const key = path.join(dir, 'c.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
    '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  return { cert, key };
}

function tlsConfig(originPort, def, extra) {
  const more = extra.map((c) => `{ cert = ${JSON.stringify(c.cert)}, key = ${JSON.stringify(c.key)} }`).join(', ');
  return `workers = 1\nlisten = { { addr = "127.0.0.1:0", tls = { cert = ${JSON.stringify(def.cert)}, ` +
    `key = ${JSON.stringify(def.key)}, certificates = { ${more} } } } }\n` +
    `origins = { api = { servers = { "127.0.0.1:${originPort}" } } }\n` +
    'routes = { { path = "/*", origin = "api" } }\n';
}

// The subject CN the server presented for `servername` (undefined: none sent).
function presented(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const out = { session: null };
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const cert = s.getPeerCertificate();
      Object.assign(out, { cn: cert.subject && cert.subject.CN, version: s.getProtocol(),
                           cipher: s.getCipher().name, reused: s.isSessionReused() });
      s.write('GET /api/nav HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      s.on('data', () => {});
      s.on('end', () => resolve(out));
    });
    s.once('session', (sess) => { out.session = sess; });
    s.on('error', reject);
  });
}

let origin;
const def = makeCert('default.test');
const shop = makeCert('shop.test');
const other = makeCert('other.test');
test.before(async () => { origin = await h.startOrigin(); });
test.after(async () => { await origin.stop(); });

test('SNI picks the matching certificate; no or unknown SNI gets the default', async () => {
  const edge = await h.startTessera(tlsConfig(origin.port, def, [shop]));
  try {
    const port = edge.ports[0];
    assert.strictEqual((await presented(port, { servername: 'shop.test' })).cn, 'shop.test');
    assert.strictEqual((await presented(port, { servername: 'unknown.test' })).cn, 'default.test');
    assert.strictEqual((await presented(port, {})).cn, 'default.test');
  } finally { await edge.stop(); }
});

test('TLS 1.2 with an AEAD suite is negotiated; TLS 1.1 and CBC-only clients are refused', async () => {
  const edge = await h.startTessera(tlsConfig(origin.port, def, []));
  try {
    const port = edge.ports[0];
    const ok = await presented(port, { servername: 'default.test' });
    assert.strictEqual(ok.version, 'TLSv1.2');
    assert.match(ok.cipher, /GCM|CHACHA20/);
    await assert.rejects(presented(port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
    await assert.rejects(presented(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' }));
  } finally { await edge.stop(); }
});

test('a session ticket resumes the session', async () => {
  const edge = await h.startTessera(tlsConfig(origin.port, def, []));
  try {
    const port = edge.ports[0];
    const first = await presented(port, { maxVersion: 'TLSv1.2' });
    assert.ok(first.session, 'a ticket was issued');
    const second = await presented(port, { maxVersion: 'TLSv1.2', session: first.session });
    assert.strictEqual(second.reused, true);
  } finally { await edge.stop(); }
});

test('SIGHUP reloads certificates; a broken one keeps the running set', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-reload-'));
  const live = { cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live.key') };
  fs.copyFileSync(def.cert, live.cert);
  fs.copyFileSync(def.key, live.key);
  const edge = await h.startTessera(tlsConfig(origin.port, live, []));
  try {
    const port = edge.ports[0];
    assert.strictEqual((await presented(port)).cn, 'default.test');
    fs.copyFileSync(other.cert, live.cert);
    fs.copyFileSync(other.key, live.key);
    edge.signal('SIGHUP');
    await h.waitFor(async () => (await presented(port)).cn === 'other.test', 5000, 'new certificate');
    fs.writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    edge.signal('SIGHUP');
    await h.waitFor(() => /certificate failed to load; keeping/.test(edge.stderr()), 5000, 'refusal logged');
    assert.strictEqual((await presented(port)).cn, 'other.test');
  } finally { await edge.stop(); }
});
