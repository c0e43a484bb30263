'use strict';
// npm run bench [-- flags]: every (shape, peer) in a fresh child process, one markdown
// table on stdout, bench/results/<stamp>/{report.md,results.json,chart.svg}.
// See bench/README.md for the method; `node bench/run.js --help` for the flags.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const { shapes: allShapes, flopsOf, kvBytesOf } = require('./shapes');
const { listPeers, ISAS } = require('./peers');
const { makeInputs, referenceRows, computeReference, SAMPLED_ROWS } = require('./reference');
const { measureCeiling } = require('./ceiling');
const { renderChart } = require('./chart');
const { RESULT_PREFIX } = require('./child');
const { startRecord, machineCpuSeconds } = require('./run-record');

const CHILD = path.join(__dirname, 'child.js');
const WRONG_ABOVE = 1e-4; // relative Frobenius error that marks a result as wrong
// A row is noisy when other processes took more than the CPUs it did not need, plus this share.
const BUSY_MARGIN = 0.1;
const STARTUP_SECONDS = 0.6; // a child's start, input generation and session creation, roughly

const HELP = `Usage: npm run bench -- [flags]   (or node bench/run.js [flags])

  --shapes a,b     run only these shapes (default: all; see --list)
  --peers a,b      run only these peers (default: all; see --list)
  --isa a,b        add one fused-attention native peer per forced ISA (${ISAS.join(', ')})
  --quick          small subset with short time boxes (< 1 min)
  --budget S       skip a case whose estimated time exceeds S seconds (default 60)
  --time-box S     keep timing a case until S seconds have passed (default 1.5; 0.4 with --quick)
  --min-iters N    timed calls per case, at least (default 5)
  --out DIR        results directory (default bench/results/<stamp>)
  --no-ceiling     skip the GEMM / copy-bandwidth measurement
  --list           print the shapes and peers and exit
  --help           this text`;

// ------------------------------------------------------------------ flags

function parseFlags(argv) {
  const flags = {
    shapes: null, peers: null, isa: [], quick: false, budget: 60, timeBox: null, minIters: 5,
    out: null, ceiling: true, list: false, help: false,
  };
  const valueOf = (i, name) => {
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new RangeError(`bench: expected a value after ${name}`);
    return value;
  };
  const numberOf = (i, name) => {
    const value = Number(valueOf(i, name));
    if (!(value >= 0)) throw new RangeError(`bench: expected ${name} to be a number >= 0 but received "${argv[i + 1]}"`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const list = () => valueOf(i++, arg).split(',').map((s) => s.trim()).filter(Boolean);
    if (arg === '--shapes') flags.shapes = list();
    else if (arg === '--peers') flags.peers = list();
    else if (arg === '--isa') flags.isa = list();
    else if (arg === '--quick') flags.quick = true;
    else if (arg === '--budget') flags.budget = numberOf(i++, arg);
    else if (arg === '--time-box') flags.timeBox = numberOf(i++, arg);
    else if (arg === '--min-iters') flags.minIters = Math.max(1, Math.round(numberOf(i++, arg)));
    else if (arg === '--out') flags.out = valueOf(i++, arg);
    else if (arg === '--no-ceiling') flags.ceiling = false;
    else if (arg === '--list') flags.list = true;
    else if (arg === '--help' || arg === '-h') flags.help = true;
    else throw new RangeError(`bench: unknown flag "${arg}" (see --help)`);
  }
  if (flags.timeBox === null) flags.timeBox = flags.quick ? 0.4 : 1.5;
  flags.warmup = flags.quick ? 0.15 : 0.3;
  return flags;
}

function selectByName(items, names, key, what) {
  if (!names) return items;
  return names.map((name) => {
    const item = items.find((x) => x[key] === name);
    if (!item) throw new RangeError(`bench: unknown ${what} "${name}"; expected one of ${items.map((x) => x[key]).join(', ')}`);
    return item;
  });
}

// ------------------------------------------------------------------ machine

function packageBackend() {
  const child = spawnSync(process.execPath, [CHILD, '--info'], { env: childEnv({}), encoding: 'utf8', timeout: 60000 });
  const line = String(child.stdout || '').split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (!line) return { status: 'error', error: `could not query backend(): ${String(child.stderr).trim().split('\n').pop()}` };
  return JSON.parse(line.slice(RESULT_PREFIX.length));
}

/** Share of all CPUs busy (0..1) over `ms`, from /proc/stat; null off Linux. */
function cpuBusyShare(ms) {
  const before = machineCpuSeconds();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const after = machineCpuSeconds();
  if (!before || !after) return null;
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : null;
}

// ------------------------------------------------------------------ children

/** The parent's environment without FUSED_ATTENTION_* (each peer sets its own). */
function childEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FUSED_ATTENTION_')) env[key] = value;
  return { ...env, ...extra };
}

function runChild(args, env, timeoutSeconds) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.length > 20000) stderr = stderr.slice(-10000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (line) return resolve(JSON.parse(line.slice(RESULT_PREFIX.length)));
      const lastError = stderr.trim().split('\n').filter(Boolean).slice(-1)[0] || '';
      const why = timedOut
        ? `timed out after ${timeoutSeconds} s`
        : `child exited with ${signal || `code ${code}`}${lastError ? `: ${lastError}` : ''}`;
      resolve({ status: 'error', error: why });
    });
  });
}

// ------------------------------------------------------------------ progress

function makeProgress(total) {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let done = 0;
  const clock = () => {
    const s = Math.round((Date.now() - started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const write = (text, final) => {
    if (tty) process.stderr.write(`\r\x1b[K${text}${final ? '\n' : ''}`);
    else if (final) process.stderr.write(`${text}\n`);
  };
  return {
    status(text) {
      write(`[${String(done + 1).padStart(String(total).length)}/${total} ${clock()}] ${text} …`, false);
    },
    finish(text) {
      done++;
      write(`[${String(done).padStart(String(total).length)}/${total} ${clock()}] ${text}`, true);
    },
    note(text) {
      write(`[${clock()}] ${text}`, true);
    },
  };
}

// ------------------------------------------------------------------ formatting

function fixed3(value) {
  if (!Number.isFinite(value)) return '—';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function formatTime(row, shape) {
  return shape.unit === 'us' ? `${fixed3(row.medianMs * 1000)} µs` : `${fixed3(row.medianMs)} ms`;
}

function formatRatio(value) {
  if (!Number.isFinite(value)) return '—';
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(value >= 1 ? 1 : 2)}×`;
}

function formatError(row) {
  if (row.relErr === undefined) return '—';
  const text = Number.isFinite(row.relErr) ? row.relErr.toExponential(1) : String(row.relErr);
  const mark = row.errSampled ? '†' : '';
  return row.wrong ? `**${text}${mark} WRONG**` : `${text}${mark}`;
}

function peerLegend(peer, rows) {
  const row = rows.find((r) => r.peer === peer.id && r.status === 'ok');
  if (!row) return peer.label;
  return `${tableName(peer, row)} (${row.threads} thr)`;
}

// ------------------------------------------------------------------ main

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.help) return void console.log(HELP);
  const peersAll = listPeers({ isas: flags.isa });
  if (flags.list) {
    console.log('Shapes:');
    for (const s of allShapes) console.log(`  ${s.name.padEnd(12)} ${s.description}${s.quick ? ' [quick]' : ''}`);
    console.log('Peers:');
    for (const p of peersAll) console.log(`  ${p.id.padEnd(18)} ${p.note}`);
    return;
  }
  const shapes = selectByName(flags.quick && !flags.shapes ? allShapes.filter((s) => s.quick) : allShapes, flags.shapes, 'name', 'shape');
  const peers = selectByName(peersAll, flags.peers, 'id', 'peer');
  const run = startRecord(__filename);
  const outDir = path.resolve(flags.out || path.join(__dirname, 'results', run.stamp));
  const started = Date.now();
  const busyBefore = cpuBusyShare(1000);

  const { machine } = run;
  const { cores } = machine;
  const progress = makeProgress(shapes.length * peers.length);
  if (busyBefore > 0.15) {
    progress.note(
      `warning: the CPUs were ${Math.round(100 * busyBefore)}% busy in the second before the run; other processes will skew the numbers`,
    );
  }
  const backend = packageBackend();
  Object.assign(machine, {
    backend: backend.status === 'ok' ? backend.backend : null,
    backendError: backend.status === 'ok' ? null : backend.error,
    busyBefore,
  });

  let ceiling = { gemm: {}, copyGBs: null, notes: [] };
  if (flags.ceiling) {
    progress.note('measuring the ceiling (GEMM 1 and ' + cores + ' threads, copy bandwidth)');
    ceiling = measureCeiling({ threads: cores, quick: flags.quick });
  }

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-attention-bench-'));
  const rows = [];
  const measuredRate = new Map(); // peer id -> last compute-bound GFLOP/s, for the budget estimate
  try {
    for (const shape of shapes) {
      progress.status(`${shape.name}: float64 reference`);
      const { rows: refRows } = referenceRows(shape);
      const reference = computeReference(shape, makeInputs(shape), refRows);
      const refFile = path.join(tmpDir, `${shape.name}.f64`);
      fs.writeFileSync(refFile, Buffer.from(reference.buffer));
      const flops = flopsOf(shape);

      for (const peer of peers) {
        if (peer.appliesTo && !peer.appliesTo(shape)) continue;
        const base = { shape: shape.name, peer: peer.id };
        const rate = measuredRate.get(peer.id) || peer.guessGflops;
        const perCall = flops / (rate * 1e9);
        const estimate =
          STARTUP_SECONDS + Math.max(flags.warmup, perCall) + Math.max(flags.timeBox, flags.minIters * perCall);
        if (estimate > flags.budget) {
          const row = {
            ...base,
            status: 'skipped',
            reason: `est. ${Math.round(estimate)} s at ~${fixed3(rate)} GFLOP/s > budget ${flags.budget} s`,
            estimateSeconds: estimate,
            perCallSeconds: perCall,
          };
          rows.push(row);
          progress.finish(`${shape.name} · ${peer.id}: skipped (${row.reason})`);
          continue;
        }
        progress.status(`${shape.name} · ${peer.id}`);
        const args = [
          '--shape', shape.name, '--peer', peer.id, '--ref', refFile,
          '--time-box', String(flags.timeBox), '--warmup', String(flags.warmup), '--min-iters', String(flags.minIters),
        ];
        if (flags.isa.length) args.push('--isa', flags.isa.join(','));
        const timeout = Math.max(flags.budget, 3 * estimate) + 30;
        const result = await runChild(args, childEnv(peer.env), timeout);
        const row = { ...base, ...result };
        if (row.status === 'ok') {
          row.wrong = !(row.relErr <= (peer.wrongAbove ?? WRONG_ABOVE)) || row.nonFinite > 0;
          if (shape.bound === 'compute') measuredRate.set(peer.id, row.gflops);
          row.noisy = row.otherLoad > Math.max(0, 1 - row.threads / cores) + BUSY_MARGIN;
          const busy = row.noisy ? ` (⚠ other processes used ${Math.round(100 * row.otherLoad)}% of the CPUs)` : '';
          progress.finish(
            `${shape.name} · ${peer.id}: ${formatTime(row, shape)}, ${fixed3(row.gflops)} GFLOP/s, ` +
              `err ${formatError(row).replace(/\*/g, '')}${busy}`,
          );
        } else {
          progress.finish(`${shape.name} · ${peer.id}: ${row.status}: ${row.error}`);
        }
        rows.push(row);
      }
    }
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  machine.busyAfter = cpuBusyShare(1000);
  const wallSeconds = (Date.now() - started) / 1000;

  derive(rows, shapes, ceiling, cores, peers);
  const report = renderReport({ flags, shapes, peers, rows, machine, ceiling, wallSeconds, outDir });
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'report.md'), report.markdown);
  run.write(outDir, 'results.json', { argv: process.argv.slice(2), flags, wallSeconds, ceiling, shapes, peers: peers.map(({ create, ...rest }) => rest), rows });
  fs.writeFileSync(
    path.join(outDir, 'chart.svg'),
    renderChart({
      shapes: shapes.map((s) => ({ name: s.name, captionLines: captionOf(s) })),
      peers: peers.map((p) => ({ id: p.id, legend: peerLegend(p, rows) })),
      rows: new Map(rows.map((r) => [`${r.shape}|${r.peer}`, r])),
      ceilings: Object.entries(ceiling.gemm)
        .filter(([, g]) => g)
        .map(([threads, g]) => ({ label: `GEMM ${threads} thr`, gflops: g.gflops })),
      subtitleLines: report.chartLines,
    }),
  );
  process.stdout.write(report.console);
  process.stderr.write(`\nwrote ${path.relative(process.cwd(), outDir) || outDir}/{report.md,results.json,chart.svg} in ${Math.round(wallSeconds)} s\n`);
}

/** Two short lines under a group of bars. */
function captionOf(shape) {
  const { B, H, Lq, Lk, D } = shape;
  const L = Lq === Lk ? `L=${Lq}` : `Lq=${Lq} Lk=${Lk}`;
  return [`B=${B} H=${H} D=${D}`, `${L}${shape.causal ? ' causal' : ''}${shape.mask ? ' +mask' : ''}`];
}

/** Adds % of ceiling and the speedups to every ok row. */
function derive(rows, shapes, ceiling, cores, peers = []) {
  for (const shape of shapes) {
    const ok = rows.filter((r) => r.shape === shape.name && r.status === 'ok');
    const naive = ok.find((r) => r.peer === 'naive-js');
    const naiveSkipped = rows.find((r) => r.shape === shape.name && r.peer === 'naive-js' && r.status === 'skipped');
    const ortRows = ok.filter((r) => r.peer.startsWith('ort-'));
    const bestOrt = ortRows.length ? ortRows.reduce((a, b) => (a.medianMs <= b.medianMs ? a : b)) : null;
    for (const row of ok) {
      if (shape.bound === 'memory') {
        // Bytes this peer actually reads: a bfloat16 cache holds half of the float32 K+V.
        const peer = peers.find((p) => p.id === row.peer);
        const bytes = (kvBytesOf(shape) * ((peer && peer.kvBytesPerElement) || 4)) / 4;
        row.kvGBs = bytes / (row.medianMs * 1e6);
        row.ceilingKind = 'copy bandwidth';
        row.ceilingPct = ceiling.copyGBs ? (100 * row.kvGBs) / ceiling.copyGBs : null;
      } else {
        const gemm = ceiling.gemm[row.threads === 1 ? 1 : cores] || ceiling.gemm[row.threads];
        row.ceilingKind = `GEMM ${row.threads === 1 ? 1 : cores} thr`;
        row.ceilingPct = gemm ? (100 * row.gflops) / gemm.gflops : null;
      }
      row.speedupVsNaive = naive ? naive.medianMs / row.medianMs : null;
      if (!naive && naiveSkipped) {
        row.speedupVsNaive = (naiveSkipped.perCallSeconds * 1000) / row.medianMs;
        row.speedupVsNaiveEstimated = true;
      }
      row.speedupVsBestOrt = bestOrt ? bestOrt.medianMs / row.medianMs : null;
      row.bestOrtPeer = bestOrt ? bestOrt.peer : null;
    }
  }
}

function renderReport({ flags, shapes, peers, rows, machine, ceiling, wallSeconds }) {
  const backendText = machine.backend
    ? `fused-attention backend: ${machine.backend.name}/${machine.backend.isa}, ${machine.backend.threads} thr`
    : `fused-attention: not loaded (${machine.backendError})`;
  const machineLine =
    `${machine.cpu}, ${machine.cores} cores (${machine.cpuFlags.join(', ') || 'no AVX'}), ${backendText}, ` +
    `Node ${machine.node}, ${machine.platform}, CPUs ${busyText(machine.busyBefore)} busy before / ${busyText(machine.busyAfter)} after the run`;
  const gemmText = Object.entries(ceiling.gemm)
    .map(([threads, g]) => (g ? `${fixed3(g.gflops)} GFLOP/s at ${threads} thr` : `unavailable at ${threads} thr`))
    .join(', ');
  const gemmSource = Object.values(ceiling.gemm).find(Boolean);
  const ceilingLine =
    `Ceiling: single-precision GEMM ${gemmText || 'not measured'}${gemmSource ? ` (${gemmSource.source}, best of several)` : ''}; ` +
    `memory copy ${ceiling.copyGBs ? `${fixed3(ceiling.copyGBs)} GB/s (Buffer.copy of ${ceiling.copyMiB} MiB, read + write bytes)` : 'not measured'}` +
    `${ceiling.notes && ceiling.notes.length ? `; ${ceiling.notes.join('; ')}` : ''}`;

  const header = ['shape', 'peer', 'thr', 'time/call', 'GFLOP/s', '% ceiling', '× naive JS', '× best ORT', 'rel-err', 'peak MB', 'notes'];
  const align = ['---', '---', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '---'];
  const lines = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const shape of shapes) {
    for (const peer of peers) {
      const row = rows.find((r) => r.shape === shape.name && r.peer === peer.id);
      if (!row) continue;
      const name = tableName(peer, row);
      if (row.status !== 'ok') {
        const why = row.status === 'skipped' ? `skipped: ${row.reason}` : `failed: ${row.error}`;
        lines.push(`| ${shape.name} | ${name} | ${row.threads || ''} | — | — | — | — | — | — | — | ${escapeCell(why)} |`);
        continue;
      }
      const pct = row.ceilingPct === null ? '—' : `${row.ceilingPct.toFixed(row.ceilingPct < 10 ? 1 : 0)}%${shape.bound === 'memory' ? ' bw' : ''}`;
      const notes = [];
      if (peer.group === 'onnxruntime' && row.detail) notes.push(row.detail);
      for (const [key, value] of Object.entries(peer.env)) notes.push(`${key}=${value}`);
      if (shape.bound === 'memory') notes.push(`K+V ${fixed3(row.kvGBs)} GB/s`);
      if (shape.Lq === 1) notes.push(`${Math.round(1000 / row.medianMs)} steps/s`);
      if (row.noisy) notes.push(`⚠ other processes used ${Math.round(100 * row.otherLoad)}% of the CPUs`);
      if (row.nonFinite) notes.push(`${row.nonFinite} non-finite outputs`);
      lines.push(
        `| ${shape.name} | ${name} | ${row.threads} | ${formatTime(row, shape)} | ${fixed3(row.gflops)} | ${pct} | ` +
          `${row.speedupVsNaiveEstimated ? '~' : ''}${formatRatio(row.speedupVsNaive)} | ${formatRatio(row.speedupVsBestOrt)} | ${formatError(row)} | ` +
          `${row.peakDeltaMB === null ? '—' : row.peakDeltaMB.toFixed(1)} | ${escapeCell(notes.join('; '))} |`,
      );
    }
  }
  const table = lines.join('\n');
  const wrong = rows.filter((r) => r.status === 'ok' && r.wrong);
  const failed = rows.filter((r) => r.status === 'error');
  const footnotes = [
    '`time/call` is the median of the timed calls (µs for the `small` shape). GFLOP/s = 2·B·H·Lq·Lk·(D+Dv) / time, halved for causal self-attention.',
    `\`% ceiling\`: GFLOP/s over the GEMM ceiling at the row's thread count (1 thread → 1-thread GEMM, otherwise ${machine.cores}-thread GEMM); for \`decode\` (memory bound, marked "bw") K+V bytes / time over the copy bandwidth.`,
    '`× naive JS` / `× best ORT`: median time of the naive JS row / of the fastest onnxruntime row of the same shape, over this row’s (above 1× = faster). `~`: naive JS was over the budget on this shape, so its time is estimated from its GFLOP/s on an earlier shape (or from a guess when it ran on none).',
    `\`rel-err\`: ‖out − ref‖_F / ‖ref‖_F against a float64 reference; † = on ${SAMPLED_ROWS} evenly spread query rows (sampled), otherwise on all rows. WRONG above ${WRONG_ABOVE}.`,
    '`peak MB`: VmHWM minus VmRSS of the measuring process, with VmHWM reset (`/proc/self/clear_refs` = 5) after setup and before the warm-up and timed calls, so first-call allocations (for example onnxruntime’s arena) count.',
    `⚠ in notes: while the case was timed, other processes used CPU time its threads needed (more than the share of cores the row left idle + ${100 * BUSY_MARGIN}%, from /proc/stat minus the measuring process's own CPU time); treat that row as noisy and rerun it.`,
    'onnxruntime MultiHeadAttention: Q/K/V are handed over as [B,L,H·D] (the layout with ORT’s CPU flash-attention path); for `decode` K/V are the [B,H,L,D] cache as is. Layout transposes are done once, outside the timing. Causal uses `unidirectional=1`; an additive mask goes in as `attention_bias` [1,1,Lq,Lk]; either turns ORT’s CPU flash path off. The MatMul+Softmax graph gets causal as an additive -inf mask input.',
  ];
  const sections = [
    `# fused-attention benchmark`,
    '',
    `Command: \`node bench/run.js ${process.argv.slice(2).join(' ')}\`  ·  ${new Date().toISOString()}  ·  wall time ${Math.round(wallSeconds)} s`,
    '',
    `Machine: ${machineLine}`,
    '',
    ceilingLine,
    '',
    table,
    '',
    ...footnotes.map((f) => `- ${f}`),
  ];
  if (wrong.length) {
    sections.push('', '**Wrong results:** ' + wrong.map((r) => `${r.shape} · ${r.peer} (rel-err ${r.relErr})`).join(', '));
  }
  if (failed.length) {
    sections.push('', '**Failed:** ' + failed.map((r) => `${r.shape} · ${r.peer}: ${r.error}`).join('; '));
  }
  sections.push('', '## Peers', '', ...peers.map((p) => `- \`${p.id}\` — ${peerLegend(p, rows)}: ${p.note}`));
  sections.push('', '## Shapes', '', ...shapes.map((s) => `- \`${s.name}\` — ${s.description}`));
  sections.push(
    '',
    '## Method',
    '',
    `Each (shape, peer) runs in a fresh \`node --expose-gc\` child on the same seeded N(0,1) inputs; warm-up for ${flags.warmup} s (at least one call), then timed calls until at least ${flags.minIters} calls and ${flags.timeBox} s; the median is reported. A case whose estimated time (from the peer’s last measured GFLOP/s, or a guess) exceeds the ${flags.budget} s budget is skipped. See bench/README.md.`,
    '',
    '![GFLOP/s per shape and peer](chart.svg)',
    '',
  );
  const consoleText = `${machineLine}\n${ceilingLine}\n\n${table}\n\n${footnotes.map((f) => `- ${f}`).join('\n')}\n`;
  const chartLines = [
    `${machine.cpu}, ${machine.cores} cores, ${backendText}, Node ${machine.node}`,
    [
      gemmText ? `GEMM ceiling ${gemmText}` : 'GEMM ceiling not measured',
      ceiling.copyGBs ? `copy ${fixed3(ceiling.copyGBs)} GB/s` : null,
      `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    ]
      .filter(Boolean)
      .join('; '),
  ];
  return { markdown: sections.join('\n'), console: consoleText, chartLines };
}

/** The peer column: what ran, with the ISA the package picked; threads have their own column. */
function tableName(peer, row) {
  if (peer.group === 'fused-attention') {
    if (row.status !== 'ok') return peer.label;
    return row.detail === 'TS' ? 'fused-attention TS fallback' : `fused-attention native ${row.detail}`;
  }
  if (peer.group === 'onnxruntime') return peer.id.startsWith('ort-mha') ? 'ORT MultiHeadAttention' : 'ORT MatMul+Softmax';
  return peer.label;
}

function busyText(share) {
  return share === null || share === undefined ? '?' : `${Math.round(100 * share)}%`;
}

function escapeCell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

main().catch((error) => {
  process.stderr.write(`${error && error.message ? error.message : error}\n`);
  process.exit(1);
});
