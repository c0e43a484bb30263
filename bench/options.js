'use strict';
// Shows that the sliding-window and key-length paths skip work: the same
// B=1 H=8 L=4096 D=64 call, full vs causal vs window vs keyLengths, on the
// package's default backend. Prints one markdown table.
//
//   node bench/options.js            (after npm install / npm run build)
const path = require('node:path');
const fa = require(path.join(__dirname, '..'));
const { randn } = require('./reference.js');

const [B, H, L, D] = [1, 8, 4096, 64];
const tensor = (name) => ({ data: randn(B * H * L * D, `options/${name}`), shape: [B, H, L, D] });
const q = tensor('q');
const k = tensor('k');
const v = tensor('v');
const out = new Float32Array(B * H * L * D);

const cases = [
  ['full (no option)', {}, L],
  ['causal: true', { causal: true }, L / 2],
  ['window: [256, 0] (causal band of 257 keys)', { window: [256, 0] }, 257],
  ['window: [128, 128]', { window: [128, 128] }, 257],
  ['keyLengths: [1024] (first quarter of the keys)', { keyLengths: Int32Array.of(1024) }, 1024],
];

function medianMs(opts) {
  fa.attention(q, k, v, { ...opts, out });
  const times = [];
  const until = performance.now() + 1500;
  while (times.length < 5 || (performance.now() < until && times.length < 200)) {
    const t0 = performance.now();
    fa.attention(q, k, v, { ...opts, out });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

const backend = fa.backend();
console.log(`B=${B} H=${H} L=${L} D=${D}; backend ${backend.name}/${backend.isa}, ${backend.threads} threads; median of >= 5 calls\n`);
console.log('| options | keys seen per query (avg) | time/call | × full | path |');
console.log('|---|--:|--:|--:|---|');
let full = 0;
for (const [name, opts, keys] of cases) {
  const ms = medianMs(opts);
  if (!full) full = ms;
  const plan = fa.explain(q, k, v, opts);
  console.log(`| ${name} | ~${Math.round(keys)} | ${ms.toFixed(2)} ms | ${(ms / full).toFixed(3)} | ${plan.path}, ${plan.workItems} items |`);
}
