// Browser test of the screen a terminal client gets when it joins a shared
// session (--shared) or resumes one (--reconnect): it must show exactly what
// a client that watched all the output shows.
//   node static/tests/screen.browser.mjs URL shared|reconnect
// The server runs a program that waits for the page's size, draws a
// full-screen UI with several MB of redraws and ends on a frame holding
// "DONE-FRAME", then waits. Page A watches it all; then page B joins (shared)
// or resumes A's session after A is gone (reconnect). The xterm.js buffers
// are compared: the buffer in use (normal or alternate), the cursor, and
// every cell of the screen (characters, width, colours, attributes), with
// erased cells and printed spaces taken as the same blank.
import { launch } from './browser.mjs';

const [url, mode] = process.argv.slice(2);
if (!url || !['shared', 'reconnect'].includes(mode)) {
  console.error('usage: node static/tests/screen.browser.mjs URL shared|reconnect');
  process.exit(2);
}
const ok = (msg) => console.log(`ok ${msg}`);
class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};

// Runs in the page: the visible screen, cell by cell. Self-contained
// because the page's CSP forbids building functions from strings.
function snapshot() {
  const t = window.wsbridge.term;
  const b = t.buffer.active;
  const lines = [];
  const cells = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    // An erased cell and a printed space look the same; xterm.js tells them
    // apart (no characters, ''), and the server's emulator does not: compare
    // them as blanks.
    lines.push(line ? line.translateToString(true).trimEnd() : '');
    const row = [];
    for (let x = 0; x < t.cols; x++) {
      const c = line?.getCell(x);
      if (!c) {
        row.push('-');
        continue;
      }
      row.push(
        [c.getChars() || (c.getWidth() === 1 ? ' ' : ''), c.getWidth(), c.getFgColorMode(), c.getFgColor(), c.getBgColorMode(), c.getBgColor(),
          c.isBold(), c.isDim(), c.isItalic(), c.isUnderline(), c.isInverse(), c.isStrikethrough()].join(','),
      );
    }
    cells.push(row);
  }
  return { type: b.type, cursorX: b.cursorX, cursorY: b.cursorY, cols: t.cols, rows: t.rows, lines, cells,
    title: document.title };
}

function hasDone() {
  const t = window.wsbridge.term;
  const b = t.buffer.active;
  for (let y = 0; y < t.rows; y++) {
    if (b.getLine(b.viewportY + y)?.translateToString(true).includes('DONE-FRAME')) return true;
  }
  return false;
}

async function open(context, pageURL, what) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# ${what} page error: ${e.message}`));
  await page.setViewportSize({ width: 900, height: 560 });
  await page.goto(pageURL, { waitUntil: 'load', timeout: 15000 });
  await page.waitForFunction(() => window.wsbridge?.state === 'open', null, { timeout: 15000, polling: 50 });
  return page;
}

async function settled(page, what) {
  try {
    await page.waitForFunction(hasDone, null, { timeout: 240000, polling: 200 });
  } catch {
    const s = await page.evaluate(snapshot);
    fail(`${what}: no DONE-FRAME on the screen; it shows:\n${s.lines.join('\n')}`);
  }
  // What is drawn after the marker (the cursor's last move) is in the same
  // write; give xterm.js a moment to parse anything queued behind it.
  await page.waitForTimeout(1000);
  return page.evaluate(snapshot);
}

function compare(a, b) {
  for (const k of ['cols', 'rows', 'type', 'cursorX', 'cursorY']) {
    if (a[k] !== b[k]) fail(`${k}: watcher ${a[k]}, ${mode} client ${b[k]}`);
  }
  let cells = 0;
  for (let y = 0; y < a.rows; y++) {
    if (a.lines[y] !== b.lines[y]) fail(`line ${y}:\n watcher: ${JSON.stringify(a.lines[y])}\n ${mode}: ${JSON.stringify(b.lines[y])}`);
    for (let x = 0; x < a.cols; x++) {
      if (a.cells[y][x] !== b.cells[y][x]) {
        fail(`cell ${x},${y}: watcher [${a.cells[y][x]}], ${mode} client [${b.cells[y][x]}] (chars,width,fgmode,fg,bgmode,bg,bold,dim,italic,underline,inverse,strike)`);
      }
      cells++;
    }
  }
  return cells;
}

async function main(context) {
  const a = await open(context, url, 'watcher');
  ok(`watcher open (${await a.evaluate(() => `${wsbridge.term.cols}x${wsbridge.term.rows}`)})`);
  const seen = await settled(a, 'watcher');
  ok(`watcher saw the program finish (${seen.type} buffer, cursor ${seen.cursorX},${seen.cursorY})`);
  if (seen.type !== 'alternate') fail('the program did not leave the watcher on the alternate screen');

  let bURL = url;
  if (mode === 'reconnect') {
    const token = await a.evaluate(() => window.wsbridge.session);
    if (!token) fail('no session token: run the server with --reconnect');
    await a.close();
    const u = new URL(url);
    u.searchParams.set('session', token);
    bURL = u.toString();
  }
  const b = await open(context, bURL, mode);
  const got = await settled(b, mode);
  const cells = compare(seen, got);
  ok(`${mode} client shows the same screen: ${cells} cells, the ${got.type} buffer, cursor ${got.cursorX},${got.cursorY}`);
}

const context = await launch();
try {
  await main(context);
  console.log('ok screens match');
} catch (e) {
  console.log(`FAIL ${e instanceof Failure ? e.message : e.stack}`);
  process.exitCode = 1;
} finally {
  await context.close();
}
