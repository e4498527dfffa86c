// The bar of keys a phone's on-screen keyboard lacks: Esc, Tab, Ctrl, Alt,
// the arrows, | ~ /. Ctrl and Alt are sticky: tap one, then type a key on
// the phone's keyboard, and that key is sent with the modifier (Ctrl then
// c sends 0x03). It shows by itself on touch-only devices (a coarse
// pointer that cannot hover) and hides on devices with a keyboard; its
// button shows and hides it.

/** The keys of the bar: label, and what it sends (a function of the
 * terminal for the arrows, whose sequences follow the cursor key mode). */
const arrow = (c) => (term) => (term.modes.applicationCursorKeysMode ? `\x1bO${c}` : `\x1b[${c}`);
export const KEYS = [
  ['Esc', '\x1b'],
  ['Tab', '\t'],
  ['Ctrl', 'ctrl'],
  ['Alt', 'alt'],
  ['←', arrow('D')],
  ['↑', arrow('A')],
  ['↓', arrow('B')],
  ['→', arrow('C')],
  ['|', '|'],
  ['~', '~'],
  ['/', '/'],
];

/**
 * ctrlKey is what Ctrl with one character sends, or null when the
 * character has no control code (it is then sent as is).
 * @param {string} ch
 */
export function ctrlKey(ch) {
  if (ch.length !== 1) return null;
  const c = ch.toUpperCase().charCodeAt(0);
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c - 0x40); // @ A-Z [ \ ] ^ _
  if (ch === ' ') return '\x00';
  if (ch === '?') return '\x7f';
  return null;
}

/** touchOnly: the device has no hovering pointer, so likely no keyboard. */
export function touchOnly(matchMedia = globalThis.matchMedia) {
  return !!matchMedia?.('(pointer: coarse) and (hover: none)').matches;
}

export class KeyBar {
  /**
   * @param {HTMLElement} bar
   * @param {HTMLElement} toggle
   * @param {import('@xterm/xterm').Terminal} term
   */
  constructor(bar, toggle, term) {
    this.bar = bar;
    this.toggle = toggle;
    this.term = term;
    this.ctrl = false;
    this.alt = false;
    this.buttons = {};
    for (const [label, key] of KEYS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.dataset.key = label;
      // pointerdown, not click: the terminal keeps the focus, so the phone's
      // keyboard stays open.
      b.addEventListener('pointerdown', (ev) => {
        ev.preventDefault();
        this.press(key);
      });
      bar.appendChild(b);
      this.buttons[label] = b;
    }
    toggle.addEventListener('click', () => this.show(this.bar.hidden));
    this.touch = touchOnly();
    toggle.hidden = !this.touch;
    this.show(this.touch);
  }

  show(on) {
    this.bar.hidden = !on;
    document.body.classList.toggle('keybar', on);
    this.toggle.setAttribute('aria-pressed', String(on));
  }

  /** setWritable: a read-only terminal has no use for the bar. */
  setWritable(w) {
    if (!this.touch) return;
    this.toggle.hidden = !w;
    this.show(w && this.toggle.getAttribute('aria-pressed') !== 'false');
  }

  press(key) {
    if (key === 'ctrl' || key === 'alt') {
      this[key] = !this[key];
      this.buttons[key === 'ctrl' ? 'Ctrl' : 'Alt'].classList.toggle('on', this[key]);
      return;
    }
    // term.input goes through onData like a typed key, so the modifiers,
    // transfers and read-only rules apply to the bar's keys too.
    this.term.input(typeof key === 'function' ? key(this.term) : key, true);
    this.term.focus();
  }

  /** modify applies the sticky modifiers to typed input, then releases
   * them. */
  modify(s) {
    if (!this.ctrl && !this.alt) return s;
    let out = s;
    if (this.ctrl && s.length === 1) out = ctrlKey(s) ?? s;
    if (this.alt) out = '\x1b' + out;
    this.ctrl = this.alt = false;
    this.buttons.Ctrl.classList.remove('on');
    this.buttons.Alt.classList.remove('on');
    return out;
  }
}
