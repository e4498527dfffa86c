// Browser test of the wsbridge terminal page against a running server:
//   wsbridge --terminal --writable --port 8080 bash &
//   node static/tests/terminal.browser.mjs http://127.0.0.1:8080/ /tmp/terminal.png
// Uses Debian's /usr/bin/chromium through playwright-core (never run
// `npx playwright install`). Prints "ok ..." per step; exits 0 when all pass,
// 1 on the first failure.
import { launch } from './browser.mjs';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node static/tests/terminal.browser.mjs URL SCREENSHOT_PATH');
  process.exit(2);
}

const ok = (msg) => console.log(`ok ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};

// Runs in the page: the first match of a regexp in the terminal's whole
// buffer (scrollback and screen), or null. Self-contained because the
// page's CSP forbids building functions from strings.
function matchBuffer([source, flags]) {
  const b = window.wsbridge.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
  const text = lines.join('\n');
  return source === null ? text : text.match(new RegExp(source, flags));
}

async function waitForText(page, pattern, timeout, what) {
  const arg = [pattern.source, pattern.flags];
  try {
    await page.waitForFunction(matchBuffer, arg, { timeout, polling: 50 });
  } catch (e) {
    if (!/Timeout/i.test(e.message)) throw e;
    const tail = (await page.evaluate(matchBuffer, [null, ''])).trimEnd().split('\n').slice(-8).join('\n');
    fail(`${what}: ${pattern} not seen within ${timeout} ms; screen ends with:\n${tail}`);
  }
  return page.evaluate(matchBuffer, arg);
}

// Types a command line into the terminal, as a user would.
async function run(page, command) {
  await page.evaluate(() => window.wsbridge.term.focus());
  await page.keyboard.type(command, { delay: 5 });
  await page.keyboard.press('Enter');
}

// Runs `tput cols` through a marker so the typed command line (which holds
// "$(") can never match, only the shell's output.
async function tputCols(page, tag) {
  await run(page, `echo ${tag}-$(tput cols)-end`);
  const m = await waitForText(page, new RegExp(`${tag}-(\\d+)-end`), 5000, `tput cols (${tag})`);
  return Number(m[1]);
}

// How long a trivial page.evaluate takes: the page's main thread is free.
async function evalLatency(page) {
  const t = Date.now();
  await page.evaluate(() => 1);
  return Date.now() - t;
}

async function main(context) {
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // The page's own warnings (e.g. WebGL unavailable) and any error; not
    // the GPU driver chatter of a software-rendered headless browser.
    if (m.type() === 'error' || m.text().startsWith('wsbridge:')) console.log(`# console ${m.type()}: ${m.text()}`);
  });

  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  try {
    await page.waitForFunction(() => window.wsbridge?.state === 'open', null, { timeout: 10000, polling: 50 });
  } catch {
    const s = await page.evaluate(() => ({ state: window.wsbridge?.state, lastClose: window.wsbridge?.lastClose }));
    fail(`session did not open within 10 s: ${JSON.stringify(s)}`);
  }
  const hello = await page.evaluate(() => ({ writable: window.wsbridge.writable, session: !!window.wsbridge.session }));
  if (!hello.writable) fail('hello says read-only: run the server with --writable');
  ok(`page loaded and session open (${await page.evaluate(() => `${wsbridge.term.cols}x${wsbridge.term.rows}`)})`);

  await run(page, 'echo hello-$((6*7))');
  await waitForText(page, /hello-42/, 5000, 'echo');
  ok('typed input reaches the shell and its output is shown (hello-42)');

  const cols1 = await tputCols(page, 'c1');
  const termCols1 = await page.evaluate(() => wsbridge.term.cols);
  if (cols1 !== termCols1) fail(`tput cols says ${cols1}, the terminal has ${termCols1} columns`);
  ok(`tput cols = ${cols1} matches the terminal`);

  const vp = page.viewportSize();
  await page.setViewportSize({ width: Math.round(vp.width * 0.6), height: vp.height });
  try {
    await page.waitForFunction((c) => wsbridge.term.cols !== c, cols1, { timeout: 3000, polling: 50 });
  } catch {
    fail(`the terminal did not refit after the viewport shrank (still ${cols1} columns)`);
  }
  await sleep(500); // past the page's resize debounce, so the server has it
  const termCols2 = await page.evaluate(() => wsbridge.term.cols);
  const cols2 = await tputCols(page, 'c2');
  if (cols2 === cols1) fail(`tput cols still ${cols1} after resizing to ${termCols2} columns`);
  if (cols2 !== termCols2) fail(`tput cols says ${cols2} after resize, the terminal has ${termCols2} columns`);
  ok(`resize reaches the PTY: tput cols ${cols1} -> ${cols2}`);

  // Flood the terminal, check the page stays responsive, then interrupt.
  await page.evaluate(() => {
    window.__parsed = 0;
    wsbridge.term.onWriteParsed(() => window.__parsed++);
  });
  await run(page, 'yes');
  // Without flow control every sample waits behind megabytes of queued
  // output (seconds each); with it the page answers between writes. One
  // slow sample alone is the machine, not the page: on two cores shared
  // with the rest of the suite Chromium's main thread can wait a second
  // for CPU. So the typical (median) sample must be quick, and none may
  // stall outright.
  const samples = [];
  const floodEnd = Date.now() + 1500;
  while (Date.now() < floodEnd) {
    samples.push(await evalLatency(page));
    await sleep(100);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  const worst = samples[samples.length - 1];
  const parsedBefore = await page.evaluate(() => window.__parsed);
  if (parsedBefore < 5) fail(`yes produced almost no output (${parsedBefore} writes parsed in 1.5 s)`);
  if (median > 500 || worst > 3000) fail(`page unresponsive during yes: page.evaluate took ${median} ms (median), ${worst} ms (worst) of ${samples.length}`);
  ok(`yes floods the terminal (${parsedBefore} writes parsed) and the page stays responsive (median ${median} ms, worst ${worst} ms)`);

  await page.evaluate(() => window.wsbridge.term.focus());
  const sentAt = Date.now();
  await page.keyboard.press('Control+C');
  // Output has stopped when no write was parsed for 400 ms; the last one
  // must come within 1 s of the Ctrl-C.
  let last = await page.evaluate(() => window.__parsed);
  let lastChange = Date.now();
  while (Date.now() - lastChange < 400) {
    if (Date.now() - sentAt > 5000) fail('output still flowing 5 s after Ctrl-C');
    await sleep(50);
    const n = await page.evaluate(() => window.__parsed);
    if (n !== last) [last, lastChange] = [n, Date.now()];
  }
  const stoppedAfter = lastChange - sentAt;
  if (stoppedAfter > 1000) fail(`output stopped ${stoppedAfter} ms after Ctrl-C (want at most 1000 ms)`);
  ok(`Ctrl-C stops yes: output ended ${stoppedAfter} ms after the key`);

  await run(page, 'echo done-$((1+1))');
  await waitForText(page, /done-2/, 3000, 'prompt after Ctrl-C');
  const lat = await evalLatency(page);
  if (lat > 500) fail(`page slow after Ctrl-C: page.evaluate took ${lat} ms`);
  ok(`the shell prompt is back (done-2) and the page responds in ${lat} ms`);

  // The screenshot (the README shows it): the window at its first size, a
  // clean screen and something with colours.
  await page.setViewportSize(vp);
  await page.waitForFunction((c) => wsbridge.term.cols !== c, termCols2, { timeout: 3000, polling: 50 });
  await sleep(500); // the resize reaches the shell before the next command
  await run(page, 'clear');
  await run(page, 'ls --color=always -l /etc | head -20; echo $(tput cols)x$(tput lines) $TERM');
  await waitForText(page, /^\d+x\d+ \S+/m, 5000, 'screenshot command');
  await sleep(300); // the prompt after it
  await page.screenshot({ path: screenshot });
  ok(`screenshot saved to ${screenshot}`);
  if (pageErrors.length) fail(`uncaught errors in the page:\n${pageErrors.join('\n')}`);
}

let context;
let code = 0;
const watchdog = setTimeout(() => {
  console.log('FAIL: the test took longer than 90 s');
  process.exit(1);
}, 90000);
try {
  context = await launch({ viewport: { width: 1000, height: 600 } });
  await main(context);
} catch (e) {
  console.log(`FAIL: ${e instanceof Failure ? e.message : e?.stack || e}`);
  code = 1;
} finally {
  clearTimeout(watchdog);
  await context?.close();
}
process.exit(code);
