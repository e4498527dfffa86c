// Builds the browser terminal into terminal/dist, which wsbridge embeds and
// which is committed, so that `go build` and `go install` need no npm:
//   terminal.js   main.js and xterm.js bundled and minified
//   terminal.css  xterm.css and style.css bundled and minified
//   index.html    the page template, copied as is
// Run: npm ci --prefix static && npm run build --prefix static
// The output is byte-for-byte reproducible (esbuild pinned exactly in
// package-lock.json): .ci/run rebuilds it and fails if it differs from what
// is committed.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'terminal', 'src');
const dist = join(here, 'terminal', 'dist');

// Remove outputs of earlier builds: anything left in dist is embedded.
await mkdir(dist, { recursive: true });
for (const f of await readdir(dist)) await rm(join(dist, f), { recursive: true });

// The bundle is a copy of xterm.js: MIT asks for its notices to travel with
// it. xterm's addons carry the same licence text, so one banner covers all.
const pkgs = ['xterm', 'addon-fit', 'addon-webgl', 'addon-web-links', 'addon-unicode11', 'addon-clipboard', 'addon-image'];
const versions = await Promise.all(
  pkgs.map(async (p) => {
    const meta = JSON.parse(await readFile(join(here, 'node_modules', '@xterm', p, 'package.json'), 'utf8'));
    return `${meta.name}@${meta.version}`;
  }),
);
const licence = await readFile(join(here, 'node_modules', '@xterm', 'xterm', 'LICENSE'), 'utf8');
// File transfer and the clipboard addon bring packages under other
// licences: name each with its licence and copyright line.
const others = await Promise.all(
  ['trzsz', 'zmodem.js', 'crc-32', 'js-base64'].map(async (p) => {
    const meta = JSON.parse(await readFile(join(here, 'node_modules', p, 'package.json'), 'utf8'));
    return `${meta.name}@${meta.version} (${meta.license})`;
  }),
);
const banner =
  `/*! wsbridge terminal. Bundles ${versions.join(', ')}:\n${licence.trim().replaceAll('*/', '* /')}\n` +
  `Also bundles ${others.join(', ')}: trzsz Copyright (c) 2022-2026 Lonny Wong; zmodem.js Copyright ` +
  `Gasper Software Consulting and crc-32 Copyright SheetJS, under the Apache License 2.0 ` +
  `(https://www.apache.org/licenses/LICENSE-2.0); js-base64 Copyright (c) 2014, Dan Kogai, BSD-3-Clause.\n*/`;

const common = { bundle: true, minify: true, sourcemap: false, legalComments: 'none', logLevel: 'info' };
await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [join(src, 'main.js')],
    outfile: join(dist, 'terminal.js'),
    format: 'iife',
    target: ['es2021', 'chrome100', 'firefox100', 'safari15'],
    banner: { js: banner },
    // trzsz's Node.js code paths (it also runs in Electron) require these;
    // in a browser they are never reached.
    external: ['child_process', 'fs', 'util'],
  }),
  esbuild.build({
    ...common,
    entryPoints: [join(src, 'style.css')],
    outfile: join(dist, 'terminal.css'),
    banner: { css: banner },
  }),
  copyFile(join(src, 'index.html'), join(dist, 'index.html')),
]);
