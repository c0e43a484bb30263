'use strict';
// Speed of the three backends in one process, one thread each (issue 18's
// target: wasm >= 15 GFLOP/s and >= 8x the TS fallback on self-512):
//   node scripts/wasm-speed.js [--backends native,wasm,js] [shape ...]
//   shapes: self-512 causal-1024 decode-4096 (default: all)
// Loads dist/ once per backend (FUSED_ATTENTION_BACKEND=native|wasm|js, a
// fresh module instance each); best of several timed rounds after a warm-up.
// wasm is the build the loader picks: relaxed SIMD where the engine has it
// (Node 22+, or Node 20 with --experimental-wasm-relaxed-simd);
// FUSED_ATTENTION_ISA=simd128 measures the plain build.
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');

function loadBackend(name) {
  for (const id of Object.keys(require.cache)) if (id.startsWith(dist)) delete require.cache[id];
  process.env.FUSED_ATTENTION_BACKEND = name;
  const lib = require(path.join(dist, 'index.js'));
  try {
    lib.backend();
  } catch (err) {
    console.log(`${name}: unavailable (${err.message.split('\n')[0]})`);
    return null;
  }
  lib.setThreads(1);
  return lib;
}

function randn(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

const SHAPES = {
  'self-512': { B: 1, H: 8, Hkv: 8, Lq: 512, Lk: 512, D: 64, causal: false },
  'causal-1024': { B: 1, H: 8, Hkv: 8, Lq: 1024, Lk: 1024, D: 64, causal: true },
  'decode-4096': { B: 1, H: 32, Hkv: 32, Lq: 1, Lk: 4096, D: 128, causal: false },
};

function time(lib, s, q, k, v, budgetMs) {
  const opts = { causal: s.causal };
  lib.attention(q, k, v, opts); // warm-up (and, for wasm, the optimizing compile)
  let best = Infinity;
  const start = performance.now();
  for (let round = 0; round < 50 && performance.now() - start < budgetMs; round++) {
    const t0 = performance.now();
    lib.attention(q, k, v, opts);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const argv = process.argv.slice(2);
const at = argv.indexOf('--backends');
const backends = at >= 0 ? argv.splice(at, 2)[1].split(',') : ['native', 'wasm', 'js'];
const names = argv.length > 0 ? argv : Object.keys(SHAPES);
const libs = Object.fromEntries(backends.map((b) => [b, loadBackend(b)]));
for (const name of names) {
  const s = SHAPES[name];
  if (!s) throw new Error(`unknown shape ${name}; known: ${Object.keys(SHAPES).join(', ')}`);
  const q = { data: randn(s.B * s.H * s.Lq * s.D, 1), shape: [s.B, s.H, s.Lq, s.D] };
  const k = { data: randn(s.B * s.Hkv * s.Lk * s.D, 2), shape: [s.B, s.Hkv, s.Lk, s.D] };
  const v = { data: randn(s.B * s.Hkv * s.Lk * s.D, 3), shape: [s.B, s.Hkv, s.Lk, s.D] };
  // 4·B·H·Lq·Lk·D, halved by causal when square; decode also as K+V bytes per second.
  const flops = (4 * s.B * s.H * s.Lq * s.Lk * s.D) / (s.causal ? 2 : 1);
  const kvBytes = 2 * s.B * s.Hkv * s.Lk * s.D * 4;
  const row = {};
  for (const [backend, lib] of Object.entries(libs)) {
    if (lib === null) continue;
    const ms = time(lib, s, q, k, v, backend === 'js' ? 6000 : 3000);
    row[backend] = ms;
    const extra = s.Lq === 1 ? `, ${(kvBytes / ms / 1e6).toFixed(2)} GB/s K+V` : '';
    const label = `${backend} ${lib.backend().isa}`;
    console.log(`${name} ${label.padEnd(19)} ${ms.toFixed(2).padStart(9)} ms  ${(flops / ms / 1e6).toFixed(2).padStart(7)} GFLOP/s${extra}`);
  }
  if (row.wasm && row.js) console.log(`${name} wasm is ${(row.js / row.wasm).toFixed(1)}x the TS kernel${row.native ? `, ${(row.wasm / row.native).toFixed(1)}x slower than native` : ''}`);
}
