// SPDX-License-Identifier: Apache-2.0
// A failed fragment falls back to its last good copy within its stale-if-error
// window before its static fallback (composition issue, item 3; RFC 5861 4):
// when its origin answers 5xx and when it does not answer within the fragment's
// timeout. Waits poll a condition (the stored copy going stale), never a clock.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness');

const TEMPLATES = {
  'pages/s.html.mustache': '<p class="v">{{doc.v}}</p>{{^doc}}<p class="none">none</p>{{/doc}}\n',
};

let fixture, edge;
before(async () => {
  fixture = await h.startFixtureOrigin();
  const frag = (p, sie) => ({ origin: 'fx', path: p, timeout: '300ms', stale_if_error: sie,
                              fallback: { v: 'fallback' } });
  edge = await h.startTessera(h.pageConfig({
    origins: { fx: [`127.0.0.1:${fixture.port}`] },
    templates: h.templateDir(TEMPLATES),
    routes: [ // pages not cached: every request composes
      { path: '/kept/:n', template: 'pages/s', fragments: { doc: frag('/kept/:n', '1h') } },
      { path: '/slow/:n', template: 'pages/s', fragments: { doc: frag('/slow/:n', '1h') } },
      { path: '/none/:n', template: 'pages/s', fragments: { doc: frag('/none/:n', '0s') } },
    ],
  }));
});
after(async () => {
  if (edge) await edge.stop();
  if (fixture) await fixture.stop();
});

const c = h.client('h1');
after(() => c.close());
const fresh = { 'cache-control': 'max-age=1' };

// Stores version 1 of the fragment (fresh for 1 s), switches its origin to
// `then`, and returns the page answered by the first request that went to the
// origin again (its stored copy had expired): the one that meets the failure.
async function afterExpiry(kind, n, then) {
  const p = `/${kind}/${n}`;
  fixture.serve(p, { body: { v: 'one' }, headers: fresh });
  const first = await c.request({ edge, path: p });
  assert.match(first.body, /<p class="v">one<\/p>/);
  fixture.serve(p, then);
  const seen = fixture.seen(p).length;
  let r;
  await h.waitFor(async () => {
    r = await c.request({ edge, path: p });
    return fixture.seen(p).length > seen;
  }, 5000, 'the fragment copy to expire');
  return r;
}

describe('last good copy of a fragment (RFC 5861 4)', () => {
  it('an origin error gives the last good copy, not the fallback', async () => {
    const r = await afterExpiry('kept', 1, { status: 500, body: { error: 'down' } });
    assert.strictEqual(r.status, 200);
    assert.match(r.body, /<p class="v">one<\/p>/);
  });

  it('a fragment timeout gives the last good copy, not the fallback', async () => {
    const r = await afterExpiry('slow', 2, { body: { v: 'two' }, headers: fresh, delay: 1500 });
    assert.strictEqual(r.status, 200);
    assert.match(r.body, /<p class="v">one<\/p>/);
  });

  it('without a stale-if-error window the fallback is used', async () => {
    const r = await afterExpiry('none', 3, { status: 500, body: { error: 'down' } });
    assert.strictEqual(r.status, 200);
    assert.match(r.body, /<p class="v">fallback<\/p>/);
  });
});
