'use strict';
// Decode on the WebAssembly backend against a KvCache, one thread (issue 18's
// target: >= 5 GB/s of K+V for H32 Lk4096 D128 float32):
//   node [--experimental-wasm-relaxed-simd] scripts/wasm-kv-decode.js [--dtype bfloat16] [--rounds N]
//   FUSED_ATTENTION_ISA=simd128 measures the plain SIMD128 build.
// Each round refills the cache to 4096 - STEPS positions (untimed), then times
// STEPS decoding steps (append one position, attention(q, cache)), as many
// attention() calls on the full cache, and as many attentionAsync() calls
// (~67 MFLOP each: on the module's worker), once with the cache resident in the
// module's memory (lib/wasm-kv.ts) and once copied whole per call (the path
// before it, and the fallback), alternating in one process: compare rows of one run.
// GB/s = K+V bytes the step reads (2·H·length·D·bytes per element) / time.
const path = require('node:path');

process.env.FUSED_ATTENTION_BACKEND = 'wasm';
const dist = path.join(__dirname, '..', 'dist');
const lib = require(path.join(dist, 'index.js'));
const kernels = require(path.join(dist, 'backend.js')).wasmKernels();
const { randn } = require('../test/oracle/prng.mjs');

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : fallback;
};
const dtype = option('--dtype', 'float32');
const rounds = Number(option('--rounds', '8'));
const H = 32, L = 4096, D = 128, STEPS = 16;

const prefill = L - STEPS;
const kFill = { data: randn(H * prefill * D, 2), shape: [1, H, prefill, D] };
const vFill = { data: randn(H * prefill * D, 3), shape: [1, H, prefill, D] };
const kStep = { data: randn(H * D, 4), shape: [1, H, 1, D] };
const vStep = { data: randn(H * D, 5), shape: [1, H, 1, D] };
const q = { data: randn(H * D, 1), shape: [1, H, 1, D] };
const cache = new lib.KvCache({ batch: 1, numKvHeads: H, headDim: D, maxLength: L, dtype });
const elementBytes = dtype === 'float32' ? 4 : 2;

// Modes: 'resident' (the default) and 'copied' (kernels.residentKv = false), where the build has the switch.
const modes = 'residentKv' in kernels ? ['resident', 'copied'] : ['copied'];
const times = Object.fromEntries(modes.map((m) => [m, { step: [], attend: [], async: [] }]));
const out = new Float32Array(H * D);

async function main() {
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      if ('residentKv' in kernels) kernels.residentKv = mode === 'resident';
      cache.reset();
      cache.append(kFill, vFill);
      lib.attention(q, cache, { out }); // warm-up; a resident cache syncs here
      let bytes = 0;
      let t0 = performance.now();
      for (let s = 0; s < STEPS; s++) {
        cache.append(kStep, vStep);
        lib.attention(q, cache, { out });
        bytes += 2 * H * cache.lengthOf(0) * D * elementBytes;
      }
      times[mode].step.push(bytes / (performance.now() - t0) / 1e6);
      t0 = performance.now();
      for (let s = 0; s < STEPS; s++) lib.attention(q, cache, { out });
      times[mode].attend.push((STEPS * 2 * H * L * D * elementBytes) / (performance.now() - t0) / 1e6);
      await lib.attentionAsync(q, cache, { out }); // the worker's warm-up (and sync)
      t0 = performance.now();
      for (let s = 0; s < STEPS; s++) await lib.attentionAsync(q, cache, { out });
      times[mode].async.push((STEPS * 2 * H * L * D * elementBytes) / (performance.now() - t0) / 1e6);
    }
  }

  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const isa = lib.backend().isa;
  for (const mode of modes) {
    const { step, attend, async } = times[mode];
    console.log(
      `decode H${H} Lk${L} D${D} ${dtype} wasm ${isa} ${mode.padEnd(8)}  step (append + attention) ${median(step).toFixed(2).padStart(6)} GB/s K+V` +
        `  attention ${median(attend).toFixed(2).padStart(6)} GB/s  attentionAsync ${median(async).toFixed(2).padStart(6)} GB/s  (median of ${rounds} rounds of ${STEPS})`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
