#!/usr/bin/env node
// Echoes each line as "[ROOM] line", says "bye" at end of input.
// Run: wsbridge --port=8080 ./examples/chat.js --room lobby
'use strict';
const readline = require('readline');

let room = 'main';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--room' && i + 1 < args.length) {
    room = args[++i];
  } else if (args[i].startsWith('--room=')) {
    room = args[i].slice('--room='.length);
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => process.stdout.write(`[${room}] ${line}\n`));
rl.on('close', () => process.stdout.write('bye\n'));
