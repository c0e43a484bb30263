'use strict';
// Rewrites the README's benchmark sections from one run's results.json (and the
// vision.json bench/vision.js --out wrote beside it), so the numbers and the
// sentences naming their command, machine and ISA come from the same run.
//
//   node bench/readme.js [DIR]     (default: the newest bench/results/*/)
//   npm run bench:readme           (bench/run.js --isa avx2,scalar and bench/vision.js into
//                                   bench/results/readme/, then this)
//
// It copies the numbers it uses to bench/readme-results.json (committed, unlike
// bench/results/), and test/bench-readme.test.ts checks that the README's marked
// sections are exactly what this script makes from that file.
// A section is the text between `<!-- bench:NAME:start stamp=… -->` and
// `<!-- bench:NAME:end -->`; everything outside the markers is left alone.

const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const RECORD = path.join(__dirname, 'readme-results.json');
const RESULTS = path.join(__dirname, 'results');

// The fields of results.json the sections read; the record keeps only these.
const SHAPE_FIELDS = ['name', 'B', 'H', 'Lq', 'Lk', 'D', 'Dv', 'causal', 'mask', 'unit', 'bound'];
const ROW_FIELDS = ['shape', 'peer', 'status', 'threads', 'detail', 'medianMs', 'gflops', 'kvGBs', 'relErr', 'wrong', 'noisy', 'reason', 'error'];
// Per-ISA line: these shapes when the run has them, else every compute-bound shape it ran.
const ISA_SHAPES = ['self-512', 'self-2048'];

const pick = (object, keys) => Object.fromEntries(keys.filter((k) => object[k] !== undefined).map((k) => [k, object[k]]));

/** The part of a results.json (plus vision.json as `vision`) that the README sections are made from. */
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
    vision: results.vision || null,
  };
}

/** One row per line, so a rerun's diff shows which numbers moved. */
function formatRecord(record) {
  const lines = Object.entries(record).map(([key, value]) => {
    const text = Array.isArray(value) && value.length ? `[\n    ${value.map((v) => JSON.stringify(v)).join(',\n    ')}\n  ]` : JSON.stringify(value);
    return `  ${JSON.stringify(key)}: ${text}`;
  });
  return `{\n${lines.join(',\n')}\n}\n`;
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

  const backend = machine.backend ? `${machine.backend.name}/${machine.backend.isa}, ${machine.backend.threads} threads` : `not loaded (${machine.backendError})`;
  const float32Errors = ok.filter((r) => r.peer !== 'fa-cache-bf16' && Number.isFinite(r.relErr)).map((r) => r.relErr);
  const bf16Errors = ok.filter((r) => r.peer === 'fa-cache-bf16').map((r) => r.relErr);
  const noisy = ok.filter((r) => r.noisy).length;
  const wrong = ok.filter((r) => r.wrong).length;
  const lines = [
    `Measured with \`${record.command}\` on ${record.date.slice(0, 10)} (results \`${record.stamp}\`, commit \`${record.commit}\`, ` +
      `${Math.round(record.wallSeconds)} s): ${machine.cpu}, ${machine.cores} cores (CPU flags: ${machine.cpuFlags.join(', ') || 'none of avx512f/avx2/fma'}), ` +
      `kernels ${backend}, Node ${machine.node}, ${machine.platform}. CPUs ${percent(machine.busyBefore)} busy before the run and ${percent(machine.busyAfter)} after; ` +
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
  if (!vision) return `Not measured in this run: \`node bench/vision.js --out DIR\` writes the \`vision.json\` this table is made from (\`npm run bench:readme\` does).`;
  const { machine } = vision;
  const lines = [
    `Measured with \`${vision.command}\` on ${vision.date.slice(0, 10)}: ${machine.cpu}, ${machine.cores} cores, ` +
      `kernels ${machine.backend.name}/${machine.backend.isa}, ${machine.backend.threads} threads, Node ${machine.node}; ` +
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

const SECTIONS = { main: mainSection, isa: isaSection, vision: visionSection };

// ------------------------------------------------------------------ README

function markerPattern(name) {
  return new RegExp(`<!-- bench:${name}:start[^>]*-->[\\s\\S]*?<!-- bench:${name}:end -->`, 'g');
}

/** The README with every bench section rewritten from `record`; throws when a marker pair is missing. */
function renderReadme(readme, record) {
  let text = readme;
  for (const [name, render] of Object.entries(SECTIONS)) {
    const found = text.match(markerPattern(name));
    if (!found || found.length !== 1) {
      throw new Error(`bench/readme.js: expected one <!-- bench:${name}:start --> … <!-- bench:${name}:end --> pair in README.md but found ${found ? found.length : 0}`);
    }
    const block = `<!-- bench:${name}:start stamp=${record.stamp} (generated by bench/readme.js from bench/readme-results.json) -->\n${render(record)}\n<!-- bench:${name}:end -->`;
    text = text.replace(markerPattern(name), () => block);
  }
  return text;
}

function newestResults() {
  const dirs = fs.existsSync(RESULTS) ? fs.readdirSync(RESULTS).filter((d) => fs.existsSync(path.join(RESULTS, d, 'results.json'))) : [];
  if (!dirs.length) throw new Error('bench/readme.js: no bench/results/*/results.json; run `npm run bench` first');
  const dated = dirs.map((d) => ({ file: path.join(RESULTS, d, 'results.json'), date: JSON.parse(fs.readFileSync(path.join(RESULTS, d, 'results.json'), 'utf8')).date }));
  return dated.sort((a, b) => (a.date < b.date ? -1 : 1)).pop().file;
}

function main(argv) {
  const arg = argv[0];
  const file = arg ? path.join(arg, 'results.json') : newestResults();
  const results = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!results.stamp) results.stamp = path.basename(path.dirname(path.resolve(file)));
  const visionFile = path.join(path.dirname(file), 'vision.json');
  if (fs.existsSync(visionFile)) results.vision = JSON.parse(fs.readFileSync(visionFile, 'utf8'));
  const record = recordOf(results);
  fs.writeFileSync(README, renderReadme(fs.readFileSync(README, 'utf8'), record));
  fs.writeFileSync(RECORD, formatRecord(record));
  const partial = results.flags && (results.flags.quick || results.flags.shapes || results.flags.peers);
  process.stderr.write(
    `bench/readme.js: README.md sections ${Object.keys(SECTIONS).join(', ')} rewritten from ${path.relative(process.cwd(), file)}` +
      `${partial ? ' (a partial run: --quick, --shapes or --peers; the README usually shows a full one)' : ''}\n`,
  );
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { recordOf, formatRecord, renderReadme, SECTIONS, RECORD, README };
