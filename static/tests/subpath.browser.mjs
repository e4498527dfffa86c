// Loads a terminal page that a reverse proxy serves under a sub-path (e.g.
// nginx's location /shell/ passing to wsbridge's /term/ endpoint) in
// headless Chromium, and checks that the page's assets and its WebSocket
// go through the same sub-path and that the shell answers typed input.
// Usage: node subpath.browser.mjs URL   (URL: http://proxy/shell/)
import { launch, check } from './browser.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node subpath.browser.mjs URL');
  process.exit(2);
}
const prefix = new URL(url).pathname;

const browser = await launch();
let failed = false;
try {
  const page = await browser.newPage();
  const problems = [];
  const requests = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));

  const res = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  check(res.status() === 200, `page served at ${prefix} (${res.status()})`);
  await page.waitForFunction(() => window.wsbridge?.state === 'open', null, { timeout: 10000, polling: 50 });
  check(requests.every((p) => p.startsWith(prefix)), `every request stays under ${prefix}: ${[...new Set(requests)].join(' ')}`);
  check(sockets.length > 0 && sockets.every((u) => new URL(u).pathname === prefix), `the WebSocket connects to ${prefix}: ${sockets.join(' ')}`);

  await page.evaluate(() => window.wsbridge.term.focus());
  await page.keyboard.type('echo sub-$((6*7))', { delay: 5 });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => {
    const b = window.wsbridge.term.buffer.active;
    for (let i = 0; i < b.length; i++) if (/sub-42/.test(b.getLine(i)?.translateToString(true) ?? '')) return true;
    return false;
  }, null, { timeout: 10000, polling: 50 });
  check(true, 'typed input reaches the shell through the proxy and its output is shown (sub-42)');
  check(problems.length === 0, 'no page errors: ' + problems.join('; '));
} catch (e) {
  console.log('FAIL ' + e.message);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
