// Browser tests of the terminal page's features, one per run, against a
// running `wsbridge --terminal` (the Go tests in e2e_page_test.go start it):
//   node static/tests/page.browser.mjs URL TEST [ARGS...]
// TEST is one of:
//   zmodem-download FILE SHA256   sz FILE downloads it; the saved file's hash
//   zmodem-upload LOCALFILE       rz, the picker gets LOCALFILE (the Go test
//                                 checks what the server wrote)
//   zmodem-cancel FILE            sz FILE, cancel half way, the shell answers
//   trzsz-download FILE SHA256    tsz FILE, saved through the File System
//                                 Access API (a stand-in directory)
//   trzsz-upload LOCALFILE        trz, the picker (a stand-in) gives LOCALFILE
//   no-transfer FILE              sz FILE shows ZMODEM bytes, no download
//   keybar                        mobile emulation: tap Ctrl, type c
//   clipboard                     OSC 52 after Allow, bracketed paste
//   images on|off                 a sixel image is drawn, or not
// Prints "ok ..." per step and exits 0 when all pass.
import { devices } from 'playwright-core';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { launch, check } from './browser.mjs';

const [url, test, ...args] = process.argv.slice(2);
if (!url || !test) {
  console.error('usage: node static/tests/page.browser.mjs URL TEST [ARGS...]');
  process.exit(2);
}

// Runs in the page: the terminal's whole buffer as text.
function bufferText() {
  const b = window.wsbridge.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
  return lines.join('\n');
}

async function waitForText(page, re, timeout, what) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const m = (await page.evaluate(bufferText)).match(re);
    if (m) return m;
    if (Date.now() > deadline) {
      const tail = (await page.evaluate(bufferText)).trimEnd().split('\n').slice(-8).join('\n');
      throw new Error(`${what}: ${re} not seen within ${timeout} ms; screen ends with:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(page, command) {
  await page.evaluate(() => window.wsbridge.term.focus());
  await page.keyboard.type(command, { delay: 2 });
  await page.keyboard.press('Enter');
}

// The shell still answers: a command's output, not its echo, comes back.
// After a cancel the first try may still go to the ending rz/sz, as it
// would for a user, who types it again.
async function shellAnswers(page, tag) {
  for (let i = 1; ; i++) {
    await run(page, `echo ${tag}-$((40+${i}))`);
    try {
      await waitForText(page, new RegExp(`${tag}-${40 + i}\\b`), 10000, 'the shell answers');
      break;
    } catch (e) {
      if (i === 4) throw e;
    }
  }
  check(true, `the shell answers after the transfer (${tag})`);
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function open(context) {
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.text().startsWith('wsbridge:')) console.log(`# console ${m.type()}: ${m.text()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await page.waitForFunction(() => window.wsbridge?.state === 'open', null, { timeout: 15000, polling: 50 });
  return page;
}

// A stand-in for the File System Access API pickers that trzsz uses in
// browsers (Chromium opens them only for a user, never for automation):
// a directory whose files are hashed as they are written, and an open
// picker that returns the file the test put in window.__upload.
function fakePickers() {
  window.__saved = {};
  const writable = (name) => {
    const chunks = [];
    return {
      write: async (data) => {
        const b = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength ?? data.length);
        chunks.push(b.slice());
      },
      close: async () => {
        const blob = new Blob(chunks);
        const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
        window.__saved[name] = { size: blob.size, sha256: [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, '0')).join('') };
      },
      abort: async () => {},
      truncate: async () => {},
      seek: async () => {},
    };
  };
  const dir = {
    kind: 'directory',
    name: 'downloads',
    getFileHandle: async (name) => ({ kind: 'file', name, createWritable: async () => writable(name) }),
    getDirectoryHandle: async () => dir,
    queryPermission: async () => 'granted',
    requestPermission: async () => 'granted',
    values: async function* () {},
    entries: async function* () {},
    keys: async function* () {},
  };
  window.showDirectoryPicker = async () => dir;
  window.showOpenFilePicker = async () => [{ kind: 'file', name: window.__upload.name, getFile: async () => window.__upload }];
}

const tests = {
  async 'zmodem-download'(context, [file, want, timeoutSec = '120']) {
    const page = await open(context);
    // The page's JS heap while the file comes in: the received data must
    // leave it (folded into Blobs), whatever the file's size.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    let maxHeap = 0;
    const sampler = setInterval(async () => {
      try {
        const { metrics } = await cdp.send('Performance.getMetrics');
        maxHeap = Math.max(maxHeap, metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0);
      } catch {}
    }, 250);
    const started = Date.now();
    const download = page.waitForEvent('download', { timeout: Number(timeoutSec) * 1000 });
    await run(page, `sz ${file}`);
    const d = await download;
    clearInterval(sampler);
    console.log(`# download took ${((Date.now() - started) / 1000).toFixed(1)} s; page JS heap at most ${(maxHeap / 1048576).toFixed(1)} MiB`);
    check(d.suggestedFilename() === basename(file), `download named ${d.suggestedFilename()}`);
    const path = await d.path();
    const got = sha256(readFileSync(path));
    check(got === want, `downloaded file's SHA-256 ${got} matches`);
    await shellAnswers(page, 'after-sz');
  },

  async 'zmodem-upload'(context, [local]) {
    const page = await open(context);
    await run(page, 'rz');
    await page.waitForFunction(() => window.wsbridge.transfers.last?.state === 'choosing', null, { timeout: 20000 });
    check(true, 'rz asks for files');
    const chooser = page.waitForEvent('filechooser', { timeout: 10000 });
    await page.click('#transfer-choose');
    await (await chooser).setFiles(local);
    await page.waitForFunction(() => window.wsbridge.transfers.last?.state === 'done', null, { timeout: 120000, polling: 200 });
    check(true, 'the upload finished');
    await shellAnswers(page, 'after-rz');
  },

  async 'zmodem-cancel'(context, [file]) {
    const page = await open(context);
    await run(page, `sz ${file}`);
    await page.waitForFunction(() => (window.wsbridge.transfers.last?.bytes ?? 0) > 512 * 1024, null, { timeout: 60000, polling: 20 });
    check(await page.isVisible('#transfer-cancel'), 'the cancel button shows during the download');
    await page.click('#transfer-cancel');
    const st = await page.evaluate(() => window.wsbridge.transfers.last);
    check(st.state === 'cancelled' && st.bytes < st.size, `cancelled at ${st.bytes} of ${st.size} bytes`);
    await shellAnswers(page, 'after-cancel');
  },

  async 'trzsz-download'(context, [file, want]) {
    await context.addInitScript(fakePickers);
    const page = await open(context);
    await run(page, `tsz ${file}`);
    const name = basename(file);
    await page.waitForFunction((n) => window.__saved?.[n], name, { timeout: 120000, polling: 200 });
    const saved = await page.evaluate((n) => window.__saved[n], name);
    check(saved.sha256 === want, `trzsz download's SHA-256 ${saved.sha256} matches`);
    await shellAnswers(page, 'after-tsz');
  },

  async 'trzsz-upload'(context, [local]) {
    await context.addInitScript(fakePickers);
    const page = await open(context);
    const bytes = readFileSync(local);
    // The file crosses into the page in base64 pieces (evaluate's limit).
    await page.evaluate(() => (window.__parts = []));
    for (let i = 0; i < bytes.length; i += 1 << 20)
      await page.evaluate((b64) => window.__parts.push(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))), bytes.subarray(i, i + (1 << 20)).toString('base64'));
    await page.evaluate((n) => (window.__upload = new File(window.__parts, n)), basename(local));
    await run(page, 'trz -y');
    await page.waitForFunction(() => window.wsbridge.transfers.last?.protocol === 'trzsz', null, { timeout: 20000 });
    check(true, 'trz starts a trzsz upload');
    // Keys typed during a transfer go nowhere: wait for its end. The Go
    // test then compares the file trz wrote.
    await page.waitForFunction(() => window.wsbridge.transfers.last?.state !== 'running', null, { timeout: 200000, polling: 200 });
    await shellAnswers(page, 'after-trz');
  },

  async 'no-transfer'(context, [file]) {
    const page = await open(context);
    let downloads = 0;
    page.on('download', () => downloads++);
    check((await page.evaluate(() => window.wsbridge.transfers.enabled)) === false, 'transfers are off in the page');
    await run(page, `sz ${file}`);
    await waitForText(page, /\*\*\x18?B0/, 20000, 'sz starts');
    await new Promise((r) => setTimeout(r, 1500));
    check(downloads === 0 && (await page.isHidden('#transfer')), 'no download starts');
  },

  async keybar(context) {
    const page = await open(context);
    await waitForText(page, /ready/, 20000, 'the program is ready');
    check(await page.isVisible('#keybar'), 'the key bar shows on a touch device');
    await page.tap('#keybar [data-key="Ctrl"]');
    await page.evaluate(() => window.wsbridge.term.focus());
    await page.keyboard.type('c');
    await waitForText(page, /got:03\b/, 10000, 'Ctrl then c');
    check(true, 'tap Ctrl, type c: the program reads 0x03');
    await page.tap('#keybar [data-key="Esc"]');
    await page.tap('#keybar [data-key="↑"]');
    await page.tap('#keybar [data-key="|"]');
    await waitForText(page, /got:1b\b[\s\S]*got:1b5b41\b[\s\S]*got:7c\b/, 10000, 'Esc, up, |');
    check(true, 'Esc, ↑ and | send ESC, ESC [ A and |');
    await page.tap('#keybar-toggle');
    check(await page.isHidden('#keybar'), 'the toggle hides the bar');
  },

  async clipboard(context) {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const page = await open(context);
    await waitForText(page, /ready/, 20000, 'the program is ready');
    // The program (see the Go test) sends OSC 52 once it reads "copy".
    await run(page, 'copy');
    await page.waitForSelector('#osc52', { state: 'visible', timeout: 10000 });
    check(true, 'OSC 52 asks the user first');
    await page.click('#osc52-allow');
    await page.waitForFunction(() => window.wsbridge.clipboard.copied > 0, null, { timeout: 10000 });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(copied === 'from-osc52', `OSC 52 set the clipboard to ${JSON.stringify(copied)}`);
    await page.evaluate(() => navigator.clipboard.writeText('pasted text'));
    await page.evaluate(() => window.wsbridge.term.focus());
    await page.keyboard.press('Control+Shift+V');
    const hex = Buffer.from('\x1b[200~pasted text\x1b[201~').toString('hex');
    await waitForText(page, new RegExp(`got:${hex}`), 10000, 'bracketed paste');
    check(true, 'Ctrl+Shift+V pastes the clipboard inside ESC[200~ … ESC[201~');
  },

  async images(context, [want]) {
    const page = await open(context);
    await waitForText(page, /ready/, 20000, 'the program is ready');
    await run(page, 'image');
    await waitForText(page, /image-done/, 10000, 'the sixel was written');
    await new Promise((r) => setTimeout(r, 500));
    const usage = await page.evaluate(() => window.wsbridge.images?.storageUsage ?? -1);
    const drawn = await page.evaluate(() => {
      const img = window.wsbridge.images;
      if (!img) return false;
      for (let y = 0; y < window.wsbridge.term.buffer.active.length; y++)
        for (let x = 0; x < 4; x++) if (img.getImageAtBufferCell(x, y)) return true;
      return false;
    });
    if (want === 'on') check(usage > 0 && drawn, `the image addon holds the image (storage ${usage} MB)`);
    else check(usage === -1 && !drawn, 'without images=true no image is stored or drawn');
  },
};

const mobile = test === 'keybar';
const { defaultBrowserType, ...phone } = devices['Pixel 7']; // not a context option
const context = await launch(mobile ? { ...phone, acceptDownloads: true } : { acceptDownloads: true });
let code = 0;
try {
  if (!tests[test]) throw new Error(`unknown test ${test}`);
  await tests[test](context, args);
  console.log(`ok ${test} passed`);
} catch (e) {
  console.log(`FAIL ${test}: ${e.message}`);
  code = 1;
} finally {
  await context.close();
}
process.exit(code);
