// SPDX-License-Identifier: Apache-2.0
// The command line: -t checks a configuration (exit 0/1, errors name the key),
// -v prints the versions, --help and --help-config describe the usage.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./lib/harness');

const run = (...args) => spawnSync(h.TESSERA, args, { encoding: 'utf8', cwd: h.ROOT });

test('-t accepts the demo configuration', () => {
  const r = run('-t', '-c', path.join(h.ROOT, 'conf', 'tessera.lua'));
  assert.strictEqual(r.status, 0, r.stderr);
});

test('-t refuses a typo and names the key with a suggestion', () => {
  const r = run('-t', '-c', path.join(h.ROOT, 'conf', 'examples', 'bad-typo.lua'));
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /bad-typo\.lua:\d+: timeouts\.keepalve/);
  assert.match(r.stderr, /did you mean "keepalive"/);
});

test('-t reports every error, each with its key path', () => {
  const f = h.tmpFile('bad.lua', 'listen = { { addr = "127.0.0.1:nope" } }\n' +
    'origins = { api = { servers = { "127.0.0.1:1" }, timeout = "soon" } }\n' +
    'routes = { { path = "/x", origin = "apu" } }\n');
  const r = run('-t', '-c', f);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /listen\[1\]\.addr/);
  assert.match(r.stderr, /origins\.api\.timeout: expected a duration like "30s".*got "soon"/);
  assert.match(r.stderr, /routes\[1\]\.origin/);
});

test('-t on a missing file fails', () => {
  const r = run('-t', '-c', '/nonexistent/tessera.lua');
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /nonexistent/);
});

test('-v prints tessera and library versions', () => {
  const r = run('-v');
  assert.strictEqual(r.status, 0);
  assert.match(r.stdout, /^tessera \d+\.\d+\.\d+/);
  assert.match(r.stdout, /libevent 2\.1/);
  assert.match(r.stdout, /LuaJIT 2\.1/);
});

test('--help and --help-config', () => {
  const r = run('--help');
  assert.strictEqual(r.status, 0);
  assert.match(r.stdout, /-t/);
  const c = run('--help-config');
  assert.strictEqual(c.status, 0);
  assert.match(c.stdout, /timeouts\.header|header/);
  assert.match(c.stdout, /keepalive/);
});
