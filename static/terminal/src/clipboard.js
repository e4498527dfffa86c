// Copy and paste with the browser's clipboard, and OSC 52.
//
// - Selecting text with the mouse copies it (as xterm-style terminals do).
// - Ctrl+Shift+V (and the browser's own paste) pastes through
//   term.paste, which wraps the text in ESC[200~ ... ESC[201~ when the
//   program asked for bracketed paste; Ctrl+Shift+C copies the selection.
// - OSC 52 lets a program (tmux, vim, neovim) set the clipboard. A program
//   could fill it with a command for the user to paste elsewhere, so the
//   page asks the user first ("ask", the default), or always accepts
//   ("allow") or ignores it ("deny"): --client-option=osc52=VALUE. A
//   program may never read the clipboard: OSC 52 queries get an empty
//   answer.

export const OSC52_POLICIES = ['ask', 'allow', 'deny'];

export class Clipboard {
  /**
   * @param {import('@xterm/xterm').Terminal} term
   * @param {string} policy  "ask", "allow" or "deny"
   */
  constructor(term, policy = 'ask') {
    this.term = term;
    this.policy = OSC52_POLICIES.includes(policy) ? policy : 'ask';
    this.pending = null; // text an OSC 52 asked to copy, awaiting the user
    this.copied = 0; // OSC 52 writes that reached the clipboard, for tests
    this.provider = {
      readText: () => '',
      writeText: (_selection, text) => this.osc52(text),
    };
    term.onSelectionChange(() => {
      const sel = term.getSelection();
      if (sel) navigator.clipboard?.writeText(sel).catch(() => {});
    });
    term.attachCustomKeyEventHandler((ev) => {
      if (ev.type !== 'keydown' || !ev.ctrlKey || !ev.shiftKey || ev.altKey) return true;
      if (ev.code === 'KeyV') {
        navigator.clipboard
          ?.readText()
          .then((t) => t && term.paste(t))
          .catch((e) => console.warn('wsbridge: cannot read the clipboard:', e?.message || e));
        return false;
      }
      if (ev.code === 'KeyC' && term.hasSelection()) {
        navigator.clipboard?.writeText(term.getSelection()).catch(() => {});
        return false;
      }
      return true;
    });
    const box = document.getElementById('osc52');
    document.getElementById('osc52-allow')?.addEventListener('click', () => this.answer(true, box));
    document.getElementById('osc52-deny')?.addEventListener('click', () => this.answer(false, box));
  }

  osc52(text) {
    if (this.policy === 'deny') return;
    if (this.policy === 'allow') return this.copy(text);
    this.pending = text;
    const box = document.getElementById('osc52');
    if (box) {
      document.getElementById('osc52-size').textContent = `${text.length} characters`;
      box.hidden = false;
    }
  }

  // The click on Allow is the user gesture the clipboard API wants.
  answer(allow, box) {
    const text = this.pending;
    this.pending = null;
    if (box) box.hidden = true;
    if (allow) this.policy = 'allow'; // for the rest of this page's life
    if (allow && text != null) this.copy(text);
    this.term.focus();
  }

  copy(text) {
    return navigator.clipboard
      ?.writeText(text)
      .then(() => this.copied++)
      .catch((e) => console.warn('wsbridge: OSC 52 copy refused by the browser:', e?.message || e));
  }
}
