#!/usr/bin/env node
// Soak test: 100,000 mixed small calls (attention, attentionAsync in batches
// of 100 in flight, explain, every option kind), after a 50,000-call warm-up.
// Fails when the resident set grows by more than 5 MB after warm-up, or when a
// sampled result differs from the pure-TS kernel.
//
//   node scripts/soak.js [--calls N] [--warmup N] [--dist DIR]    # ~10 s
//
// The warm-up is long on purpose: V8 keeps growing its heap (and glibc its
// arenas) for the first ~30,000 calls, with either backend, by ~30 MB; that
// plateau is not a leak. A leak keeps growing: see the five samples printed.
// The script re-runs itself with a fixed V8 young generation (16 MB semi-spaces).
//
// Without --dist, lib/ is compiled to a temporary dist/ that uses the addon in ./build.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const v8 = require('node:v8');

// A fixed young generation, so V8 resizing its heap mid-run is not read as a leak.
if (!process.execArgv.some((flag) => flag.startsWith('--max-semi-space-size'))) {
  const flags = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
  const child = spawnSync(process.execPath, [...flags, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
const vm = require('node:vm');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const CALLS = Number(option('--calls', 100_000));
const WARMUP = Number(option('--warmup', 50_000));
const LIMIT_MB = 5;

const root = path.join(__dirname, '..');
let dist = option('--dist', null);
let work = null;
if (dist === null) {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-attention-soak-'));
  for (const name of ['package.json', 'build', 'prebuilds', 'node_modules']) {
    if (fs.existsSync(path.join(root, name))) fs.symlinkSync(path.join(root, name), path.join(work, name));
  }
  dist = path.join(work, 'dist');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
}
dist = path.resolve(dist);
const fa = require(path.join(dist, 'index.js'));
const { resolveAttention } = require(path.join(dist, 'options.js'));
const { attention_forward } = require(path.join(dist, 'js', 'attention.js'));
const { uniforms } = require('../test/oracle/prng.mjs');

/** Call number i: a small shape and one of eight option mixes; fresh arrays every time. */
function makeCall(i) {
  const B = 1 + (i % 2);
  const Hkv = 1 + ((i >> 1) % 2);
  const H = Hkv * (1 + ((i >> 2) % 2));
  const Lq = 1 + ((i * 7) % 13);
  const Lk = 1 + ((i * 11) % 17);
  const D = [4, 8, 16, 32][(i >> 3) % 4];
  const Dv = [4, 8, 12][(i >> 5) % 3];
  const options = {};
  switch (i % 8) {
    case 1:
      options.causal = true;
      break;
    case 2:
      options.mask = { data: uniforms(Lq * Lk, i), shape: [Lq, Lk] };
      break;
    case 3:
      options.mask = { data: new Uint8Array(B * Lk).fill(1), shape: [B, 1, 1, Lk] };
      options.returnLse = true;
      break;
    case 4:
      options.keyLengths = Int32Array.from({ length: B }, (_, b) => (i + b) % (Lk + 1));
      options.window = [2, 2];
      break;
    case 5:
      options.alibiSlopes = new Float32Array(H).fill(0.25);
      options.softcap = 10;
      break;
    case 6:
      options.returnWeights = true;
      options.keyPadding = new Uint8Array(B * Lk).fill(1);
      break;
    case 7:
      options.out = new Float32Array(B * H * Lq * Dv);
      break;
  }
  return {
    q: { data: uniforms(B * H * Lq * D, i), shape: [B, H, Lq, D] },
    k: { data: uniforms(B * Hkv * Lk * D, i + 1), shape: [B, Hkv, Lk, D] },
    v: { data: uniforms(B * Hkv * Lk * Dv, i + 2), shape: [B, Hkv, Lk, Dv] },
    options,
  };
}

let checked = 0;
function verify(i, call, got) {
  const { out, ...options } = call.options;
  const r = resolveAttention(call.q, call.k, call.v, options);
  attention_forward(r);
  let diff = 0;
  let norm = 0;
  for (let e = 0; e < r.out.length; e++) {
    diff += (got.data[e] - r.out[e]) ** 2;
    norm += r.out[e] ** 2;
  }
  const err = norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
  if (!(err <= 1e-5)) throw new Error(`call ${i}: rel error ${err}`);
  checked++;
}

async function run(from, to) {
  const BATCH = 100;
  for (let start = from; start < to; start += BATCH) {
    const end = Math.min(to, start + BATCH);
    if (((start / BATCH) & 1) === 0) {
      // A batch of sync calls, one explain each.
      for (let i = start; i < end; i++) {
        const call = makeCall(i);
        const got = fa.attention(call.q, call.k, call.v, call.options);
        if (i % 997 === 0) verify(i, call, got);
        if (i % 10 === 0) fa.explain(call.q, call.k, call.v, call.options);
      }
    } else {
      // A batch of async calls in flight together.
      const calls = [];
      for (let i = start; i < end; i++) calls.push(makeCall(i));
      const results = await Promise.all(calls.map((c) => fa.attentionAsync(c.q, c.k, c.v, c.options)));
      results.forEach((got, n) => {
        if ((start + n) % 997 === 0) verify(start + n, calls[n], got);
      });
    }
  }
}

function settle() {
  for (let i = 0; i < 5; i++) gc();
  return process.memoryUsage().rss / 2 ** 20;
}

function heapMB() {
  const m = process.memoryUsage();
  return `heap ${(m.heapUsed / 2 ** 20).toFixed(1)}/${(m.heapTotal / 2 ** 20).toFixed(1)} MB, external ${(m.external / 2 ** 20).toFixed(1)} MB`;
}

async function main() {
  const t0 = Date.now();
  console.log(`soak: backend ${JSON.stringify(fa.backend())}, ${CALLS} calls after ${WARMUP} warm-up calls`);
  await run(0, WARMUP);
  const before = settle();
  const heapBefore = heapMB();
  const samples = [];
  const step = CALLS / 5;
  for (let done = 0; done < CALLS; done += step) {
    await run(WARMUP + done, WARMUP + done + step);
    samples.push(settle().toFixed(1));
  }
  const after = settle();
  const growth = after - before;
  console.log(
    `soak: RSS after warm-up ${before.toFixed(1)} MB, after ${CALLS} calls ${after.toFixed(1)} MB (every ${step}: ${samples.join(', ')}); ` +
      `growth ${growth.toFixed(2)} MB (limit ${LIMIT_MB}); ${heapBefore} -> ${heapMB()}; ${checked} results verified; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  if (growth > LIMIT_MB) throw new Error(`RSS grew by ${growth.toFixed(2)} MB`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    if (work !== null) fs.rmSync(work, { recursive: true, force: true });
  });
