// Pure helpers for the wsbridge.tty.v1 protocol: URLs, close codes, backoff
// and client options. No DOM or socket here, so node's test runner covers it.

export const SUBPROTOCOL = 'wsbridge.tty.v1';

/** Close code the server uses when it does not know a session token. */
export const CLOSE_UNKNOWN_SESSION = 4400;

/** Largest binary frame of input: big pastes are split so no single frame
 * runs into the server's --maxframesize. */
export const MAX_INPUT_FRAME = 32 * 1024;

/**
 * The WebSocket URL for the page at pageHref: same host and path, ws: or
 * wss: to match http: or https:, the page's own query parameters kept, and
 * cols, rows and (when resuming) session set.
 * @param {string} pageHref
 * @param {{cols?: number, rows?: number, session?: string|null}} p
 */
export function socketURL(pageHref, { cols, rows, session }) {
  const u = new URL(pageHref);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  if (cols > 0 && rows > 0) {
    u.searchParams.set('cols', String(cols));
    u.searchParams.set('rows', String(rows));
  }
  if (session) u.searchParams.set('session', session);
  else u.searchParams.delete('session');
  return u.toString();
}

/**
 * True when a close code means the program ended (so there is nothing to
 * resume): 1000 (status 0), 4000-4255 (status 1-255), 1011 (signal).
 * @param {number} code
 */
export function isExit(code) {
  return code === 1000 || code === 1011 || (code >= 4000 && code <= 4255);
}

/**
 * True when a close code means the connection, not the program, went away,
 * so a resumable session is worth reconnecting to.
 * @param {number} code
 */
export function isConnectionLoss(code) {
  // 1001 going away (server shutdown or restart), 1005 no status, 1006
  // abnormal (network, proxy, crash), 1012 service restart, 1013 try later.
  return [1001, 1005, 1006, 1012, 1013].includes(code);
}

/**
 * What the overlay says for a close.
 * @param {number} code
 * @param {string} reason
 */
export function describeClose(code, reason) {
  if (code === 1000) return 'exited';
  if (code > 4000 && code <= 4255) return `exited with status ${code - 4000}`;
  if (code === 4000) return 'exited';
  switch (code) {
    case 1011:
      return reason || 'internal server error';
    case 1001:
      return 'server shutting down';
    case 1006:
      return 'connection lost';
    case CLOSE_UNKNOWN_SESSION:
      return 'unknown session';
  }
  return reason ? `closed (${code}): ${reason}` : `closed (${code})`;
}

/**
 * Delay before reconnect attempt n (0-based): 0.5 s, 1 s, 2 s ... at most 10 s.
 * @param {number} attempt
 */
export function backoff(attempt) {
  return Math.min(500 * 2 ** Math.max(0, attempt), 10000);
}

function toBool(s) {
  const v = s.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  return undefined;
}

function toNumber(s) {
  const n = Number(s);
  return s.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function toTheme(s) {
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

// Client options the page understands and how each string is parsed. All
// but those of pageOptions are xterm.js Terminal options of the same name.
const parsers = {
  fontSize: toNumber,
  fontFamily: (s) => s,
  theme: toTheme,
  cursorBlink: toBool,
  scrollback: toNumber,
  renderer: (s) => (['webgl', 'dom'].includes(s) ? s : undefined),
  images: toBool,
  osc52: (s) => (['ask', 'allow', 'deny'].includes(s) ? s : undefined),
};

// The page's own options (not xterm.js's), with their defaults: renderer,
// images (sixel and iTerm2 inline images), osc52 (may a program set the
// clipboard: ask the user, allow, deny).
const pageOptions = { renderer: 'webgl', images: false, osc52: 'ask' };

/**
 * Turns the server's string map of client options into typed values.
 * Unknown keys and unparsable values are reported in `ignored` and skipped,
 * so one typo does not break the page.
 * @param {Record<string, string>|undefined} raw
 * @returns {{terminal: object, renderer: string, images: boolean, osc52: string, ignored: string[]}}
 */
export function parseClientOptions(raw) {
  const out = { terminal: {}, ...pageOptions, ignored: [] };
  for (const [key, value] of Object.entries(raw || {})) {
    const parse = Object.hasOwn(parsers, key) ? parsers[key] : null;
    const v = parse && typeof value === 'string' ? parse(value) : undefined;
    if (v === undefined) out.ignored.push(key);
    else if (Object.hasOwn(pageOptions, key)) out[key] = v;
    else out.terminal[key] = v;
  }
  return out;
}

/**
 * Splits bytes into frames of at most max bytes.
 * @param {Uint8Array} bytes
 * @param {number} [max]
 */
export function chunks(bytes, max = MAX_INPUT_FRAME) {
  const out = [];
  for (let i = 0; i < bytes.length; i += max) out.push(bytes.subarray(i, i + max));
  return out;
}

/**
 * Latin-1 string from xterm's onBinary (one char per byte) to bytes.
 * @param {string} s
 */
export function binaryStringToBytes(s) {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}
