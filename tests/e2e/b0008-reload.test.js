// SPDX-License-Identifier: Apache-2.0
// SIGHUP reload, over HTTP/1.1, h2c and h2: under steady load no request fails
// while the configuration is reloaded several times; the new routes take effect;
// an invalid file is logged and the running configuration kept. SIGUSR1 reopens
// the access log.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

let origin;
before(async () => { origin = await h.startOrigin(['-w', '2']); });
after(async () => { await origin.stop(); });

for (const proto of h.PROTOCOLS) {
  describe(proto, () => {
    // 16 requests in flight at a time: 16 pooled connections for HTTP/1.1,
    // 16 concurrent streams on one session for HTTP/2.
    const c = h.client(proto, { keepAlive: true, maxSockets: 16 });
    after(() => c.close());

    it('reloads under load fail no request, and new routes apply', async () => {
      const o = { api: [`127.0.0.1:${origin.port}`] };
      const v1 = h.config({ origins: o, routes: [{ path: '/api/*', origin: 'api' }] });
      const v2 = h.config({ origins: o, routes: [{ path: '/api/*', origin: 'api' }, { path: '/echo', origin: 'api' }] });
      const edge = await h.startTessera(v1);
      try {
        assert.strictEqual((await c.request({ edge, path: '/echo' })).status, 404);
        let stop = false;
        let ok = 0;
        const failures = [];
        const one = async () => {
          try {
            const r = await c.request({ edge, path: '/api/product/7' });
            if (r.status === 200 && JSON.parse(r.body).id === 7) ok++;
            else failures.push(r.status);
          } catch (e) {
            failures.push(e.code || e.message);
          }
        };
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
        assert.deepStrictEqual(failures, []);
        assert.ok(ok > 600);
        // Six reloads alternate v2, v1, ...: the last one loaded is v1.
        edge.rewrite(v2);
        edge.signal('SIGHUP');
        await h.waitFor(async () => (await c.request({ edge, path: '/echo' })).status === 200,
          5000, '/echo routed after reload');
      } finally { await c.close(); await edge.stop(); }
    });

    it('an invalid configuration on reload is refused and the old one kept', async () => {
      const cfg = h.config({ origins: { api: [`127.0.0.1:${origin.port}`] } });
      const edge = await h.startTessera(cfg);
      try {
        assert.strictEqual((await c.request({ edge, path: '/api/nav' })).status, 200);
        edge.rewrite(cfg + '\ntimeouts = { keepalve = "1s" }\n');
        edge.signal('SIGHUP');
        await h.waitFor(() => /keeping the running configuration/.test(edge.stderr()), 5000, 'refusal logged');
        assert.match(edge.stderr(), /timeouts\.keepalve/);
        // On the connection opened before the reload and on a new one.
        assert.strictEqual((await c.request({ edge, path: '/api/nav' })).status, 200);
        await c.close();
        assert.strictEqual((await c.request({ edge, path: '/api/nav' })).status, 200);
      } finally { await c.close(); await edge.stop(); }
    });
  });
}

it('SIGUSR1 reopens the access log after rotation', async () => {
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
