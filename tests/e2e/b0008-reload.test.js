// SPDX-License-Identifier: Apache-2.0
// SIGHUP reload: under steady load no request fails while the configuration is
// reloaded several times; the new routes take effect; an invalid file is logged
// and the running configuration kept. SIGUSR1 reopens the access log.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const h = require('./lib/harness');

let origin;
test.before(async () => { origin = await h.startOrigin(['-w', '2']); });
test.after(async () => { await origin.stop(); });

test('reloads under load fail no request, and new routes apply', async () => {
  const o = { api: [`127.0.0.1:${origin.port}`] };
  const v1 = h.config({ origins: o, routes: [{ path: '/api/*', origin: 'api' }] });
  const v2 = h.config({ origins: o, routes: [{ path: '/api/*', origin: 'api' }, { path: '/echo', origin: 'api' }] });
  const edge = await h.startTessera(v1);
  try {
    assert.strictEqual((await h.request({ port: edge.port, path: '/echo' })).status, 404);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    let stop = false;
    let ok = 0;
    const failures = [];
    const one = () => new Promise((resolve) => {
      http.get({ host: '127.0.0.1', port: edge.port, path: '/api/product/7', agent }, (res) => {
        res.resume();
        res.on('end', () => { if (res.statusCode === 200) ok++; else failures.push(res.statusCode); resolve(); });
      }).on('error', (e) => { failures.push(e.code); resolve(); });
    });
    const loop = async () => { while (!stop) await one(); };
    const loops = Array.from({ length: 16 }, loop);
    for (let i = 0; i < 6; i++) {
      await h.waitFor(() => ok > (i + 1) * 100, 5000, 'requests flowing');
      edge.rewrite(i % 2 === 0 ? v2 : v1);
      edge.signal('SIGHUP');
      await h.waitFor(() => (edge.stderr().match(/configuration reloaded/g) || []).length === i + 1,
        5000, 'reload logged');
    }
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    assert.deepStrictEqual(failures, []);
    assert.ok(ok > 600);
    // Six reloads alternate v2, v1, ...: the last one loaded is v1.
    edge.rewrite(v2);
    edge.signal('SIGHUP');
    await h.waitFor(async () => (await h.request({ port: edge.port, path: '/echo' })).status === 200,
      5000, '/echo routed after reload');
  } finally { await edge.stop(); }
});

test('an invalid configuration on reload is refused and the old one kept', async () => {
  const cfg = h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } });
  const edge = await h.startTessera(cfg);
  try {
    edge.rewrite(cfg + '\ntimeouts = { keepalve = "1s" }\n');
    edge.signal('SIGHUP');
    await h.waitFor(() => /keeping the running configuration/.test(edge.stderr()), 5000, 'refusal logged');
    assert.match(edge.stderr(), /timeouts\.keepalve/);
    const r = await h.request({ port: edge.port, path: '/api/nav' });
    assert.strictEqual(r.status, 200);
  } finally { await edge.stop(); }
});

test('SIGUSR1 reopens the access log after rotation', async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tessera-log-'));
  const log = path.join(dir, 'access.log');
  const cfg = h.config({ origins: { api: [`127.0.0.1:${origin.port}`] }, workers: 1,
    extra: `log = { access = ${JSON.stringify(log)}, format = "json" }` });
  const edge = await h.startTessera(cfg);
  try {
    await h.request({ port: edge.port, path: '/api/product/3' });
    await h.waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('/api/product/3'),
      5000, 'first line');
    const line = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n')[0]);
    assert.strictEqual(line.method, 'GET');
    assert.strictEqual(line.status, 200);
    assert.ok(line.bytes > 0);
    assert.strictEqual(typeof line.upstream_time, 'number');
    fs.renameSync(log, `${log}.1`);
    edge.signal('SIGUSR1');
    await h.waitFor(() => /logs reopened/.test(edge.stderr()), 5000, 'reopen logged');
    await h.request({ port: edge.port, path: '/api/product/4' });
    await h.waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('/api/product/4'),
      5000, 'line in the new file');
    assert.ok(!fs.readFileSync(`${log}.1`, 'utf8').includes('/api/product/4'));
  } finally { await edge.stop(); }
});
