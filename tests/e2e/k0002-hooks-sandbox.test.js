// SPDX-License-Identifier: Apache-2.0
// The hook sandbox seen from outside: each escape attempt, memory bomb, endless
// loop and deep recursion in on_request is stopped, logged with script:line, and
// the request still gets a response: the route's error page under
// hook_errors = "fail" (the default), the response without the hook's effect
// under "ignore". The worker keeps serving, under concurrent failing requests
// too. A reload with a broken script is refused, naming script:line, and the
// old script keeps running; a fixed script is then picked up.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./lib/harness');

// One attempt per line, so that the line in the logged error is the attempt's.
const ATTEMPTS = [
  ['os', 'os.execute("touch /tmp/tessera-hook-escaped")'],
  ['io', 'io.open("/etc/passwd")'],
  ['require', 'require("ffi")'],
  ['dump', 'load(string.dump(function() return 1 end))'],
  ['loadstring', 'loadstring("return 1")'],
  ['debug', 'debug.getregistry()'],
  ['setfenv', 'setfenv(tostring, {})'],
  ['strmeta', 'getmetatable("").__index.dump(tostring)'],
  ['rawget', 'rawget(_G, "os").execute("id")'],
  ['rep', 'string.rep("x", 2 ^ 30)'],
  ['bomb', 'local s = string.rep("x", 2 ^ 20) for _ = 1, 40 do s = s .. s end'],
  ['loop', 'while true do end'],
  ['recurse', 'local function f(n) return 1 + f(n + 1) end f(1)'],
  ['error', 'error("plain failure")'],
];

function script(marker) {
  const lines = ['local attempts = {}'];
  const lineOf = {};
  for (const [name, code] of ATTEMPTS) {
    lines.push(`attempts[${JSON.stringify(name)}] = function() ${code} end`);
    lineOf[name] = lines.length;
  }
  lines.push('return {',
    '  on_request = function(req)',
    '    local f = attempts[req.query.t]',
    '    if f then f() end',
    '  end,',
    `  on_response = function(res) res.headers["x-hooked"] = ${JSON.stringify(marker)} end,`,
    '}', '');
  return { text: lines.join('\n'), lineOf };
}

let origin, edge, dir, file;
const { text: V1, lineOf } = script('v1');

before(async () => {
  origin = await h.startOrigin();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sandbox-'));
  file = path.join(dir, 'escape.lua');
  fs.writeFileSync(file, V1);
  edge = await h.startTessera(h.pageConfig({
    origins: { api: [`127.0.0.1:${origin.port}`] },
    routes: [
      { path: '/api/product/*', origin: 'api', hooks: file },
      { path: '/api/reviews/*', origin: 'api', hooks: file, hook_errors: 'ignore' },
      { path: '/*', origin: 'api' },
    ],
  }));
});
after(async () => { await edge.stop(); await origin.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

const get = (p) => h.request({ port: edge.port, path: p });
const logged = (name) => `${file}:${lineOf[name]}:`;

describe('sandbox', () => {
  for (const [name] of ATTEMPTS) {
    it(`${name}: stopped, logged with script:line, answered`, async () => {
      const before = edge.stderr().split(logged(name)).length;
      const r = await get(`/api/product/1?t=${name}`);
      assert.strictEqual(r.status, 500);
      assert.strictEqual(r.headers['x-hooked'], undefined);
      await h.waitFor(() => edge.stderr().split(logged(name)).length > before, 3000,
        `an error naming ${logged(name)}`);
      const ignored = await get(`/api/reviews/1?t=${name}`);
      assert.strictEqual(ignored.status, 200, 'hook_errors = "ignore": served without the hook');
      assert.strictEqual(ignored.headers['x-hooked'], 'v1', 'the other phases still run');
    });
  }

  it('nothing reached the host', () => {
    assert.strictEqual(fs.existsSync('/tmp/tessera-hook-escaped'), false);
  });

  it('the limits have clear messages', () => {
    const err = edge.stderr();
    assert.match(err, new RegExp(`${logged('loop').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} instruction budget`));
    assert.match(err, /memory cap of \d+ MB exceeded/);
  });

  it('failing hooks under concurrent load: no crash, the worker keeps serving', async () => {
    const names = ['loop', 'bomb', 'error', 'recurse', 'os'];
    const rs = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      get(`/api/product/${i}?t=${names[i % names.length]}`)));
    assert.ok(rs.every((r) => r.status === 500));
    const ok = await get('/api/product/2');
    assert.strictEqual(ok.status, 200);
    assert.strictEqual(ok.headers['x-hooked'], 'v1');
  });
});

describe('reload', () => {
  it('a broken script is refused naming script:line; the old one keeps running', async () => {
    fs.writeFileSync(file, 'return {\n  on_request = function(req)\n    if then end\n  end,\n}\n');
    const before = (edge.stderr().match(/refused|not reloaded|keeping/gi) || []).length;
    edge.signal('SIGHUP');
    await h.waitFor(() => edge.stderr().includes(`${file}:3:`), 5000, 'the syntax error logged');
    assert.ok((edge.stderr().match(/refused|not reloaded|keeping/gi) || []).length >= before);
    const r = await get('/api/product/3');
    assert.strictEqual(r.headers['x-hooked'], 'v1');
  });

  it('a fixed script is picked up by the next reload', async () => {
    fs.writeFileSync(file, script('v2').text);
    edge.signal('SIGHUP');
    await h.waitFor(async () => (await get('/api/product/4')).headers['x-hooked'] === 'v2', 5000,
      'the new script running');
  });
});
