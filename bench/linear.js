'use strict';
// nn.Linear (y = x·Wᵀ + b) throughput: fused-attention's packLinear().forward at 2
// and 1 threads (float32 weights, and bfloat16 ones: packLinear's dtype option,
// with their relative error against the float32 weights' float64 result), the
// one-shot linear(), the pure-TS fallback and onnxruntime-node
// MatMul + Add with constant weights (which onnxruntime pre-packs, like packLinear),
// against the machine's sgemm ceiling (bench/ceiling.js). One markdown table on stdout.
//
//   node bench/linear.js [--quick] [--shapes a,b] [--reps N] [--no-ceiling] [--no-js] [--no-ort] [--out DIR]
//
// Needs `npm run build`. Each group of peers (native, JS, onnxruntime) runs in its
// own child process, so one's threads never share the CPUs with another's timed
// calls. Every number is the median of at least --reps timed calls (default 15),
// each right after >= 2 ms of untimed calls of the same peer (its steady state, as
// back-to-back calls see it); the native peers alternate round by round, so a
// burst of load from another process hits them alike. Few-row shapes also report
// the weight bytes streamed per second (GB/s): those calls are memory-bound.
// With --out DIR also DIR/linear.json (read by bench/readme.js for the README's table).

const path = require('path');
const os = require('os');
const { randn } = require('./reference');
const { spawnSync } = require('child_process');
const { measureCeiling } = require('./ceiling');
const { startRecord, otherLoadWhile, median } = require('./run-record');

const ROOT = path.join(__dirname, '..');

const SHAPES = [
  { name: 'large-512', M: 4096, K: 512, N: 512, description: '4096 rows, 512 → 512', quick: true },
  { name: 'large-1024', M: 2048, K: 1024, N: 1024, description: '2048 rows, 1024 → 1024', quick: false },
  { name: 'bert-qkv', M: 512, K: 768, N: 2304, description: 'fused Q/K/V projection, BERT-base, 512 tokens', quick: false },
  { name: 'mlp-up', M: 256, K: 768, N: 3072, description: 'MLP up-projection, 256 tokens', quick: false },
  { name: 'small', M: 64, K: 256, N: 256, description: 'small call: 64 rows, 256 → 256 (overhead shows)', quick: true },
  { name: 'tiny', M: 16, K: 64, N: 64, description: 'tiny call: 16 rows, 64 → 64 (stays on one thread)', quick: false },
  { name: 'decode-4096', M: 1, K: 4096, N: 4096, description: 'decode, 1 row: 64 MiB of weights, read from DRAM (caches flushed before each call)', quick: true, cold: true },
  { name: 'decode-4x4096', M: 4, K: 4096, N: 4096, description: 'decode, 4 rows: 64 MiB of weights, read from DRAM (caches flushed before each call)', quick: false, cold: true },
  { name: 'decode-1024', M: 1, K: 1024, N: 1024, description: 'decode, 1 row: 4 MiB of weights, cache-resident', quick: true },
];

const HELP = `Usage: node bench/linear.js [flags]

  --quick          the shapes marked quick, fewer calls, smaller ceiling run
  --shapes a,b     only these shapes (${SHAPES.map((s) => s.name).join(', ')})
  --reps N         timed calls per peer and shape, at least (default 15; 7 with --quick)
  --no-ceiling     skip the numpy / onnxruntime sgemm ceiling
  --no-js          skip the pure-TS fallback
  --no-ort         skip onnxruntime-node
  --out DIR        also write DIR/linear.json (the run's record, for bench/readme.js)
  --help           this text`;

function parseFlags(argv) {
  const flags = { quick: false, shapes: null, reps: null, ceiling: true, js: true, ort: true, out: null, child: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') flags.quick = true;
    else if (arg === '--shapes') flags.shapes = String(argv[++i] || '').split(',').filter(Boolean);
    else if (arg === '--reps') flags.reps = Math.max(1, Number(argv[++i]) || 1);
    else if (arg === '--no-ceiling') flags.ceiling = false;
    else if (arg === '--no-js') flags.js = false;
    else if (arg === '--no-ort') flags.ort = false;
    else if (arg === '--out') flags.out = String(argv[++i] || '');
    else if (arg === '--child') flags.child = String(argv[++i]);
    else if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    } else throw new RangeError(`bench/linear: unknown flag "${arg}" (see --help)`);
  }
  flags.reps ??= flags.quick ? 7 : 15;
  return flags;
}

// Reading this evicts the weights from the caches, so a `cold` shape's
// timed call streams them from DRAM, as a model whose layers exceed the caches does.
let flushBuffer = null;
function flushCaches() {
  flushBuffer ??= new Float32Array(24 << 20).fill(1); // 96 MiB: 3x the L3, which keeps some lines it should evict
  let sum = 0;
  for (let i = 0; i < flushBuffer.length; i += 16) sum += flushBuffer[i];
  return sum;
}

async function timeOnce(run) {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** y[i] = reference dot products for a few sampled rows; returns the max relative error of `out` on them. */
function sampledError(shape, x, weight, bias, out) {
  const { M, K, N } = shape;
  let diff = 0;
  let norm = 0;
  for (const i of [0, M >> 1, M - 1]) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias[j] : 0;
      for (let k = 0; k < K; k++) s += x[i * K + k] * weight[j * K + k];
      diff += (out[i * N + j] - s) ** 2;
      norm += s * s;
    }
  }
  return Math.sqrt(diff / norm);
}

async function makeOrtPeer(shape, weight, bias, threads) {
  const ort = require('onnxruntime-node');
  const { linearModel } = require('./onnx-model');
  const { sessionOptions } = require('./peers');
  const { M, K, N } = shape;
  const weightT = new Float32Array(K * N);
  for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) weightT[k * N + j] = weight[j * K + k];
  const session = await ort.InferenceSession.create(linearModel({ M, K, N, weightT, bias }), sessionOptions(threads));
  return { session, ort };
}

/** The peers with bfloat16 weights (bf16x*): 2 bytes per weight, and an error that is the rounding's, not the kernel's. */
const isBf16Peer = (id) => id.startsWith('bf16');
const weightBytes = (id) => (isBf16Peer(id) ? 2 : 4);

const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const fmtRate = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));

/** The package (built), or a clear error. */
function loadPackage() {
  try {
    return require(ROOT);
  } catch (error) {
    throw new Error(`fused-attention is not built (${String(error.message).split('\n')[0]}); run \`npm run build\` first`);
  }
}

/**
 * Times one group of peers on one shape, in this process: 'native' (packLinear
 * forward at 2 and 1 threads, one-shot linear() at 2), 'js' (the TS fallback) or
 * 'ort' (onnxruntime MatMul+Add, 2 threads). Each group runs in its own child
 * process: onnxruntime's pool and V8's work for the JS kernel otherwise take
 * the second CPU from the native calls timed next to them.
 */
async function measureGroup(group, shape, reps) {
  const fa = loadPackage();
  const { M, K, N } = shape;
  const x = randn(M * K, `linear-x-${shape.name}`);
  const weight = randn(N * K, `linear-w-${shape.name}`);
  const bias = randn(N, `linear-b-${shape.name}`);
  const xt = { data: x, shape: [M, K] };
  const wt = { data: weight, shape: [N, K] };
  const bt = { data: bias, shape: [N] };
  const out = new Float32Array(M * N);
  const result = { ms: {}, errors: {}, otherLoad: null, packMs: null, error: null };

  const peers = [];
  let lastOut = () => out;
  if (group === 'native') {
    const info = fa.backend();
    if (info.name !== 'native') throw new Error(`bench/linear needs the native backend; backend() says ${info.name}: ${info.reason}`);
    const packStart = process.hrtime.bigint();
    const packed = fa.packLinear(wt, bt);
    result.packMs = Number(process.hrtime.bigint() - packStart) / 1e6;
    const packedBf16 = fa.packLinear(wt, bt, { dtype: 'bfloat16' });
    const forward = (threads, weights = packed) => () => {
      fa.setThreads(threads);
      weights.forward(xt, { out });
    };
    peers.push({ id: 'native2', run: forward(2) }, { id: 'native1', run: forward(1) });
    peers.push({ id: 'bf16x2', run: forward(2, packedBf16) });
    peers.push({
      id: 'oneShot2',
      run: () => {
        fa.setThreads(2);
        fa.linear(xt, wt, bt, { out });
      },
    });
  } else if (group === 'js') {
    const { linear_forward } = require(path.join(ROOT, 'dist', 'js', 'linear.js'));
    const slow = (2 * M * N * K) / 1.5e9 > 0.5;
    peers.push({ id: 'js', run: () => linear_forward({ x, M, K, N, weight, bias, out, outStride: N, outOffset: 0 }), reps: slow ? 3 : undefined });
  } else {
    const { session, ort } = await makeOrtPeer(shape, weight, bias, 2);
    const feeds = { x: new ort.Tensor('float32', x, [M, K]) };
    let y = null;
    peers.push({
      id: 'ort2',
      run: async () => {
        y = (await session.run(feeds)).y.data;
      },
    });
    lastOut = () => y;
  }

  for (const p of peers) {
    await p.run();
    result.errors[p.id] = sampledError(shape, x, weight, bias, lastOut());
  }
  const samples = new Map(peers.map((p) => [p.id, []]));
  const { otherLoad } = await otherLoadWhile(async () => {
    for (let round = 0; round < reps; round++) {
      for (const p of peers) {
        if (p.reps !== undefined && round >= p.reps) continue;
        if (p.reps === undefined) {
          // Untimed calls of the same peer for at least 2 ms first, so the timed
          // call sees its steady state (a spinning worker, warm caches), as
          // back-to-back calls do.
          const warmUntil = process.hrtime.bigint() + 2_000_000n;
          do await p.run();
          while (process.hrtime.bigint() < warmUntil);
        }
        if (shape.cold) flushCaches();
        samples.get(p.id).push(await timeOnce(p.run));
      }
    }
  });
  result.otherLoad = otherLoad;
  for (const p of peers) result.ms[p.id] = median(samples.get(p.id));
  return result;
}

/** Runs measureGroup in a child process; returns its result, or { error }. */
function measureGroupInChild(group, shape, reps) {
  const child = spawnSync(process.execPath, [__filename, '--child', group, '--shapes', shape.name, '--reps', String(reps)], {
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 1 << 24,
  });
  const lines = String(child.stdout || '').trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    const why = child.error ? child.error.message : String(child.stderr || '').trim().split('\n').pop();
    return { ms: {}, errors: {}, otherLoad: null, packMs: null, error: why || `exit ${child.status}` };
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  let shapes = flags.quick ? SHAPES.filter((s) => s.quick) : SHAPES;
  if (flags.shapes) {
    shapes = flags.shapes.map((name) => {
      const s = SHAPES.find((x) => x.name === name);
      if (!s) throw new RangeError(`bench/linear: unknown shape "${name}"; expected one of ${SHAPES.map((x) => x.name).join(', ')}`);
      return s;
    });
  }
  if (flags.child) {
    process.stdout.write(`${JSON.stringify(await measureGroup(flags.child, shapes[0], flags.reps))}\n`);
    return;
  }
  const fa = loadPackage();
  const info = fa.backend();
  if (info.name !== 'native') throw new Error(`bench/linear needs the native backend; backend() says ${info.name}: ${info.reason}`);
  const run = startRecord(__filename, { backend: info });

  const ceiling = flags.ceiling ? measureCeiling({ threads: 2, quick: flags.quick }) : null;
  const groups = ['native', ...(flags.js ? ['js'] : []), ...(flags.ort ? ['ort'] : [])];
  const rows = [];
  for (const shape of shapes) {
    const { M, K, N } = shape;
    const flops = 2 * M * N * K;
    // Calls of at most 4 rows are bound by reading the weights: their rate is weight bytes per second.
    const row = { shape, memoryBound: M <= 4, packMs: null, otherLoad: 0, ms: {}, gflops: {}, weightGBs: {}, errors: {}, groupErrors: {} };
    for (const group of groups) {
      const r = measureGroupInChild(group, shape, flags.reps);
      if (r.error) row.groupErrors[group] = r.error;
      if (r.packMs !== null) row.packMs = r.packMs;
      if (r.otherLoad !== null) row.otherLoad = Math.max(row.otherLoad, r.otherLoad);
      Object.assign(row.errors, r.errors);
      for (const [id, ms] of Object.entries(r.ms)) {
        row.ms[id] = ms;
        row.gflops[id] = flops / ms / 1e6;
        row.weightGBs[id] = (weightBytes(id) * N * K) / ms / 1e6;
      }
    }
    const float32Errors = Object.entries(row.errors).filter(([id]) => !isBf16Peer(id)).map(([, e]) => e);
    row.maxRelErr = float32Errors.length ? Math.max(...float32Errors) : null;
    rows.push(row);
    process.stderr.write(`bench/linear: ${shape.name} done\n`);
  }

  // ---- report
  console.log(`# nn.Linear: y = x·Wᵀ + b (fused-attention ${require(path.join(ROOT, 'package.json')).version}, isa ${info.isa})\n`);
  console.log(`Machine: ${run.machine.cpu}, ${run.machine.cores} CPUs, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const ceil1 = ceiling && ceiling.gemm[1] ? ceiling.gemm[1].gflops : null;
  const ceil2 = ceiling && ceiling.gemm[2] ? ceiling.gemm[2].gflops : null;
  if (ceiling) {
    const src = (ceiling.gemm[1] || ceiling.gemm[2] || { source: 'n/a' }).source;
    console.log(`Ceiling (${src}): ${ceil1 ? ceil1.toFixed(0) : '?'} GFLOP/s on 1 thread, ${ceil2 ? ceil2.toFixed(0) : '?'} on 2; copy ${ceiling.copyGBs ? ceiling.copyGBs.toFixed(1) : '?'} GB/s (read + write)`);
    for (const note of ceiling.notes) console.log(`  note: ${note}`);
  }
  console.log(`Median of ${flags.reps} calls per cell (JS: fewer when slow). GFLOP/s = 2·M·N·K / time; % = of the sgemm ceiling at the same thread count; GB/s = weight bytes / time; other load = CPU share other processes took while the row was timed (above ~5 % the 2-thread cells are unreliable).\n`);
  const pct = (v, c) => (c ? ` (${((100 * v) / c).toFixed(0)} %)` : '');
  const header = ['shape', 'M × K → N', 'packLinear 2 thr', 'GFLOP/s', 'packLinear 1 thr', 'GFLOP/s', 'weights GB/s 2 / 1 thr', 'linear() 2 thr', 'JS fallback', 'onnxruntime 2 thr', 'pack', 'other load'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => ' --- ').join('|')}|`);
  for (const r of rows) {
    const { M, K, N } = r.shape;
    const { memoryBound } = r;
    const cell = (id) => (r.ms[id] == null ? 'n/a' : `${fmtMs(r.ms[id])} ms`);
    const rate = (id, c) => (r.ms[id] == null ? 'n/a' : `${fmtRate(r.gflops[id])}${memoryBound ? '' : pct(r.gflops[id], c)}`);
    const gbs = memoryBound ? `${fmtRate(r.weightGBs.native2)} / ${fmtRate(r.weightGBs.native1)}` : '';
    const ort = r.groupErrors.ort ? `error: ${r.groupErrors.ort}` : r.ms.ort2 == null ? 'n/a' : `${cell('ort2')} (${fmtRate(r.gflops.ort2)})`;
    const js = r.ms.js == null ? 'n/a' : `${cell('js')} (${fmtRate(r.gflops.js)})`;
    console.log(
      `| ${r.shape.name} | ${M} × ${K} → ${N} | ${cell('native2')} | ${rate('native2', ceil2)} | ${cell('native1')} | ${rate('native1', ceil1)} | ${gbs} | ${cell('oneShot2')} | ${js} | ${ort} | ${r.packMs == null ? 'n/a' : `${fmtMs(r.packMs)} ms`} | ${(100 * r.otherLoad).toFixed(0)} % |`,
    );
  }
  for (const r of rows) {
    for (const [group, error] of Object.entries(r.groupErrors)) console.log(`\n${r.shape.name} ${group}: ${error}`);
  }
  const worst = Math.max(...rows.map((r) => r.maxRelErr).filter(Number.isFinite));
  console.log(`\nLargest relative error against a float64 reference on 3 sampled rows: ${worst.toExponential(1)}.`);
  console.log('bfloat16 weights (packLinear dtype \'bfloat16\', 2 threads), time and relative error against the float32 weights\' float64 result:');
  for (const r of rows) {
    if (r.ms.bf16x2 == null) continue;
    console.log(`- ${r.shape.name}: ${fmtMs(r.ms.bf16x2)} ms, ${(r.ms.native2 / r.ms.bf16x2).toFixed(2)}× the float32 weights, rel-err ${r.errors.bf16x2.toExponential(1)}`);
  }
  console.log('Shapes:');
  for (const r of rows) console.log(`- ${r.shape.name}: ${r.shape.description}`);
  if (flags.out) {
    const { child, out, ...asked } = flags;
    run.write(flags.out, 'linear.json', {
      flags: asked,
      ceiling,
      rows: rows.map((r) => ({
        name: r.shape.name, M: r.shape.M, K: r.shape.K, N: r.shape.N, cold: Boolean(r.shape.cold), memoryBound: r.memoryBound,
        ms: r.ms, gflops: r.gflops, weightGBs: r.weightGBs, packMs: r.packMs, otherLoad: r.otherLoad, maxRelErr: r.maxRelErr, relErr: r.errors, groupErrors: r.groupErrors,
      })),
    });
    process.stderr.write(`bench/linear: wrote ${path.join(flags.out, 'linear.json')}\n`);
  }
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
