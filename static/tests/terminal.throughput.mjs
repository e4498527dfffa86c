// Terminal output throughput in the browser: opens the terminal page of a
// server whose program writes BYTES bytes (e.g. `wsbridge --terminal cat
// 100MB.txt`) and measures, in the page, from the socket opening until all
// of them have arrived and xterm.js has parsed them:
//   node static/tests/terminal.throughput.mjs http://127.0.0.1:8080/ BYTES
// Prints "bytes N", "elapsed_ms T" and "MB/s X" (megabytes of 10^6 bytes).
// Uses Debian's /usr/bin/chromium (or CHROMIUM=) through playwright-core.
import { launch } from './browser.mjs';

const [url, bytesArg] = process.argv.slice(2);
const want = Number(bytesArg);
if (!url || !(want > 0)) {
  console.error('usage: node static/tests/terminal.throughput.mjs URL BYTES');
  process.exit(2);
}

// Counts the binary frames of every WebSocket the page opens. Installed
// before the page's own script runs (the CSP does not apply to it).
function countFrames() {
  const Native = window.WebSocket;
  const tp = (window.__throughput = { bytes: 0, openedAt: 0, frames: 0 });
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => (tp.openedAt ||= performance.now()));
      this.addEventListener('message', (ev) => {
        if (typeof ev.data === 'string') return;
        tp.bytes += ev.data.byteLength ?? ev.data.size;
        tp.frames++;
      });
    }
  };
}

let context;
let code = 0;
try {
  context = await launch({ viewport: { width: 1000, height: 600 } });
  await context.addInitScript(countFrames);
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  // Done when every byte arrived and xterm.js has parsed all it was given.
  const result = await page.waitForFunction(
    (n) => {
      const tp = window.__throughput;
      if (tp.bytes < n || !window.wsbridge?.flow || window.wsbridge.flow.pending > 0) return false;
      return { bytes: tp.bytes, frames: tp.frames, elapsed: performance.now() - tp.openedAt };
    },
    want,
    { timeout: 10 * 60 * 1000, polling: 20 },
  );
  const { bytes, frames, elapsed } = await result.jsonValue();
  console.log(`bytes ${bytes}`);
  console.log(`frames ${frames}`);
  console.log(`elapsed_ms ${Math.round(elapsed)}`);
  console.log(`MB/s ${(bytes / 1e6 / (elapsed / 1000)).toFixed(1)}`);
} catch (e) {
  console.log(`FAIL: ${e?.stack || e}`);
  code = 1;
} finally {
  await context?.close();
}
process.exit(code);
