// Debian's headless Chromium for the browser tests, through playwright-core
// (never `npx playwright install`, never a downloaded browser). Each test
// gets a fresh profile, removed again when its browser closes.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// launch opens a browser context with options added to the defaults
// (e.g. a viewport). Its close() closes the browser and removes the
// profile.
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'wsbridge-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args,
      ...options,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const close = context.close.bind(context);
  context.close = async () => {
    await close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

// check fails the test with what was expected, or prints it as passed.
export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  console.log('ok: ' + what);
}
