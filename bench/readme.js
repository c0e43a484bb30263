'use strict';
// Rewrites the README's benchmark sections from the records of benchmark runs, so the
// numbers and the sentences naming their command, date, commit and machine come from
// the same run. A results directory holds what each benchmark wrote with --out DIR:
//
//   results.json   bench/run.js --isa avx2,scalar        sections main, isa
//   vision.json    bench/vision.js                       section vision
//   linear.json    bench/linear.js                       section linear
//   churn.json     bench/kv-cache-churn.js               section churn
//   service.json   examples/service/load.js --threads 2,1   section service
//   backends.json  bench/backends.js                     section backends
//
//   node bench/readme.js [DIR]           rewrite from DIR (default: the newest bench/results/*/)
//   node bench/readme.js --run [DIR] [--only main,vision,linear,churn,service,backends]
//                                        run those benchmarks into DIR (default
//                                        bench/results/readme/), then rewrite
//   npm run bench:readme                 the same as --run: every benchmark, every section
//
// It copies the numbers it uses to bench/readme-results.json (committed, unlike
// bench/results/), and test/bench-readme.test.ts checks that the README's marked
// sections are exactly what this script makes from that file. A file missing from DIR
// keeps that part of bench/readme-results.json, so its sections stay as they were.
// With --run, a benchmark that fails (examples/service/load.js exits 1 when requests
// fail or answers are wrong) does not stop the others or the rewrite: its sections are
// made from what it wrote (errors included), or kept when it wrote nothing, and this
// script exits 1 naming it.
// A section is the text between `<!-- bench:NAME:start stamp=… -->` and
// `<!-- bench:NAME:end -->`; everything outside the markers is left alone.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const RECORD = path.join(__dirname, 'readme-results.json');
const RESULTS = path.join(__dirname, 'results');
const RUN_DIR = path.join(RESULTS, 'readme');

/**
 * The parts of the record: the file a benchmark writes into the results directory, the
 * command (without --out DIR) that `--run` runs for it, in this order. `main` is
 * results.json itself, at the record's top level; the others sit under their key.
 */
const PARTS = [
  { key: 'main', file: 'results.json', command: ['bench/run.js', '--isa', 'avx2,scalar'] },
  { key: 'vision', file: 'vision.json', command: ['bench/vision.js'] },
  { key: 'linear', file: 'linear.json', command: ['bench/linear.js'] },
  { key: 'churn', file: 'churn.json', command: ['bench/kv-cache-churn.js'] },
  { key: 'service', file: 'service.json', command: ['examples/service/load.js', '--threads', '2,1'] },
  { key: 'backends', file: 'backends.json', command: ['bench/backends.js'] },
];
const partOf = (key) => PARTS.find((p) => p.key === key);

// The fields of results.json the sections read; the record keeps only these.
const SHAPE_FIELDS = ['name', 'B', 'H', 'Lq', 'Lk', 'D', 'Dv', 'causal', 'mask', 'unit', 'bound'];
const ROW_FIELDS = ['shape', 'peer', 'status', 'threads', 'detail', 'medianMs', 'gflops', 'kvGBs', 'relErr', 'wrong', 'noisy', 'reason', 'error'];
// Per-ISA line: these shapes when the run has them, else every compute-bound shape it ran.
const ISA_SHAPES = ['self-512', 'self-2048'];
// Issue 18's targets for the WebAssembly backend, one thread: at `shape` at least `gflops` GFLOP/s and
// `overJs` times the TS fallback; at `decodeShape` at least `decodeGBs` GB/s of K+V.
const WASM_TARGETS = { shape: 'self-512', gflops: 15, overJs: 8, decodeShape: 'decode-kvcache', decodeGBs: 5 };
// linear, churn, service, backends: a row (a cell in backends) is flagged ⚠ when other processes took more than this share of the CPU time while it ran.
const NOISY_ABOVE = 0.05;

const pick = (object, keys) => Object.fromEntries(keys.filter((k) => object[k] !== undefined).map((k) => [k, object[k]]));

/** The part of a results.json (plus the other parts' files under their keys) that the README sections are made from. */
function recordOf(results) {
  return {
    stamp: results.stamp,
    date: results.date,
    command: results.command || `node bench/run.js ${(results.argv || []).join(' ')}`.trim(),
    commit: results.commit || 'unknown',
    wallSeconds: results.wallSeconds,
    machine: results.machine,
    ceiling: results.ceiling,
    shapes: results.shapes.map((s) => pick(s, SHAPE_FIELDS)),
    rows: results.rows.map((r) => pick(r, ROW_FIELDS)),
    ...Object.fromEntries(PARTS.slice(1).map(({ key }) => [key, results[key] || null])),
  };
}

/**
 * One row per line, so a rerun's diff shows which numbers moved: the record's arrays and
 * those of its parts (objects with rows) one element a line.
 */
function formatRecord(record) {
  const value = (v, indent) =>
    Array.isArray(v) && v.length ? `[\n${v.map((x) => `${indent}  ${JSON.stringify(x)}`).join(',\n')}\n${indent}]` : JSON.stringify(v);
  const object = (o, indent) =>
    `{\n${Object.entries(o)
      .map(([k, v]) => `${indent}  ${JSON.stringify(k)}: ${indent === '' && v && Array.isArray(v.rows) ? object(v, '  ') : value(v, `${indent}  `)}`)
      .join(',\n')}\n${indent}}`;
  return `${object(record, '')}\n`;
}

// ------------------------------------------------------------------ formatting

function num(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function timeOf(row, shape) {
  return shape.unit === 'us' ? `${Math.round(row.medianMs * 1000)} µs` : `${num(row.medianMs)} ms`;
}

const percent = (share) => (share === null || share === undefined ? '?' : `${Math.round(100 * share)} %`);

function shapeLabel(shape) {
  const L = shape.Lq === shape.Lk ? `L=${shape.Lq}` : `Lq=${shape.Lq} Lk=${shape.Lk}`;
  const D = shape.D === shape.Dv ? `D=${shape.D}` : `D=${shape.D} Dv=${shape.Dv}`;
  const extras = [shape.causal ? 'causal' : null, shape.mask ? 'additive mask' : null].filter(Boolean);
  return `${shape.name} (B=${shape.B} H=${shape.H} ${L} ${D}${extras.length ? `, ${extras.join(', ')}` : ''})`;
}

/** A row's time, or why it has none; ⚠ when other processes took CPU it needed. */
function cell(row, shape, rate) {
  if (!row) return '';
  if (row.status === 'skipped') return 'skipped';
  if (row.status !== 'ok') return 'failed';
  const extra = rate ? ` (${rate(row)})` : '';
  return `${timeOf(row, shape)}${extra}${row.wrong ? ' **WRONG**' : ''}${row.noisy ? ' ⚠' : ''}`;
}

function rateOf(shape, bytesNote = '') {
  if (shape.bound === 'memory') {
    return (row) => `${num(row.kvGBs)} GB/s${bytesNote}${shape.Lq === 1 ? `, ${Math.round(1000 / row.medianMs)} steps/s` : ''}`;
  }
  return (row) => `${num(row.gflops)} GF/s`;
}

const tableRow = (cells) => `|${cells.map((text) => (text ? ` ${text} ` : ' ')).join('|')}|`;

const ratio = (slow, fast) => (slow && fast && slow.status === 'ok' && fast.status === 'ok' ? `${(slow.medianMs / fast.medianMs).toFixed(2)}×` : '');

function ortName(row) {
  return row.peer.startsWith('ort-mha') ? 'MultiHeadAttention' : 'MatMul+Softmax';
}

function gemmText(ceiling) {
  const entries = Object.entries(ceiling.gemm || {}).filter(([, g]) => g);
  if (!entries.length) return 'not measured';
  const source = entries[0][1].source;
  return `${entries.map(([threads, g]) => `${num(g.gflops)} GFLOP/s on ${threads} thread${threads === '1' ? '' : 's'}`).join(', ')} (${source})`;
}

/** "AMD EPYC, 2 cores (CPU flags: avx2, fma), kernels native/avx2, 2 threads, Node v20.20.2"; `threads: false` leaves the pool size out. */
function machineText(machine, { threads = true } = {}) {
  const flags = machine.cpuFlags ? ` (CPU flags: ${machine.cpuFlags.join(', ') || 'none of avx512f/avx2/fma'})` : '';
  const b = machine.backend;
  const kernels = b ? `${b.name}/${b.isa}${threads ? `, ${b.threads} threads` : ''}` : `not loaded (${machine.backendError})`;
  return `${machine.cpu}, ${machine.cores} cores${flags}, kernels ${kernels}, Node ${machine.node}`;
}

/** The sentence's start for a linear, churn or service record: command, date, commit, wall time, machine, load average. */
function runText(run, machineOptions) {
  const { machine } = run;
  return (
    `Measured with \`${run.command}\` on ${run.date.slice(0, 10)} (commit \`${run.commit || 'unknown'}\`, ${Math.round(run.wallSeconds)} s): ` +
    `${machineText(machine, machineOptions)}; load average ${machine.loadBefore.toFixed(1)} at the start and ${machine.loadAfter.toFixed(1)} at the end`
  );
}

const msText = (ms) => (ms < 1 ? `${Math.round(ms * 1000)} µs` : `${num(ms)} ms`);
const noisyMark = (row) => (row.otherLoad > NOISY_ABOVE ? ' ⚠' : '');
const noisyNote = (rows, what) => {
  const noisy = rows.filter((r) => r.otherLoad > NOISY_ABOVE).length;
  return `${noisy} of ${rows.length} ${what} flagged ⚠ (other processes took more than ${Math.round(100 * NOISY_ABOVE)} % of the CPU time while the row ran: rerun on a quiet machine)`;
};

/** A section whose part the record has as null. */
function notMeasured(key) {
  const part = partOf(key);
  return `Not measured in this run: \`node ${part.command[0]} --out DIR\` writes the \`${part.file}\` this table is made from (\`npm run bench:readme\` does).`;
}

// ------------------------------------------------------------------ sections

function mainSection(record) {
  const { machine, ceiling, shapes, rows } = record;
  const find = (shape, peer) => rows.find((r) => r.shape === shape.name && r.peer === peer);
  const ok = rows.filter((r) => r.status === 'ok');
  const native = ok.find((r) => r.peer === 'fa-native');
  const threads = native ? native.threads : machine.cores;
  // The multi-threaded onnxruntime peers: the fastest of them is the comparison.
  const ortThreads = Math.max(0, ...ok.filter((r) => r.peer.startsWith('ort-')).map((r) => r.threads));
  const bestOrt = (shape) =>
    ok
      .filter((r) => r.shape === shape.name && r.peer.startsWith('ort-') && r.threads === ortThreads)
      .reduce((best, r) => (best && best.medianMs <= r.medianMs ? best : r), null);

  const float32Errors = ok.filter((r) => r.peer !== 'fa-cache-bf16' && Number.isFinite(r.relErr)).map((r) => r.relErr);
  const bf16Errors = ok.filter((r) => r.peer === 'fa-cache-bf16').map((r) => r.relErr);
  const noisy = ok.filter((r) => r.noisy).length;
  const wrong = ok.filter((r) => r.wrong).length;
  const lines = [
    `Measured with \`${record.command}\` on ${record.date.slice(0, 10)} (results \`${record.stamp}\`, commit \`${record.commit}\`, ` +
      `${Math.round(record.wallSeconds)} s): ${machineText(machine)}, ${machine.platform}. CPUs ${percent(machine.busyBefore)} busy before the run and ${percent(machine.busyAfter)} after; ` +
      `${noisy} of ${ok.length} rows flagged ⚠ (other processes took CPU time the row needed: rerun them on a quiet machine)` +
      `${wrong ? `; **${wrong} rows WRONG**` : ''}. ` +
      `Ceiling measured in the same run: sgemm ${gemmText(ceiling)}; memory copy ${ceiling.copyGBs ? `${num(ceiling.copyGBs)} GB/s` : 'not measured'}` +
      `${ceiling.notes && ceiling.notes.length ? `; note: ${ceiling.notes.join('; ')}` : ''}. ` +
      `Median time per call; all float32 results within ${float32Errors.length ? Math.max(...float32Errors).toExponential(1) : '—'} relative error of a float64 reference` +
      `${bf16Errors.length ? ` (the bfloat16 cache row: ${Math.max(...bf16Errors).toExponential(1)})` : ''}.`,
    '',
    `| shape | fused-attention, ${threads} threads | 1 thread | best onnxruntime (${ortThreads} thr) | fused vs ORT | TS fallback | naive JS |`,
    '|---|--:|--:|--:|--:|--:|--:|',
  ];
  for (const shape of shapes) {
    const fused = find(shape, 'fa-native');
    if (!fused) continue;
    const ort = bestOrt(shape);
    const ortCell = ort ? `${cell(ort, shape)} (${ortName(ort)})` : '';
    lines.push(
      tableRow([
        shapeLabel(shape), cell(fused, shape, rateOf(shape)), cell(find(shape, 'fa-native-1t'), shape), ortCell,
        ratio(ort, fused), cell(find(shape, 'fa-js'), shape), cell(find(shape, 'naive-js'), shape),
      ]),
    );
    for (const [peer, label] of [['fa-cache-f32', 'float32'], ['fa-cache-bf16', 'bfloat16']]) {
      const cached = find(shape, peer);
      if (!cached) continue;
      const rate = rateOf(shape, peer === 'fa-cache-bf16' ? ' of bf16 K+V' : '');
      lines.push(tableRow([`${shape.name}, \`KvCache\` ${label}`, cell(cached, shape, rate), '', ort ? cell(ort, shape) : '', ratio(ort, cached), '', '']));
    }
  }
  return lines.join('\n');
}

function isaSection(record) {
  const { shapes, rows } = record;
  const isaRows = rows.filter((r) => /^fa-native-(?!1t$)/.test(r.peer));
  const isas = [...new Set(isaRows.map((r) => r.peer.slice('fa-native-'.length)))];
  if (!isas.length) return `Per ISA: this run forced none (\`npm run bench:readme\` adds \`--isa avx2,scalar\`).`;
  const ran = new Set(isaRows.map((r) => r.shape));
  const preferred = shapes.filter((s) => ISA_SHAPES.includes(s.name) && ran.has(s.name));
  const picked = preferred.length ? preferred : shapes.filter((s) => s.bound === 'compute' && ran.has(s.name));
  const parts = isas.map((isa) => {
    const cells = picked.map((shape) => {
      const row = isaRows.find((r) => r.shape === shape.name && r.peer === `fa-native-${isa}`);
      return row ? cell(row, shape, row.status === 'ok' ? rateOf(shape) : null) : '—';
    });
    const threads = isaRows.find((r) => r.peer === `fa-native-${isa}` && r.threads);
    return `${isa}${threads ? ` (${threads.threads} thr)` : ''} ${cells.join(' / ')}`;
  });
  return `Per ISA in the same run (\`FUSED_ATTENTION_ISA\`, ${picked.map((s) => s.name).join(' / ')}): ${parts.join('; ')}.`;
}

/** bench/vision.js's table, when its vision.json sits beside the run's results.json. */
function visionSection(record) {
  const vision = record.vision;
  if (!vision) return notMeasured('vision');
  const { machine } = vision;
  const lines = [
    `Measured with \`${vision.command}\` on ${vision.date.slice(0, 10)}${vision.commit ? ` (commit \`${vision.commit}\`)` : ''}: ${machineText(machine)}; ` +
      `load average ${machine.loadBefore.toFixed(1)} before and ${machine.loadAfter.toFixed(1)} after${Math.max(machine.loadBefore, machine.loadAfter) > machine.cores ? ' (more than the cores: other processes shared them; rerun on a quiet machine)' : ''}. ${vision.method}`,
    '',
    '| what | shape | fused-attention (ms) | plain JS dense (ms) | speedup | rel. diff |',
    '|---|---|---:|---:|---:|---:|',
    ...vision.rows.map((r) =>
      tableRow([r.name, r.description, r.fusedMs.toFixed(1), r.plainMs.toFixed(1), `${(r.plainMs / r.fusedMs).toFixed(1)}×`, r.relDiff.toExponential(1)]),
    ),
  ];
  return lines.join('\n');
}

// bench/linear.js's columns: its peer ids and the group (child process) each ran in.
const LINEAR_COLUMNS = [
  { id: 'native2', group: 'native', title: 'packLinear, 2 threads' },
  { id: 'native1', group: 'native', title: 'packLinear, 1 thread' },
  { id: 'bf16x2', group: 'native', title: 'packLinear bfloat16 weights, 2 threads (× float32, rel-err)', bf16: true },
  { id: 'oneShot2', group: 'native', title: '`linear()`, 2 threads' },
  { id: 'ort2', group: 'ort', title: 'onnxruntime MatMul+Add, 2 threads' },
  { id: 'js', group: 'js', title: 'TS fallback' },
];

/** bench/linear.js's table, from its linear.json. */
function linearSection(record) {
  const run = record.linear;
  if (!run) return notMeasured('linear');
  const { ceiling, rows } = run;
  const errors = rows.map((r) => r.maxRelErr).filter(Number.isFinite);
  const cell = (row, column) => {
    const ms = row.ms[column.id];
    if (ms === undefined || ms === null) return row.groupErrors && row.groupErrors[column.group] ? 'failed' : '';
    const rate = row.memoryBound ? `${num(row.weightGBs[column.id])} GB/s` : `${num(row.gflops[column.id])} GFLOP/s`;
    if (!column.bf16) return `${msText(ms)}, ${rate}`;
    const err = row.relErr && Number.isFinite(row.relErr[column.id]) ? `, ${row.relErr[column.id].toExponential(1)}` : '';
    return `${msText(ms)}, ${rate} (${(row.ms.native2 / ms).toFixed(2)}×${err})`;
  };
  const label = (row) => `${row.M} × ${row.K} → ${row.N}${row.cold ? ' (weights from DRAM)' : row.memoryBound ? ' (weights in cache)' : ''}${noisyMark(row)}`;
  return [
    `${runText(run)}. Ceiling measured in the same run: sgemm ${ceiling ? gemmText(ceiling) : 'not measured'}` +
      `${ceiling && ceiling.copyGBs ? `; memory copy ${num(ceiling.copyGBs)} GB/s` : ''}. ` +
      `Median of ${run.flags.reps} calls per cell (the TS fallback: fewer on its slow shapes); GFLOP/s = 2·M·N·K / time, or, on the rows that name ` +
      `where the weights come from (calls bound by reading them), GB/s = weight bytes / time; ${noisyNote(rows, 'rows')}. ` +
      `Largest relative error against a float64 reference on 3 sampled rows: ${errors.length ? Math.max(...errors).toExponential(1) : '—'}` +
      ` (float32 weights; the bfloat16 column gives its time as a multiple of the float32 weights' on 2 threads, and its error against the float32 weights' float64 result).`,
    '',
    `| shape | ${LINEAR_COLUMNS.map((c) => c.title).join(' | ')} |`,
    `|---|${LINEAR_COLUMNS.map(() => '--:').join('|')}|`,
    ...rows.map((row) => tableRow([label(row), ...LINEAR_COLUMNS.map((c) => cell(row, c))])),
  ].join('\n');
}

/** bench/kv-cache-churn.js's table, from its churn.json. */
function churnSection(record) {
  const run = record.churn;
  if (!run) return notMeasured('churn');
  const { config } = run;
  const label = (row) => `${row.mode === 'pool' ? `KvCachePool (max ${run.concurrency})` : 'new KvCache per request, dropped'}${noisyMark(row)}`;
  return [
    `${runText(run)}. ${run.requests} requests, ${run.concurrency} in flight, each filling a ${+run.cacheMiB.toFixed(2)} MiB cache ` +
      `(batch ${config.batch}, ${config.numKvHeads} kv heads, headDim ${config.headDim}, maxLength ${config.maxLength}) and running one \`attentionAsync\` step; ` +
      `each in its own process; ${noisyNote(run.rows, 'rows')}.`,
    '',
    '| caches | caches created | peak RSS | RSS at end | time |',
    '|---|---:|---:|---:|---:|',
    ...run.rows.map((row) =>
      tableRow([label(row), String(row.caches), `${row.peakMiB.toFixed(0)} MiB`, `${row.endMiB.toFixed(0)} MiB`, `${row.seconds.toFixed(1)} s`]),
    ),
  ].join('\n');
}

/** examples/service/load.js's table, from its service.json, and the best row of each engine. */
function serviceSection(record) {
  const run = record.service;
  if (!run) return notMeasured('service');
  const { rows } = run;
  const name = (row) => (row.engine === 'fused' ? `fused-attention (${row.backend})` : 'onnxruntime-node');
  const failed = rows.reduce((n, r) => n + r.errors, 0);
  const wrong = rows.reduce((n, r) => n + r.wrong, 0);
  const lines = [
    `${runText(run, { threads: false })}${run.onnxruntime ? `; onnxruntime-node ${run.onnxruntime}` : ''}; ` +
      `${run.connections} connections, ${run.duration} s per row after a ${run.warmup} s warm-up; ${noisyNote(rows, 'rows')}` +
      `${failed || wrong ? `; **${failed} request${failed === 1 ? '' : 's'} failed and ${wrong} answer${wrong === 1 ? ' was' : 's were'} wrong**` : ''}.`,
    '',
    '| engine | threads | requests/s | latency p50 | latency p99 | event-loop delay p99 | RSS before → after | errors | wrong answers (of checked) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      tableRow([
        `${name(r)}${noisyMark(r)}`, String(r.threads), r.requestsPerSecond.toFixed(0), `${r.p50} ms`, `${r.p99} ms`, `${r.loopP99.toFixed(1)} ms`,
        `${r.rssBefore.toFixed(0)} → ${r.rssAfter.toFixed(0)} MiB`, String(r.errors), `${r.wrong} (of ${r.checked})`,
      ]),
    ),
  ];
  const best = (engine) => rows.filter((r) => r.engine === engine).reduce((a, b) => (a && a.requestsPerSecond >= b.requestsPerSecond ? a : b), null);
  const [fused, ort] = [best('fused'), best('ort')];
  if (fused && ort) {
    const threads = (r) => `${r.threads} thread${r.threads === 1 ? '' : 's'}`;
    const [fast, slow] = fused.requestsPerSecond >= ort.requestsPerSecond ? [fused, ort] : [ort, fused];
    lines.push(
      '',
      `The best row of each engine in this run: fused-attention on ${threads(fused)}, ${fused.requestsPerSecond.toFixed(0)} requests/s; ` +
        `onnxruntime-node on ${threads(ort)}, ${ort.requestsPerSecond.toFixed(0)} requests/s ` +
        `(${(fast.requestsPerSecond / slow.requestsPerSecond).toFixed(2)}× in ${fast === fused ? 'fused-attention' : 'onnxruntime-node'}'s favour).`,
    );
  }
  return lines.join('\n');
}

/** Issue 18's targets, judged from `run`'s cells: for each wasm build its rate and speedup over the TS fallback, met or missed. */
function wasmTargetsText(run) {
  const { shape, decodeShape } = WASM_TARGETS;
  const find = (backend, shapeName) => run.rows.find((r) => r.backend === backend && r.shape === shapeName && r.status === 'ok' && !r.wrong);
  const verdict = (value, target, text) => (value === null ? 'not measured' : `${text(value)} (${value >= target ? 'met' : 'missed'})`);
  const js = find('js', shape);
  const builds = run.variants.filter((v) => v.id.startsWith('wasm-')).map((variant) => {
    const self = find(variant.id, shape);
    const decode = find(variant.id, decodeShape);
    const parts = [
      verdict(self ? self.gflops : null, WASM_TARGETS.gflops, (v) => `${num(v)} GFLOP/s`),
      verdict(self && js ? js.medianMs / self.medianMs : null, WASM_TARGETS.overJs, (v) => `${v.toFixed(1)}× the TS fallback`),
      verdict(decode ? decode.kvGBs : null, WASM_TARGETS.decodeGBs, (v) => `${num(v)} GB/s`),
    ].join(', ');
    return `${variant.label}: ${parts}`;
  });
  const native = find('native', shape);
  const nativeOver = run.variants
    .filter((v) => v.id.startsWith('wasm-') && find(v.id, shape))
    .map((v) => `${(find(v.id, shape).medianMs / native.medianMs).toFixed(1)}× as fast as ${v.label}`);
  return (
    `Issue 18's targets for the wasm backend (at least ${WASM_TARGETS.gflops} GFLOP/s and ${WASM_TARGETS.overJs}× the TS fallback at ${shape}, ` +
    `at least ${WASM_TARGETS.decodeGBs} GB/s of K+V at ${decodeShape}), from this run: ${builds.join('; ')}.` +
    `${native && nativeOver.length ? ` At ${shape} native (${native.isa}) runs ${nativeOver.join(' and ')}.` : ''}`
  );
}

/** bench/backends.js's table: one row per backend (one thread), one column per shape; then issue 18's targets. */
function backendsSection(record) {
  const run = record.backends;
  if (!run) return notMeasured('backends');
  const { shapes, variants, rows } = run;
  const ok = rows.filter((r) => r.status === 'ok');
  const errors = ok.map((r) => r.relErr).filter(Number.isFinite);
  const wrong = ok.filter((r) => r.wrong).length;
  const labelOf = (id) => (variants.find((v) => v.id === id) || { label: id }).label;
  const short = ok.filter((r) => r.calls < run.flags.reps).map((r) => `${labelOf(r.backend)} at ${r.shape}`);
  const flagged = variants.filter((v) => v.nodeFlags.length).map((v) => `the ${v.label} row's with \`node ${v.nodeFlags.join(' ')}\``);
  const cell = (variant, shape) => {
    const row = rows.find((r) => r.backend === variant.id && r.shape === shape.name);
    if (!row) return '';
    if (row.status !== 'ok') return 'failed';
    const rate = shape.bound === 'memory' ? `${num(row.kvGBs)} GB/s` : `${num(row.gflops)} GFLOP/s`;
    return `${msText(row.medianMs)}, ${rate}${row.wrong ? ' **WRONG**' : ''}${noisyMark(row)}`;
  };
  const label = (variant) => {
    const row = ok.find((r) => r.backend === variant.id);
    return `${variant.label}${row ? ` (\`${row.isa}\`)` : ''}`;
  };
  const heading = (shape) => `${shapeLabel(shape)}${shape.bound === 'memory' ? ', GB/s of K+V' : ''}`;
  return [
    `${runText(run, { threads: false })}. One thread per backend, each backend and shape in its own process${flagged.length ? ` (${flagged.join(', ')})` : ''}; ` +
      `median of ${run.flags.reps} timed calls per cell after at least ${run.warmupSeconds} s of warm-up` +
      `${short.length ? ` (fewer, at least ${run.minCalls}, once they passed ${run.flags.budget} s: ${short.join(', ')})` : ''}; ` +
      `GFLOP/s = 2·B·H·Lq·Lk·(D+Dv) / time, halved for causal; GB/s = bytes of K and V / time; ${noisyNote(ok, 'cells')}` +
      `${wrong ? `; **${wrong} cell${wrong === 1 ? '' : 's'} WRONG**` : ''}. ` +
      `Largest relative error against a float64 reference: ${errors.length ? Math.max(...errors).toExponential(1) : '—'}.`,
    '',
    `| backend, 1 thread | ${shapes.map(heading).join(' | ')} |`,
    `|---|${shapes.map(() => '--:').join('|')}|`,
    ...variants.map((variant) => tableRow([label(variant), ...shapes.map((shape) => cell(variant, shape))])),
    '',
    wasmTargetsText(run),
  ].join('\n');
}

/** Each README section: how it is made, and the part of the record it is made from. */
const SECTIONS = {
  main: { render: mainSection, part: 'main' },
  isa: { render: isaSection, part: 'main' },
  vision: { render: visionSection, part: 'vision' },
  linear: { render: linearSection, part: 'linear' },
  churn: { render: churnSection, part: 'churn' },
  service: { render: serviceSection, part: 'service' },
  backends: { render: backendsSection, part: 'backends' },
};

// ------------------------------------------------------------------ README

function markerPattern(name) {
  return new RegExp(`<!-- bench:${name}:start[^>]*-->[\\s\\S]*?<!-- bench:${name}:end -->`, 'g');
}

/**
 * The README with every bench section rewritten from `record`; throws when a marker pair
 * is missing, or when the record lacks a section's part (a null part reads "Not measured").
 */
function renderReadme(readme, record) {
  let text = readme;
  for (const [name, { render, part: key }] of Object.entries(SECTIONS)) {
    const found = text.match(markerPattern(name));
    if (!found || found.length !== 1) {
      throw new Error(`bench/readme.js: expected one <!-- bench:${name}:start --> … <!-- bench:${name}:end --> pair in README.md but found ${found ? found.length : 0}`);
    }
    const part = key === 'main' ? (Array.isArray(record.rows) ? record : undefined) : record[key];
    if (part === undefined) {
      throw new Error(
        `bench/readme.js: the record has no ${key} part (from ${partOf(key).file}), so the README's ${name} section cannot be made; ` +
          `rerun \`node bench/readme.js DIR\` over bench/readme-results.json with DIR holding ${partOf(key).file}`,
      );
    }
    const stamp = (part && part.stamp) || record.stamp;
    const block = `<!-- bench:${name}:start stamp=${stamp} (generated by bench/readme.js from bench/readme-results.json) -->\n${render(record)}\n<!-- bench:${name}:end -->`;
    text = text.replace(markerPattern(name), () => block);
  }
  return text;
}

/**
 * The record made from the files in `dir`, each part from its file when present, else
 * `previous`'s (the committed record). Returns it with the parts taken from `dir`.
 */
function recordFromDir(dir, previous) {
  const read = (part) => {
    const file = path.join(dir, part.file);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
  };
  const found = PARTS.filter((part) => fs.existsSync(path.join(dir, part.file)));
  if (!found.length) throw new Error(`bench/readme.js: ${dir} holds none of ${PARTS.map((p) => p.file).join(', ')}`);
  const results = read(partOf('main'));
  if (results && !results.stamp) results.stamp = path.basename(path.resolve(dir));
  if (!results && !previous) throw new Error(`bench/readme.js: no results.json in ${dir} and no bench/readme-results.json to keep the main table from`);
  const merged = { ...(results || previous) };
  for (const part of PARTS.slice(1)) merged[part.key] = read(part) || (previous && previous[part.key]) || null;
  return { record: recordOf(merged), found };
}

/** The newest directory under bench/results/ that holds any part's file. */
function newestResults() {
  const dirs = fs.existsSync(RESULTS) ? fs.readdirSync(RESULTS).map((d) => path.join(RESULTS, d)) : [];
  const dated = dirs
    .map((dir) => ({ dir, times: PARTS.map((p) => path.join(dir, p.file)).filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).mtimeMs) }))
    .filter((d) => d.times.length);
  if (!dated.length) throw new Error('bench/readme.js: no bench/results/*/ with a results file; run `npm run bench:readme` first');
  return dated.sort((a, b) => Math.max(...a.times) - Math.max(...b.times)).pop().dir;
}

/** Rewrites README.md and bench/readme-results.json from `dir`. */
function rewrite(dir) {
  const previous = fs.existsSync(RECORD) ? JSON.parse(fs.readFileSync(RECORD, 'utf8')) : null;
  const { record, found } = recordFromDir(dir, previous);
  fs.writeFileSync(README, renderReadme(fs.readFileSync(README, 'utf8'), record));
  fs.writeFileSync(RECORD, formatRecord(record));
  const from = (key) => Object.entries(SECTIONS).filter(([, s]) => s.part === key).map(([name]) => name).join(', ');
  for (const part of PARTS) {
    const run = found.includes(part) ? JSON.parse(fs.readFileSync(path.join(dir, part.file), 'utf8')) : null;
    const partial = run && run.flags && (run.flags.quick || run.flags.shapes || run.flags.peers);
    process.stderr.write(
      run
        ? `bench/readme.js: README.md ${from(part.key)} rewritten from ${path.relative(process.cwd(), path.join(dir, part.file))}` +
            `${partial ? ' (a partial run: --quick, --shapes or --peers; the README usually shows a full one)' : ''}\n`
        : `bench/readme.js: no ${part.file} in ${path.relative(process.cwd(), dir) || '.'}: ${from(part.key)} kept from bench/readme-results.json\n`,
    );
  }
}

/** --run: each part's benchmark into `dir` (a failed one does not stop the others), then rewrite(dir); 1 when one failed. */
function runAll(dir, keys) {
  const parts = keys ? keys.map((key) => partOf(key) || badPart(key)) : PARTS;
  // The commands name DIR from the repository root (they run there), as the README quotes them.
  const inRepo = path.relative(ROOT, path.resolve(dir));
  const out = inRepo.startsWith('..') || path.isAbsolute(inRepo) ? path.resolve(dir) : inRepo.split(path.sep).join('/') || '.';
  const failed = [];
  for (const part of parts) {
    const file = path.join(dir, part.file);
    fs.rmSync(file, { force: true }); // an earlier run's file must not stand in for this one's
    const args = [...part.command, '--out', out];
    process.stderr.write(`\nbench/readme.js: node ${args.join(' ')}\n`);
    const child = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
    if (child.status !== 0) {
      const why = child.error ? child.error.message : `exited with ${child.signal || child.status}`;
      failed.push(`\`node ${args.join(' ')}\` ${why}; ${fs.existsSync(file) ? `its ${part.file} (failures included) went into the README` : `it wrote no ${part.file}`}`);
    }
  }
  rewrite(dir);
  for (const line of failed) process.stderr.write(`bench/readme.js: ${line}\n`);
  return failed.length ? 1 : 0;
}

function badPart(key) {
  throw new RangeError(`bench/readme.js: unknown part "${key}" for --only; expected some of ${PARTS.map((p) => p.key).join(', ')}`);
}

function main(argv) {
  if (argv[0] !== '--run') {
    rewrite(argv[0] || newestResults());
    return 0;
  }
  let dir = RUN_DIR;
  let keys = null;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--only') keys = String(argv[++i] || '').split(',').filter(Boolean);
    else if (argv[i].startsWith('--')) throw new RangeError(`bench/readme.js: unknown flag "${argv[i]}"`);
    else dir = argv[i];
  }
  return runAll(dir, keys);
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { recordOf, recordFromDir, formatRecord, renderReadme, SECTIONS, PARTS, RECORD, README };
