'use strict';
// The same attention call on each of the package's backends, one thread each: native
// (the CPU's best ISA), WebAssembly (the relaxed-SIMD build and the plain SIMD128 one)
// and the pure-TypeScript fallback, on the shapes of bench/shapes.js. One markdown
// table on stdout (rows: backends, columns: shapes).
//
//   node bench/backends.js [--quick] [--shapes a,b] [--backends a,b] [--reps N] [--budget S] [--out DIR]
//
// Needs `npm run build` (the addon, dist/ and dist/fused_attention*.wasm). Each
// (backend, shape) runs in its own child process, since the package picks its backend
// once per process (FUSED_ATTENTION_BACKEND, FUSED_ATTENTION_ISA=simd128 for the plain
// wasm build, FUSED_ATTENTION_THREADS=1 for native); the child checks that backend()
// reports what the row claims. Where this Node does not compile relaxed SIMD by default
// (Node < 22), the relaxed row's child runs with --experimental-wasm-relaxed-simd.
// Every cell: warm-up for at least 0.5 s (one call at least), then the median of --reps
// timed calls (default 15), fewer (at least 3) once the timed calls pass --budget
// seconds (default 10: the TS fallback's large shapes); the relative error against the
// float64 reference of bench/reference.js; how much CPU other processes took meanwhile.
// With --out DIR also DIR/backends.json (read by bench/readme.js for the README's table).

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { shapes: allShapes, flopsOf, kvBytesOf, scaleOf, shapeByName } = require('./shapes');
const { makeInputs, referenceRows, computeReference, relativeError } = require('./reference');
const { startRecord, otherLoadWhile, median } = require('./run-record');

const ROOT = path.join(__dirname, '..');
const RESULT_PREFIX = 'BACKENDS_RESULT ';
const DEFAULT_SHAPES = ['small', 'self-512', 'cross', 'decode', 'decode-kvcache', 'causal-2048'];
// The decode shape once more, as a generation loop runs it: the K/V in a float32 KvCache
// (which the wasm backend keeps resident in its memory between calls).
const LOCAL_SHAPES = [{ ...shapeByName('decode'), name: 'decode-kvcache', description: 'the decode step from a float32 KvCache holding the same K/V', kvCache: true, quick: true }];
const shapeOf = (name) => LOCAL_SHAPES.find((s) => s.name === name) || shapeByName(name);
const WARMUP_SECONDS = 0.5;
const MIN_CALLS = 3;
const WRONG_ABOVE = 1e-4; // relative Frobenius error that marks a cell wrong, as in bench/run.js
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/** The rows of the table: how each child selects its backend, and what backend() must then report. */
const VARIANTS = [
  { id: 'native', label: 'native', env: { FUSED_ATTENTION_BACKEND: 'native', FUSED_ATTENTION_THREADS: '1' }, expect: { name: 'native' } },
  { id: 'wasm-relaxed', label: 'wasm, relaxed SIMD', env: { FUSED_ATTENTION_BACKEND: 'wasm' }, expect: { name: 'wasm', isa: 'relaxed-simd' }, relaxed: true },
  { id: 'wasm-simd128', label: 'wasm, plain SIMD128', env: { FUSED_ATTENTION_BACKEND: 'wasm', FUSED_ATTENTION_ISA: 'simd128' }, expect: { name: 'wasm', isa: 'simd128' } },
  { id: 'js', label: 'TS fallback', env: { FUSED_ATTENTION_BACKEND: 'js' }, expect: { name: 'js' } },
];

const HELP = `Usage: node bench/backends.js [flags]

  --quick          the shapes marked quick, 5 calls per cell, 3 s budget
  --shapes a,b     only these shapes (default: ${DEFAULT_SHAPES.join(', ')}; any of ${[...allShapes, ...LOCAL_SHAPES].map((s) => s.name).join(', ')})
  --backends a,b   only these rows (${VARIANTS.map((v) => v.id).join(', ')})
  --reps N         timed calls per cell (default 15; 5 with --quick)
  --budget S       stop timing a cell after S seconds once it has ${MIN_CALLS} calls (default 10; 3 with --quick)
  --out DIR        also write DIR/backends.json (the run's record, for bench/readme.js)
  --help           this text`;

function parseFlags(argv) {
  const flags = { quick: false, shapes: null, backends: null, reps: null, budget: null, out: null, child: null, ref: null };
  const valueOf = (i) => {
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new RangeError(`bench/backends: expected a value after ${argv[i]}`);
    return value;
  };
  const list = (i) => valueOf(i).split(',').map((s) => s.trim()).filter(Boolean);
  const positive = (i) => {
    const value = Number(valueOf(i));
    if (!(value > 0)) throw new RangeError(`bench/backends: expected ${argv[i]} to be a number > 0 but received "${argv[i + 1]}"`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') flags.quick = true;
    else if (arg === '--shapes') flags.shapes = list(i++);
    else if (arg === '--backends') flags.backends = list(i++);
    else if (arg === '--reps') flags.reps = Math.max(1, Math.round(positive(i++)));
    else if (arg === '--budget') flags.budget = positive(i++);
    else if (arg === '--out') flags.out = valueOf(i++);
    else if (arg === '--child') flags.child = valueOf(i++);
    else if (arg === '--ref') flags.ref = valueOf(i++);
    else if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    } else throw new RangeError(`bench/backends: unknown flag "${arg}" (see --help)`);
  }
  flags.reps ??= flags.quick ? 5 : 15;
  flags.budget ??= flags.quick ? 3 : 10;
  return flags;
}

// ------------------------------------------------------------------ child: one (backend, shape)

/** Times one shape on the backend this process's environment selects; the reference comes from the parent. */
async function measureCell(variant, shape, flags) {
  let fa;
  try {
    fa = require(ROOT);
  } catch (error) {
    throw new Error(`fused-attention is not built (${String(error.message).split('\n')[0]}); run \`npm run build\` first`);
  }
  const info = fa.backend();
  const { expect } = variant;
  if (info.name !== expect.name || (expect.isa && info.isa !== expect.isa) || info.threads !== 1) {
    throw new Error(`expected ${expect.name}${expect.isa ? `/${expect.isa}` : ''} on 1 thread but backend() reports ${info.name}/${info.isa} on ${info.threads}${info.reason ? ` (${info.reason})` : ''}`);
  }
  const inputs = makeInputs(shape);
  const { B, H, Lq, Lk, D, Dv } = shape;
  const q = { data: inputs.q, shape: [B, H, Lq, D] };
  const k = { data: inputs.k, shape: [B, H, Lk, D] };
  const v = { data: inputs.v, shape: [B, H, Lk, Dv] };
  const out = new Float32Array(B * H * Lq * Dv);
  const opts = { scale: scaleOf(shape), causal: shape.causal, mask: inputs.mask ? { data: inputs.mask, shape: [Lq, Lk] } : null, out };
  let cache = null;
  if (shape.kvCache) {
    cache = new fa.KvCache({ batch: B, numKvHeads: H, headDim: D, valueDim: Dv, maxLength: Lk });
    cache.append(k, v);
  }
  const call = () => {
    const start = process.hrtime.bigint();
    if (cache) fa.attention(q, cache, { scale: opts.scale, out });
    else fa.attention(q, k, v, opts);
    return Number(process.hrtime.bigint() - start) / 1e6;
  };

  // Warm-up: the JIT, and for wasm V8's tier-up from its baseline compiler.
  let warmMs = 0;
  do warmMs += call();
  while (warmMs < WARMUP_SECONDS * 1000);
  const samples = [];
  const { otherLoad } = await otherLoadWhile(() => {
    let timedMs = 0;
    while (samples.length < flags.reps && (samples.length < MIN_CALLS || timedMs < flags.budget * 1000)) {
      const ms = call();
      samples.push(ms);
      timedMs += ms;
    }
  });

  const { rows } = referenceRows(shape);
  const bytes = fs.readFileSync(flags.ref);
  const reference = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let nonFinite = 0;
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) nonFinite++;
  return { isa: info.isa, threads: info.threads, medianMs: median(samples), minMs: Math.min(...samples), calls: samples.length, relErr: relativeError(shape, out, rows, reference), nonFinite, otherLoad };
}

// ------------------------------------------------------------------ parent

/** Node flags the relaxed build needs here: none where this engine compiles it, else V8's flag (Node < 22). */
function relaxedFlags() {
  const file = path.join(ROOT, 'dist', 'fused_attention_relaxed.wasm');
  if (!fs.existsSync(file)) return [];
  return WebAssembly.validate(fs.readFileSync(file)) ? [] : [RELAXED_FLAG];
}

/** Runs measureCell in a child process with the variant's environment and flags; { status, ... }. */
function runCell(variant, nodeFlags, shape, refFile, flags) {
  const env = { ...process.env };
  for (const name of ['FUSED_ATTENTION_BACKEND', 'FUSED_ATTENTION_ISA', 'FUSED_ATTENTION_THREADS']) delete env[name];
  Object.assign(env, variant.env);
  const args = [...nodeFlags, __filename, '--child', variant.id, '--shapes', shape.name, '--reps', String(flags.reps), '--budget', String(flags.budget), '--ref', refFile];
  const child = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 24 });
  const line = String(child.stdout || '').split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (line) return JSON.parse(line.slice(RESULT_PREFIX.length));
  const why = child.error ? child.error.message : String(child.stderr || '').trim().split('\n').pop() || `exited with ${child.signal || child.status}`;
  return { status: 'error', error: why };
}

const fmtMs = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`);
const fmtRate = (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));

function printTable(shapes, variants, rows) {
  const find = (variant, shape) => rows.find((r) => r.backend === variant.id && r.shape === shape.name);
  const header = ['backend, 1 thread', ...shapes.map((s) => `${s.name}${s.bound === 'memory' ? ' (GB/s of K+V)' : ''}`)];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|---|${shapes.map(() => '--:').join('|')}|`);
  for (const variant of variants) {
    const isa = rows.find((r) => r.backend === variant.id && r.isa);
    const cells = shapes.map((shape) => {
      const row = find(variant, shape);
      if (!row) return '';
      if (row.status !== 'ok') return 'failed';
      const rate = shape.bound === 'memory' ? `${fmtRate(row.kvGBs)} GB/s` : `${fmtRate(row.gflops)} GFLOP/s`;
      return `${fmtMs(row.medianMs)} (${rate}, ${row.calls} calls, err ${row.relErr.toExponential(1)}${row.wrong ? ' WRONG' : ''}, other load ${Math.round(100 * row.otherLoad)} %)`;
    });
    console.log(`| ${variant.label}${isa ? ` (${isa.isa})` : ''} | ${cells.join(' | ')} |`);
  }
  for (const row of rows.filter((r) => r.status !== 'ok')) console.log(`\n${row.backend} on ${row.shape}: ${row.error}`);
  const ratio = (shape, slow, fast) => {
    const [a, b] = [slow, fast].map((id) => rows.find((r) => r.backend === id && r.shape === shape && r.status === 'ok'));
    return a && b ? `${(a.medianMs / b.medianMs).toFixed(1)}×` : 'n/a';
  };
  for (const shape of shapes.filter((s) => s.bound === 'compute')) {
    console.log(
      `\n${shape.name}: wasm relaxed / TS ${ratio(shape.name, 'js', 'wasm-relaxed')}, wasm simd128 / TS ${ratio(shape.name, 'js', 'wasm-simd128')}, ` +
        `native / wasm relaxed ${ratio(shape.name, 'wasm-relaxed', 'native')}, native / wasm simd128 ${ratio(shape.name, 'wasm-simd128', 'native')}`,
    );
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.child) {
    const variant = VARIANTS.find((v) => v.id === flags.child);
    let result;
    try {
      result = { status: 'ok', ...(await measureCell(variant, shapeOf(flags.shapes[0]), flags)) };
    } catch (error) {
      result = { status: 'error', error: String((error && error.message) || error).split('\n')[0] };
    }
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
    return;
  }
  const names = flags.shapes || (flags.quick ? [...allShapes, ...LOCAL_SHAPES].filter((s) => s.quick).map((s) => s.name) : DEFAULT_SHAPES);
  const shapes = names.map(shapeOf);
  const variants = (flags.backends || VARIANTS.map((v) => v.id)).map((id) => {
    const variant = VARIANTS.find((v) => v.id === id);
    if (!variant) throw new RangeError(`bench/backends: unknown backend "${id}"; expected one of ${VARIANTS.map((v) => v.id).join(', ')}`);
    return variant;
  });
  let backendInfo;
  try {
    backendInfo = require(ROOT).backend();
  } catch {
    backendInfo = undefined; // each child says why its backend did not load
  }
  const run = startRecord(__filename, { backend: backendInfo });
  const flagsOf = (variant) => (variant.relaxed ? relaxedFlags() : []);

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-attention-backends-'));
  const rows = [];
  try {
    for (const shape of shapes) {
      const { rows: refRows } = referenceRows(shape);
      const refFile = path.join(tmpDir, `${shape.name}.f64`);
      fs.writeFileSync(refFile, Buffer.from(computeReference(shape, makeInputs(shape), refRows).buffer));
      for (const variant of variants) {
        const result = runCell(variant, flagsOf(variant), shape, refFile, flags);
        const row = { shape: shape.name, backend: variant.id, ...result };
        if (row.status === 'ok') {
          row.gflops = flopsOf(shape) / row.medianMs / 1e6;
          if (shape.bound === 'memory') row.kvGBs = kvBytesOf(shape) / row.medianMs / 1e6;
          row.wrong = row.nonFinite > 0 || !(row.relErr <= WRONG_ABOVE);
        }
        rows.push(row);
        process.stderr.write(`bench/backends: ${shape.name} ${variant.id} ${row.status === 'ok' ? fmtMs(row.medianMs) : `failed: ${row.error}`}\n`);
      }
    }
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }

  console.log(`# attention on each backend, one thread (fused-attention ${require(path.join(ROOT, 'package.json')).version})\n`);
  console.log(`Machine: ${run.machine.cpu}, ${run.machine.cores} CPUs, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(
    `Median of ${flags.reps} calls per cell (fewer, at least ${MIN_CALLS}, once they pass ${flags.budget} s) after >= ${WARMUP_SECONDS} s of warm-up; ` +
      `err = relative error against a float64 reference; other load = CPU share other processes took while the cell was timed.` +
      `${variants.some((v) => flagsOf(v).length) ? ` The relaxed row runs with ${RELAXED_FLAG}.` : ''}\n`,
  );
  printTable(shapes, variants, rows);
  if (flags.out) {
    const { child, ref, out, ...asked } = flags;
    run.write(flags.out, 'backends.json', {
      flags: asked,
      warmupSeconds: WARMUP_SECONDS,
      minCalls: MIN_CALLS,
      variants: variants.map((v) => ({ id: v.id, label: v.label, nodeFlags: flagsOf(v) })),
      shapes: shapes.map(({ name, B, H, Lq, Lk, D, Dv, causal, mask, unit, bound }) => ({ name, B, H, Lq, Lk, D, Dv, causal, mask, unit, bound })),
      rows,
    });
    process.stderr.write(`bench/backends: wrote ${path.join(flags.out, 'backends.json')}\n`);
  }
  if (rows.some((r) => r.status !== 'ok' || r.wrong)) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
