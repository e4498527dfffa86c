// Loads wsbridge's dev console in headless Chromium (Debian's, never a
// downloaded one) and drives it: connect, echo a message through the
// endpoint, send bytes in hex, disconnect, and check that markup in the URL
// stays text. Usage: node devconsole.browser.mjs URL
// The endpoint at URL must echo (e.g. wsbridge --devconsole cat).
import { launch, check } from './browser.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node devconsole.browser.mjs URL');
  process.exit(2);
}

const browser = await launch();
let failed = false;
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('dialog', (d) => { problems.push('dialog opened: ' + d.message()); d.dismiss(); });

  // Markup in the URL must stay text.
  const evil = url + (url.includes('?') ? '&' : '?') + 'x=' + encodeURIComponent('"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>');
  const res = await page.goto(evil, { waitUntil: 'load' });
  check(res.status() === 200, 'console page served (' + res.status() + ')');
  check(await page.title() === 'wsbridge dev console', 'page title');
  const wsURL = await page.inputValue('#url');
  check(wsURL.startsWith('ws://') && wsURL.includes('onerror'), 'WebSocket URL taken from the location, as text: ' + wsURL);
  check(await page.evaluate(() => window.pwned === undefined), 'no script from the URL ran');
  check(await page.locator('img').count() === 0, 'no element from the URL');

  await page.goto(url, { waitUntil: 'load' });
  await page.click('#connect');
  await page.waitForSelector('#log .open', { timeout: 10000 });
  check(await page.textContent('#status') === 'open', 'connected');

  await page.fill('#message', 'hello from chromium');
  await page.press('#message', 'Enter');
  await page.waitForSelector('#log .recv', { timeout: 10000 });
  const recv = await page.textContent('#log .recv .body');
  check(recv === 'hello from chromium', 'echo received: ' + recv);
  check((await page.textContent('#log .recv .meta')).includes('19 B'), 'byte count shown');

  // Markup sent and echoed stays text.
  await page.fill('#message', '<b id="injected">bold</b>');
  await page.press('#message', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('#log .recv').length >= 2, null, { timeout: 10000 });
  check(await page.locator('#injected').count() === 0, 'echoed markup stays text');

  // History: Up brings back the last message.
  await page.press('#message', 'ArrowUp');
  check(await page.inputValue('#message') === '<b id="injected">bold</b>', 'history recalls the last message');
  await page.fill('#message', '');

  // Binary, as hex: cat echoes the bytes; in text mode wsbridge refuses a
  // binary message with close code 1003, which the log must show.
  await page.selectOption('#mode', 'binary');
  await page.fill('#message', '68 69');
  await page.press('#message', 'Enter');
  await page.waitForSelector('#log .close', { timeout: 10000 });
  const closeText = await page.textContent('#log .close');
  check(/code 1003/.test(closeText) && /wasClean/.test(closeText), 'close event shows code, reason and wasClean: ' + closeText);
  check(await page.textContent('#status') === 'disconnected', 'disconnected after close');

  // Connect again and disconnect from the page: a clean 1000... from our
  // side; the server echoes the close.
  await page.click('#connect');
  await page.waitForFunction(() => document.querySelectorAll('#log .open').length >= 2, null, { timeout: 10000 });
  await page.click('#connect');
  await page.waitForFunction(() => document.querySelectorAll('#log .close').length >= 2, null, { timeout: 10000 });
  const closes = await page.locator('#log .close').allTextContents();
  check(/wasClean true/.test(closes[1]), 'disconnect is clean: ' + closes[1]);

  check(problems.length === 0, 'no page errors' + (problems.length ? ': ' + problems.join('; ') : ''));
  console.log('devconsole browser test: ok');
} catch (e) {
  failed = true;
  console.error(e && e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
