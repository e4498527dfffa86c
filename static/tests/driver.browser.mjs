// Pages in headless Chromium (Debian's, through browser.mjs) driven by a Go
// test, for tests where the test does things between the steps (restarts
// or kills wsbridge): one JSON command a line on stdin, one JSON answer a
// line on stdout.
//   {"open":"URL","page":"alice"}              open a page
//   {"eval":"JS expression","page":"alice"}    its value, awaited
//   {"wait":"JS expression","page":"alice","timeout":MS}  until it is truthy
//   {"problems":true}                          page errors and console errors so far
// Answers: {"ok":true,"value":...} or {"ok":false,"error":"..."}.
import { createInterface } from 'node:readline';
import { launch } from './browser.mjs';

const browser = await launch();
const pages = new Map();
const problems = [];
const answer = (a) => process.stdout.write(JSON.stringify(a) + '\n');
try {
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    try {
      const c = JSON.parse(line);
      if (c.open) {
        const page = await browser.newPage();
        page.on('pageerror', (e) => problems.push(c.page + ': page error: ' + e.message));
        page.on('console', (m) => { if (m.type() === 'error') problems.push(c.page + ': console error: ' + m.text()); });
        await page.goto(c.open, { waitUntil: 'load' });
        pages.set(c.page, page);
        answer({ ok: true });
      } else if (c.eval) {
        answer({ ok: true, value: await pages.get(c.page).evaluate(c.eval) });
      } else if (c.wait) {
        await pages.get(c.page).waitForFunction(c.wait, null, { timeout: c.timeout || 10000 });
        answer({ ok: true });
      } else if (c.problems) {
        answer({ ok: true, value: problems });
      } else {
        answer({ ok: false, error: 'unknown command' });
      }
    } catch (e) {
      answer({ ok: false, error: String(e && e.message || e) });
    }
  }
} finally {
  await browser.close();
}
