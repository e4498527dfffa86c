// Drives examples/chat in headless Chromium (Debian's, never a downloaded
// one): two pages join the same room, one sends a message, the other shows
// it, and the sender sees the read receipt come back.
// Usage: node chat.browser.mjs URL
// URL serves examples/chat (wsbridge --broadcast --envelope
// --staticdir=examples/chat examples/chat/chat.py).
import { launch, check } from './browser.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node chat.browser.mjs URL');
  process.exit(2);
}

const browser = await launch();
let failed = false;
try {
  const problems = [];
  const open = async () => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    await page.goto(url, { waitUntil: 'load' });
    return page;
  };
  const alice = await open();
  await alice.waitForFunction(() => document.getElementById('status').textContent === '1 online', null, { timeout: 10000 });
  check(true, 'first page joined the room');
  const bob = await open();
  await alice.waitForFunction(() => document.getElementById('status').textContent === '2 online', null, { timeout: 10000 });
  check(true, 'second page joined: both see 2 online');

  await alice.fill('#text', 'hello <b>bob</b>');
  await alice.press('#text', 'Enter');
  await bob.waitForSelector('#log div', { timeout: 10000 });
  const seen = await bob.textContent('#log div');
  check(seen.endsWith(': hello <b>bob</b>'), 'the other page shows the message, as text: ' + seen);
  check(await bob.locator('#log b').count() === 0, 'no markup from a message');
  await alice.waitForSelector('#log .receipt', { timeout: 10000 });
  const receipt = await alice.textContent('#log .mine');
  check(receipt === 'me: hello <b>bob</b>read by 1', 'the sender sees the receipt: ' + receipt);
  check(await bob.locator('.receipt').count() === 0, 'only the sender gets the receipt');

  await bob.close();
  await alice.waitForFunction(() => document.getElementById('status').textContent === '1 online', null, { timeout: 10000 });
  check(true, 'the sender sees the other page leave');
  check(problems.length === 0, 'no page errors' + (problems.length ? ': ' + problems.join('; ') : ''));
  console.log('ok chat done');
} catch (e) {
  console.error(String(e && e.stack || e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
