import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as p from './protocol.js';

test('socketURL keeps path and query, swaps scheme, sets size', () => {
  assert.equal(
    p.socketURL('http://h:8080/shell?arg=foo#x', { cols: 80, rows: 24 }),
    'ws://h:8080/shell?arg=foo&cols=80&rows=24',
  );
  assert.equal(
    p.socketURL('https://h/a/b/?arg=1&arg=2', { cols: 100, rows: 30, session: 'tok/+=' }),
    'wss://h/a/b/?arg=1&arg=2&cols=100&rows=30&session=tok%2F%2B%3D',
  );
});

test('socketURL replaces stale size and session, drops session when none', () => {
  const u = p.socketURL('http://h/s?cols=1&rows=2&session=old', { cols: 3, rows: 4 });
  assert.equal(u, 'ws://h/s?cols=3&rows=4');
  assert.equal(p.socketURL('http://h/s', {}), 'ws://h/s');
});

test('describeClose', () => {
  assert.equal(p.describeClose(1000, ''), 'exited');
  assert.equal(p.describeClose(4001, 'exit status 1'), 'exited with status 1');
  assert.equal(p.describeClose(4255, ''), 'exited with status 255');
  assert.equal(p.describeClose(1011, 'killed by signal KILL'), 'killed by signal KILL');
  assert.equal(p.describeClose(1011, ''), 'internal server error');
  assert.equal(p.describeClose(1001, ''), 'server shutting down');
  assert.equal(p.describeClose(1006, ''), 'connection lost');
  assert.equal(p.describeClose(4400, 'unknown session'), 'unknown session');
  assert.equal(p.describeClose(1008, 'origin not allowed'), 'closed (1008): origin not allowed');
  assert.equal(p.describeClose(1009, ''), 'closed (1009)');
});

test('exit and connection-loss codes are disjoint', () => {
  for (const c of [1000, 1011, 4000, 4001, 4255]) {
    assert.equal(p.isExit(c), true, String(c));
    assert.equal(p.isConnectionLoss(c), false, String(c));
  }
  for (const c of [1001, 1005, 1006, 1012, 1013]) {
    assert.equal(p.isExit(c), false, String(c));
    assert.equal(p.isConnectionLoss(c), true, String(c));
  }
  for (const c of [1008, 1009, 4400]) {
    assert.equal(p.isExit(c) || p.isConnectionLoss(c), false, String(c));
  }
});

test('backoff doubles from 0.5 s up to 10 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map(p.backoff), [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
});

test('parseClientOptions types values and skips bad ones', () => {
  const r = p.parseClientOptions({
    fontSize: '15',
    fontFamily: 'Fira Code, monospace',
    theme: '{"background":"#101010"}',
    cursorBlink: 'true',
    scrollback: '5000',
    renderer: 'dom',
    bogus: 'x',
  });
  assert.deepEqual(r.terminal, {
    fontSize: 15,
    fontFamily: 'Fira Code, monospace',
    theme: { background: '#101010' },
    cursorBlink: true,
    scrollback: 5000,
  });
  assert.equal(r.renderer, 'dom');
  assert.deepEqual(r.ignored, ['bogus']);
  const bad = p.parseClientOptions({ fontSize: 'big', theme: '[1]', cursorBlink: 'maybe', renderer: 'canvas' });
  assert.deepEqual(bad.terminal, {});
  assert.equal(bad.renderer, 'webgl');
  assert.deepEqual(bad.ignored.sort(), ['cursorBlink', 'fontSize', 'renderer', 'theme']);
  assert.deepEqual(p.parseClientOptions(undefined).terminal, {});
  assert.deepEqual(p.parseClientOptions({ __proto__: 'x', toString: '1' }).ignored, ['toString']);
});

test('chunks and binaryStringToBytes', () => {
  const b = new Uint8Array(70000);
  assert.deepEqual(p.chunks(b).map((c) => c.length), [32768, 32768, 4464]);
  assert.deepEqual(p.chunks(new Uint8Array(0)), []);
  assert.deepEqual([...p.binaryStringToBytes('\x00\x1b\xff')], [0, 27, 255]);
});

test('parseClientOptions reads the page options images and osc52', () => {
  const d = p.parseClientOptions({});
  assert.equal(d.images, false);
  assert.equal(d.osc52, 'ask');
  const r = p.parseClientOptions({ images: 'true', osc52: 'allow' });
  assert.equal(r.images, true);
  assert.equal(r.osc52, 'allow');
  assert.deepEqual(r.terminal, {});
  assert.deepEqual(p.parseClientOptions({ osc52: 'read' }).ignored, ['osc52']);
});
