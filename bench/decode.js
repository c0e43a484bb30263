'use strict';
// Decode step timing (issue 10): one query row per head against a long KV cache,
// K/V in fp32 and in bf16, MHA and GQA, on 1 and 2 threads, next to the
// read-bandwidth ceiling (bench/read-probe.cpp: a plain read of a buffer the same
// size on as many threads, compiled on first use with the system compiler, $CXX or c++).
//
//   npm run build && node bench/decode.js [--reps 40] [--lk 4096] [--threads 1,2]
//
// Decode is bound by memory: GB/s counts the K+V bytes one step must read.
// Every timed call reads K/V that are not in cache: calls rotate over enough
// copies that together exceed 256 MiB (the L3 is 32 MiB), as a real model's
// other layers would evict them between steps. Prints medians.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const { nativeAddon } = require(path.join(root, 'dist', 'backend.js'));

function flag(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const REPS = Number(flag('reps', '40'));
const LK = Number(flag('lk', '4096'));
const THREADS = flag('threads', '1,2').split(',').map(Number);
const ROTATE_BYTES = 256 * 2 ** 20;

const addon = nativeAddon();
if (!addon) throw new Error('bench/decode.js needs the native addon: npm run build');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function randomFloats(n, seed) {
  const out = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** Copies of K and V (fp32 or bf16) for one shape, enough to rotate out of the caches. */
function makeCopies(shape, kind) {
  const { Hkv, Lk, D } = shape;
  const elements = Hkv * Lk * D;
  const bytesPerCopy = 2 * elements * (kind === 'bf16' ? 2 : 4);
  const count = Math.max(2, Math.ceil(ROTATE_BYTES / bytesPerCopy));
  const base = randomFloats(elements, 7);
  const copies = [];
  for (let c = 0; c < count; c++) {
    const k = base.map((x) => x * (1 + c / 64));
    const v = randomFloats(elements, 100 + c);
    if (kind === 'bf16') {
      const kb = new Uint16Array(elements);
      const vb = new Uint16Array(elements);
      addon.toBfloat16(k, kb);
      addon.toBfloat16(v, vb);
      copies.push({ k: kb, v: vb });
    } else {
      copies.push({ k, v });
    }
  }
  return { copies, bytesPerCopy };
}

function argsFor(shape, k, v, q, out) {
  const { H, Hkv, Lk, D } = shape;
  return {
    q, k, v, out,
    B: 1, H, Hkv, Lq: 1, Lk, D, Dv: D,
    qStrideB: H * D, qStrideH: D, qStrideL: D,
    kStrideB: Hkv * Lk * D, kStrideH: Lk * D, kStrideL: D,
    vStrideB: Hkv * Lk * D, vStrideH: Lk * D, vStrideL: D,
    oStrideB: H * D, oStrideH: D, oStrideL: D,
    mask: null, maskStrideB: 0, maskStrideH: 0, maskStrideQ: 0, maskStrideK: 1,
    boolMask: null, boolMaskStrideB: 0, boolMaskStrideH: 0, boolMaskStrideQ: 0, boolMaskStrideK: 1,
    keyPadding: null, keyLengths: null, scale: 1 / Math.sqrt(D),
    alignOffset: Lk - 1, windowLeft: -1, windowRight: 0,
    alibiSlopes: null, softcap: 0, lse: null, weights: null,
  };
}

/** Median ms of `run(i)` over REPS calls after a few warm-up calls. */
function time(run) {
  for (let i = 0; i < 4; i++) run(i);
  const ms = [];
  for (let i = 0; i < REPS; i++) {
    const start = process.hrtime.bigint();
    run(i);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(ms);
}

const PROBE_SOURCE = path.join(__dirname, 'read-probe.cpp');
const PROBE = path.join(root, 'build', 'bench', 'read-probe');

/** Compiles bench/read-probe.cpp into build/bench/ unless that binary is newer than the source. */
function buildProbe() {
  if (fs.existsSync(PROBE) && fs.statSync(PROBE).mtimeMs >= fs.statSync(PROBE_SOURCE).mtimeMs) return;
  fs.mkdirSync(path.dirname(PROBE), { recursive: true });
  execFileSync(process.env.CXX || 'c++', ['-O2', '-std=c++17', '-pthread', '-o', PROBE, PROBE_SOURCE], { stdio: 'inherit' });
}

/** Median ms of reading `bytes` once on `threads` threads, buffers rotated over >= 256 MiB (ROTATE_BYTES). */
function ceiling(bytes, threads) {
  const out = execFileSync(PROBE, [String(bytes), String(threads), String(REPS)], { stdio: ['ignore', 'pipe', 'ignore'] });
  return Number(String(out).trim());
}

const shapes = [
  { name: 'MHA H=32 Hkv=32', H: 32, Hkv: 32, Lk: LK, D: 128 },
  { name: 'GQA H=32 Hkv=8', H: 32, Hkv: 8, Lk: LK, D: 128 },
];

buildProbe();
const initialThreads = addon.info().threads;
console.log(`decode step, B=1 Lq=1 Lk=${LK} D=Dv=128, isa ${addon.info().isa}, median of ${REPS} calls (K/V rotated over >= 256 MiB of copies)`);
console.log('| threads | shape | K/V | K+V MiB | ms | GB/s | read ceiling ms | ceiling GB/s | % of ceiling |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const shape of shapes) {
  for (const kind of ['fp32', 'bf16']) {
    const { copies, bytesPerCopy } = makeCopies(shape, kind);
    const q = randomFloats(shape.H * shape.D, 3);
    const out = new Float32Array(shape.H * shape.D);
    const args = copies.map(({ k, v }) => argsFor(shape, k, v, q, out));
    for (const threads of THREADS) {
      addon.setThreads(threads);
      const ms = time((i) => addon.attention(args[i % args.length]));
      const ceilMs = ceiling(bytesPerCopy, threads);
      const gbs = bytesPerCopy / ms / 1e6;
      const ceilGbs = bytesPerCopy / ceilMs / 1e6;
      console.log(
        `| ${threads} | ${shape.name} | ${kind} | ${(bytesPerCopy / 2 ** 20).toFixed(0)} | ${ms.toFixed(2)} | ${gbs.toFixed(1)} | ${ceilMs.toFixed(2)} | ${ceilGbs.toFixed(1)} | ${((100 * gbs) / ceilGbs).toFixed(0)} % |`,
      );
    }
  }
}
addon.setThreads(initialThreads);
