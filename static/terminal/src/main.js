// The wsbridge browser terminal: xterm.js on a WebSocket speaking
// wsbridge.tty.v1 (see static/PROTOCOL.md). Binary frames carry terminal
// bytes both ways; text frames carry JSON control messages.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebglAddon } from '@xterm/addon-webgl';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { ClipboardAddon } from '@xterm/addon-clipboard';
import { ImageAddon } from '@xterm/addon-image';
import { FlowControl } from './flow.js';
import * as proto from './protocol.js';
import { Transfers } from './transfer.js';
import { KeyBar } from './keybar.js';
import { Clipboard } from './clipboard.js';

const $ = (id) => document.getElementById(id);

function readConfig() {
  try {
    return JSON.parse($('wsbridge-config')?.textContent || '{}') || {};
  } catch (e) {
    console.warn('wsbridge: bad page config', e);
    return {};
  }
}

const config = readConfig();
const opts = proto.parseClientOptions(config.clientOptions);
if (opts.ignored.length) console.warn('wsbridge: ignored client options:', opts.ignored.join(', '));
if (config.title) document.title = config.title;

const term = new Terminal({
  allowProposedApi: true, // term.unicode (Unicode 11 widths) is a proposed API
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
  fontSize: 14,
  scrollback: 5000,
  ...opts.terminal,
});
const fit = new FitAddon();
term.loadAddon(fit);
term.loadAddon(new WebLinksAddon());
term.loadAddon(new Unicode11Addon());
term.unicode.activeVersion = '11';
// Sixel and iTerm2 inline images only when the operator asked for them:
// decoding images costs memory and CPU that a plain shell never needs.
const images = opts.images ? new ImageAddon({ storageLimit: 32, pixelLimit: 4096 * 4096 }) : null;
if (images) term.loadAddon(images);
const clipboard = new Clipboard(term, opts.osc52);
term.loadAddon(new ClipboardAddon(undefined, clipboard.provider));
term.open($('terminal'));
if (opts.renderer === 'webgl') {
  const software = softwareGL();
  if (software) console.warn(`wsbridge: WebGL is software-rendered (${software}), using the faster DOM renderer`);
  else loadWebgl();
}
if (opts.terminal.theme?.background) document.body.style.background = opts.terminal.theme.background;
fit.fit();
term.focus();

// WebGL is much faster for heavy output, but it is missing on some GPUs,
// headless browsers and remote desktops; the DOM renderer always works.
// Where WebGL runs on the CPU (SwiftShader, llvmpipe: no GPU, a VM, a remote
// desktop) it is the slower of the two: about 6 MB/s of output against 16
// for the DOM renderer in headless Chromium.
function softwareGL() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return '';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name) ? name : '';
  } catch {
    return '';
  }
}

function loadWebgl() {
  try {
    const gl = new WebglAddon();
    gl.onContextLoss(() => gl.dispose()); // back to the DOM renderer
    term.loadAddon(gl);
  } catch (e) {
    console.warn('wsbridge: WebGL renderer unavailable, using the DOM renderer:', e?.message || e);
  }
}

// Everything tests and curious users need, kept current.
const wsb = (window.wsbridge = {
  term,
  state: 'connecting', // "connecting" | "open" (hello received) | "closed"
  lastClose: null, // {code, reason} of the last close
  session: new URL(location.href).searchParams.get('session'), // token to resume
  writable: false,
  reconnect: false, // from hello: may a lost connection resume the session?
  flow: null,
  transfers: null, // the file transfer state (transfer.js)
  keybar: null, // the phone key bar (keybar.js)
  clipboard, // the OSC 52 policy and copy-on-select (clipboard.js)
  images, // the ImageAddon, or null without images=true
});

let ws = null; // the current socket; events of older sockets are ignored
let sentToken = null; // session token of the current connection attempt
let lastSize = null; // {cols, rows} the server was last told
let attempt = 0; // failed reconnect attempts in a row, for the backoff
let retryTimer = 0;
let hadSession = false; // a fresh session after an old one clears the screen

const flow = (wsb.flow = new FlowControl({
  onPause: () => sendControl({ type: 'pause' }),
  onResume: () => sendControl({ type: 'resume' }),
}));
const encoder = new TextEncoder();

function sendControl(msg) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

const transfers = (wsb.transfers = new Transfers({
  write: (bytes) => term.write(bytes, flow.written(bytes.length)),
  send: (bytes) => {
    if (wsb.state === 'open' && wsb.writable) for (const frame of proto.chunks(bytes)) ws.send(frame);
  },
  sync: (seq) => sendControl({ type: 'sync', seq }),
  cols: () => term.cols,
  ui: transferPanel(),
}));

// transferPanel is the bar that shows a transfer's progress, the button
// that opens the file picker for an upload (browsers open one only from a
// click) and the cancel button.
function transferPanel() {
  const panel = $('transfer');
  const file = $('transfer-file');
  $('transfer-cancel').addEventListener('click', () => transfers.cancel());
  $('transfer-choose').addEventListener('click', () => file.click());
  file.addEventListener('change', () => {
    transfers.chosen(file.files);
    file.value = '';
  });
  file.addEventListener('cancel', () => transfers.chosen(null));
  const fmt = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);
  return {
    show(st) {
      panel.hidden = false;
      $('transfer-choose').hidden = st.state !== 'choosing';
      const what = st.state === 'choosing' ? 'Upload (ZMODEM): choose files' : `${st.protocol} ${st.direction} ${st.name}`;
      const amount = st.size ? `${fmt(st.bytes)} of ${fmt(st.size)}` : st.bytes ? fmt(st.bytes) : '';
      $('transfer-label').textContent = `${what} ${amount}`.trim();
      const bar = $('transfer-progress');
      if (st.size) {
        bar.max = st.size;
        bar.value = st.bytes;
      } else bar.removeAttribute('value');
    },
    hide() {
      panel.hidden = true;
      term.focus();
    },
    save(blob, name) {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name || 'download';
      a.hidden = true;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    },
  };
}

// Dropping files on the terminal uploads them with trzsz (it types `trz`
// itself), as ttyd does.
$('terminal').addEventListener('dragover', (ev) => {
  if (transfers.enabled) ev.preventDefault();
});
$('terminal').addEventListener('drop', (ev) => {
  if (!transfers.enabled) return;
  ev.preventDefault();
  transfers.upload(ev.dataTransfer.items);
});

function sendInput(bytes) {
  // Input typed while disconnected, or on a read-only session, is dropped:
  // queueing it would replay stale keystrokes into a shell later.
  if (wsb.state !== 'open' || !wsb.writable) return;
  for (const frame of proto.chunks(bytes)) ws.send(frame);
}

const keybar = (wsb.keybar = new KeyBar($('keybar'), $('keybar-toggle'), term));
term.onData((s) => {
  if (!transfers.input(s)) return;
  sendInput(encoder.encode(keybar.modify(s)));
});
term.onBinary((s) => {
  if (transfers.input(s)) sendInput(proto.binaryStringToBytes(s));
});
term.onTitleChange((t) => (document.title = t));

// Resizing: fit the terminal to its box when the window changes, then tell
// the server the new size. Both are debounced so a window drag does not
// flood the PTY with SIGWINCH.
let fitTimer = 0;
let resizeTimer = 0;
new ResizeObserver(() => {
  clearTimeout(fitTimer);
  fitTimer = setTimeout(() => fit.fit(), 30);
}).observe($('terminal'));
document.fonts?.ready.then(() => fit.fit()); // metrics change when web fonts load
term.onResize(({ cols }) => {
  transfers.resize(cols);
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(sendSize, 100);
});

function sendSize() {
  if (wsb.state !== 'open') return; // the next connect sends it in the URL
  const { cols, rows } = term;
  if (lastSize && lastSize.cols === cols && lastSize.rows === rows) return;
  lastSize = { cols, rows };
  sendControl({ type: 'resize', cols, rows });
}

function connect() {
  clearTimeout(retryTimer);
  ws?.close();
  flow.reset();
  transfers.reset();
  const dims = fit.proposeDimensions() || { cols: term.cols, rows: term.rows };
  lastSize = { cols: dims.cols, rows: dims.rows };
  sentToken = wsb.session;
  const sock = new WebSocket(proto.socketURL(location.href, { ...lastSize, session: sentToken }), proto.SUBPROTOCOL);
  sock.binaryType = 'arraybuffer';
  ws = sock;
  wsb.state = 'connecting';
  let opened = false;
  sock.onopen = () => (opened = true);
  sock.onmessage = (ev) => {
    if (sock !== ws) return;
    if (typeof ev.data === 'string') control(ev.data);
    else {
      transfers.output(new Uint8Array(ev.data));
    }
  };
  sock.onclose = (ev) => {
    if (sock === ws) closed(ev.code, ev.reason, opened);
  };
}

function control(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    console.warn('wsbridge: control message is not JSON:', text.slice(0, 100));
    return;
  }
  switch (msg?.type) {
    case 'hello': {
      const resumed = sentToken != null && msg.session === sentToken;
      wsb.session = typeof msg.session === 'string' && msg.session ? msg.session : null;
      wsb.writable = msg.writable === true;
      wsb.reconnect = msg.reconnect === true;
      // A new shell after an old one gets a clean screen, like a new window.
      // Queued behind pending output so it does not cut into it.
      if (!resumed && hadSession) term.write('', () => term.reset());
      hadSession = true;
      attempt = 0;
      term.options.disableStdin = !wsb.writable;
      // A watcher of a writable terminal (a read-only link, or not one of
      // --writers) is told so: others type here, it does not.
      $('badge').textContent = msg.watcher === true ? 'watching: others type, you cannot' : 'read-only';
      // A read-only page never answers a transfer: it could not send the
      // replies, and the server drops its input anyway.
      transfers.enabled = wsb.writable && msg.transfer === true;
      keybar.setWritable(wsb.writable);
      $('badge').hidden = wsb.writable;
      wsb.state = 'open';
      hideOverlay();
      sendSize(); // the window may have changed while connecting
      break;
    }
    case 'title':
      if (typeof msg.title === 'string') document.title = msg.title;
      break;
    case 'replay':
      // The binary frames up to "live" redraw the screen from scratch. The
      // reset goes through the write queue so it lands after older output.
      term.write('', () => term.reset());
      break;
    case 'live':
      break;
    case 'synced':
      if (Number.isSafeInteger(msg.seq)) transfers.synced(msg.seq);
      break;
    default: // newer servers may send more; ignoring them is the contract
  }
}

function closed(code, reason, opened) {
  ws = null;
  wsb.state = 'closed';
  wsb.lastClose = { code, reason };
  $('badge').hidden = true;
  flow.reset();
  transfers.reset();

  if (code === proto.CLOSE_UNKNOWN_SESSION && sentToken) {
    // The server forgot the session (restart, timeout): start a new one.
    wsb.session = null;
    showOverlay('session expired, starting a new one…', false);
    connect();
    return;
  }
  if (proto.isExit(code)) wsb.session = null; // nothing left to resume
  if (opened || !sentToken) return afterClose(code, reason, opened);
  // The upgrade itself failed. If the server answers plain HTTP it is up and
  // refused the token (an HTTP error on the upgrade): drop the token. If it
  // does not answer, it is down or unreachable: keep the token and wait.
  const token = sentToken;
  fetch(location.href, { method: 'HEAD', cache: 'no-store' })
    .then(() => {
      if (wsb.session === token) wsb.session = null;
    })
    .catch(() => {})
    .finally(() => afterClose(code, reason, opened));
}

// afterClose reconnects on its own when the session can be resumed and only
// the connection was lost; otherwise it waits for the Reconnect button.
function afterClose(code, reason, opened) {
  if (ws) return; // the user reconnected meanwhile
  // 1006 before the socket opened: no server, or it refused the upgrade.
  const what = !opened && code === 1006 ? 'cannot connect' : proto.describeClose(code, reason);
  if (!wsb.reconnect || !proto.isConnectionLoss(code)) {
    showOverlay(what, true);
    return;
  }
  const delay = proto.backoff(attempt++);
  showOverlay(`${what}, reconnecting in ${delay / 1000} s…`, false);
  retryTimer = setTimeout(connect, delay);
}

function showOverlay(message, focusButton) {
  $('overlay-message').textContent = message;
  $('overlay').hidden = false;
  if (focusButton) $('reconnect').focus();
}

function hideOverlay() {
  $('overlay').hidden = true;
  term.focus();
}

$('reconnect').addEventListener('click', () => {
  attempt = 0;
  connect();
});

connect();
