#!/usr/bin/env node
// Probe: an input buffer taken away from a pending attentionAsync call. Each
// scenario runs in a child process; the probe exits 1 if any child crashes (a
// signal, or a sanitizer report's exit code) instead of settling. Async calls
// work on private copies of non-shared buffers (native/binding.cc,
// snapshot_buffers), so both scenarios must settle.
//
//   node scripts/detach-in-flight-probe.js [--dist DIR]
//
//   transfer: structuredClone(k.buffer, { transfer: [k.buffer] }) while the call
//             runs, then the new owner is garbage collected (before the
//             snapshot fix: heap-use-after-free in pack_k_transposed).
//   shrink:   k over a resizable ArrayBuffer, resized to 0 while the call runs.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const distIndex = args.indexOf('--dist');
const dist = path.resolve(distIndex >= 0 ? args[distIndex + 1] : path.join(__dirname, '..', 'dist'));
const scenario = args[args.indexOf('--scenario') + 1];

async function child(name) {
  const fa = require(path.join(dist, 'index.js'));
  const L = 2048;
  const n = 8 * L * 64;
  const random = () => Float32Array.from({ length: n }, () => Math.random());
  const q = { data: random(), shape: [1, 8, L, 64] };
  let k;
  if (name === 'shrink') {
    const data = new Float32Array(new ArrayBuffer(4 * n, { maxByteLength: 4 * n }));
    data.set(random());
    k = { data, shape: [1, 8, L, 64] };
  } else {
    k = { data: random(), shape: [1, 8, L, 64] };
  }
  const pending = fa.attentionAsync(q, k, q);
  if (name === 'shrink') {
    k.data.buffer.resize(0);
  } else {
    require('node:v8').setFlagsFromString('--expose-gc');
    const gc = require('node:vm').runInNewContext('gc');
    structuredClone(k.data.buffer, { transfer: [k.data.buffer] });
    for (let i = 0; i < 5; i++) {
      gc();
      for (let j = 0; j < 50; j++) new Float32Array(n).fill(1);
    }
  }
  await pending.then(
    () => console.log(`${name}: resolved`),
    (err) => console.log(`${name}: rejected with ${err}`),
  );
}

if (args.includes('--scenario')) {
  child(scenario);
} else {
  let crashed = 0;
  for (const name of ['transfer', 'shrink']) {
    const r = spawnSync(process.execPath, [__filename, '--dist', dist, '--scenario', name], { encoding: 'utf8', timeout: 120_000 });
    const ok = r.status === 0 && r.signal === null;
    if (!ok) crashed++;
    const firstReport = (r.stderr.match(/ERROR: AddressSanitizer: [^\n]*/) || [''])[0];
    console.log(
      `${name}: ${ok ? r.stdout.trim() : `CRASHED (exit ${r.status}, signal ${r.signal})`}${firstReport ? ` — ${firstReport}` : ''}`,
    );
  }
  process.exitCode = crashed === 0 ? 0 : 1;
}
