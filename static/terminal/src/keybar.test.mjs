import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ctrlKey, touchOnly, KEYS } from './keybar.js';

test('ctrlKey gives the control code of letters and a few signs', () => {
  assert.equal(ctrlKey('c'), '\x03');
  assert.equal(ctrlKey('C'), '\x03');
  assert.equal(ctrlKey('['), '\x1b');
  assert.equal(ctrlKey('@'), '\x00');
  assert.equal(ctrlKey(' '), '\x00');
  assert.equal(ctrlKey('?'), '\x7f');
  assert.equal(ctrlKey('1'), null);
  assert.equal(ctrlKey('ab'), null);
});

test('the bar has the keys a phone lacks', () => {
  assert.deepEqual(
    KEYS.map(([label]) => label),
    ['Esc', 'Tab', 'Ctrl', 'Alt', '←', '↑', '↓', '→', '|', '~', '/'],
  );
  const up = KEYS.find(([l]) => l === '↑')[1];
  assert.equal(up({ modes: { applicationCursorKeysMode: false } }), '\x1b[A');
  assert.equal(up({ modes: { applicationCursorKeysMode: true } }), '\x1bOA');
});

test('touchOnly asks for a coarse pointer that cannot hover', () => {
  let asked = '';
  assert.equal(touchOnly((q) => ((asked = q), { matches: true })), true);
  assert.equal(asked, '(pointer: coarse) and (hover: none)');
  assert.equal(touchOnly(() => ({ matches: false })), false);
  assert.equal(touchOnly(undefined), false);
});
