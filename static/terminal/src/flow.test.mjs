import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowControl, HIGH, LOW } from './flow.js';

function setup(opts = {}) {
  const sent = [];
  const fc = new FlowControl({
    ...opts,
    onPause: () => sent.push('pause'),
    onResume: () => sent.push('resume'),
  });
  return { fc, sent };
}

test('thresholds are the documented 128 KiB and 16 KiB', () => {
  assert.equal(HIGH, 131072);
  assert.equal(LOW, 16384);
});

test('small writes never pause', () => {
  const { fc, sent } = setup();
  for (let i = 0; i < 1000; i++) fc.written(1024)();
  assert.deepEqual(sent, []);
  assert.equal(fc.pending, 0);
});

test('pause once above HIGH, resume once below LOW', () => {
  const { fc, sent } = setup();
  const cbs = [];
  for (let i = 0; i < 200; i++) cbs.push(fc.written(1024)); // 200 KiB queued
  assert.deepEqual(sent, ['pause'], 'pause is sent exactly once');
  assert.equal(fc.paused, true);
  // Parse down to exactly LOW: still paused (strictly below is required).
  while (fc.pending > LOW) cbs.shift()();
  assert.equal(fc.pending, LOW);
  assert.deepEqual(sent, ['pause']);
  cbs.shift()();
  assert.deepEqual(sent, ['pause', 'resume'], 'resume is sent exactly once');
  while (cbs.length) cbs.shift()();
  assert.deepEqual(sent, ['pause', 'resume']);
  assert.equal(fc.pending, 0);
});

test('exactly HIGH does not pause; one byte more does', () => {
  const { fc, sent } = setup();
  fc.written(HIGH);
  assert.deepEqual(sent, []);
  fc.written(1);
  assert.deepEqual(sent, ['pause']);
});

test('pause/resume cycles repeat under sustained load', () => {
  const { fc, sent } = setup({ high: 100, low: 10 });
  for (let round = 0; round < 3; round++) {
    const cbs = [];
    for (let i = 0; i < 20; i++) cbs.push(fc.written(10));
    cbs.forEach((cb) => cb());
  }
  assert.deepEqual(sent, ['pause', 'resume', 'pause', 'resume', 'pause', 'resume']);
});

test('a callback counts once even if called twice', () => {
  const { fc } = setup();
  const cb = fc.written(500);
  fc.written(500);
  cb();
  cb();
  assert.equal(fc.pending, 500);
});

test('reset forgets the backlog and ignores stale callbacks', () => {
  const { fc, sent } = setup({ high: 100, low: 10 });
  const stale = fc.written(200);
  assert.deepEqual(sent, ['pause']);
  fc.reset();
  assert.equal(fc.paused, false);
  assert.equal(fc.pending, 0);
  const fresh = fc.written(50);
  stale(); // from the old connection: must not drive pending negative or resume
  assert.equal(fc.pending, 50);
  assert.deepEqual(sent, ['pause']);
  fresh();
  assert.equal(fc.pending, 0);
  assert.deepEqual(sent, ['pause'], 'no resume: the new connection was never paused');
});

test('low must be below high', () => {
  assert.throws(() => new FlowControl({ high: 10, low: 10, onPause() {}, onResume() {} }), RangeError);
});
