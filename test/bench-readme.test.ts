/**
 * bench/readme.js: the README's benchmark sections are generated from the runs'
 * records (bench/readme-results.json), and regenerating changes nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

interface BenchRecord {
  stamp: string;
  rows: Array<Record<string, unknown>>;
  [key: string]: unknown;
}
const generator = createRequire(import.meta.url)('../bench/readme.js') as {
  recordOf(results: unknown): BenchRecord;
  recordFromDir(dir: string, previous: BenchRecord | null): { record: BenchRecord; found: Array<{ key: string; file: string }> };
  formatRecord(record: BenchRecord): string;
  renderReadme(readme: string, record: BenchRecord): string;
  SECTIONS: Record<string, { part: string }>;
  PARTS: Array<{ key: string; file: string }>;
  RECORD: string;
  README: string;
};

/** The text of the README's section `name`, markers included. */
function section(text: string, name: string): string {
  const found = text.match(new RegExp(`<!-- bench:${name}:start[^>]*-->[\\s\\S]*?<!-- bench:${name}:end -->`));
  if (!found) throw new Error(`no ${name} section`);
  return found[0];
}

// What bench/run-record.js puts in every record's machine.
const machine = {
  cpu: 'Test CPU', cores: 2, cpuFlags: ['avx2', 'fma'], node: 'v20.20.2', platform: 'linux-x64',
  backend: { name: 'native', isa: 'avx2', threads: 2 }, loadBefore: 0.12, loadAfter: 1.94,
};
const runHead = (stamp: string, command: string) => ({
  date: `${stamp.slice(0, 10)}T${stamp.slice(11).replace(/-/g, ':')}.000Z`, stamp, command, commit: 'abc1234567', wallSeconds: 95.4, machine,
});

/** A linear.json row as bench/linear.js writes it: the rates from the medians, GB/s of weights for calls of at most 4 rows. */
function linearRow(name: string, [M, K, N]: number[], cold: boolean, ms: Record<string, number>, rest: Record<string, unknown>) {
  const rate = (amount: (id: string) => number) => Object.fromEntries(Object.entries(ms).map(([id, t]) => [id, amount(id) / t / 1e6]));
  const weightBytes = (id: string) => (id.startsWith('bf16') ? 2 : 4) * N * K;
  return { name, M, K, N, cold, memoryBound: M <= 4, ms, gflops: rate(() => 2 * M * N * K), weightGBs: rate(weightBytes), ...rest };
}

// bench/linear.js: a compute-bound shape, a cold decode shape whose onnxruntime child failed
// (and no TS fallback run), a cache-resident one whose timing other processes disturbed.
const linear = {
  ...runHead('2026-12-01T10-10-00', 'node bench/linear.js --out bench/results/readme'),
  flags: { quick: false, shapes: null, reps: 15, ceiling: true, js: true, ort: true },
  ceiling: { gemm: { 1: { gflops: 90.4, source: 'numpy sgemm n=2048' }, 2: { gflops: 186, source: 'numpy sgemm n=2048' } }, copyGBs: 25.2, copyMiB: 256, notes: [] },
  rows: [
    linearRow('large-512', [4096, 512, 512], false, { native2: 10.1, native1: 20.2, bf16x2: 10.3, oneShot2: 14, js: 530, ort2: 14.5 }, { packMs: 1.2, otherLoad: 0.01, maxRelErr: 4e-7, relErr: { native2: 4e-7, bf16x2: 1.7e-3 }, groupErrors: {} }),
    linearRow('decode-4096', [1, 4096, 4096], true, { native2: 2.1, native1: 2.53, bf16x2: 1.15, oneShot2: 2.6 }, { packMs: 140, otherLoad: 0.02, maxRelErr: 1.1e-6, relErr: { native2: 1.1e-6, bf16x2: 1.6e-3 }, groupErrors: { ort: 'exit 1' } }),
    linearRow('decode-1024', [1, 1024, 1024], false, { native2: 0.034, native1: 0.051, oneShot2: 0.06, js: 1.3, ort2: 0.06 }, { packMs: 8, otherLoad: 0.2, maxRelErr: 5e-7, groupErrors: {} }),
  ],
};

// bench/kv-cache-churn.js
const churn = {
  ...runHead('2026-12-01T10-12-00', 'node bench/kv-cache-churn.js --out bench/results/readme'),
  requests: 3000, concurrency: 8, config: { batch: 1, numKvHeads: 8, headDim: 64, maxLength: 4096 }, cacheMiB: 16,
  rows: [
    { mode: 'create', caches: 3000, peakMiB: 2223.4, endMiB: 1900.6, seconds: 21.46, otherLoad: 0.01 },
    { mode: 'pool', caches: 8, peakMiB: 194.2, endMiB: 190, seconds: 11.62, otherLoad: 0.3 },
  ],
};

// examples/service/load.js: the fastest fused row is its 1-thread one; the onnxruntime row had failures.
const serviceRow = { backend: 'native/avx2', p50: 33, p99: 73, loopP99: 27.46, rssBefore: 60.2, rssAfter: 206.4, errors: 0, errorKinds: '0 socket, 0 timeouts, 0 non-2xx', wrong: 0, otherLoad: 0.01 };
const service = {
  ...runHead('2026-12-01T10-14-00', 'node examples/service/load.js --threads 2,1 --out bench/results/readme'),
  connections: 64, duration: 30, warmup: 2, decodeSteps: 32, onnxruntime: '1.30.0',
  rows: [
    { ...serviceRow, engine: 'fused', threads: 2, requestsPerSecond: 1787.2, checked: 53620, total: 53620 },
    { ...serviceRow, engine: 'fused', threads: 1, requestsPerSecond: 2076.4, p50: 29, checked: 62270, total: 62270 },
    { ...serviceRow, engine: 'ort', threads: 2, requestsPerSecond: 1858.1, errors: 2, wrong: 1, checked: 55730, total: 55734, otherLoad: 0.09 },
  ],
};

/** A backends.json row as bench/backends.js writes it: GFLOP/s from the median, GB/s of K+V on the memory-bound shape. */
function backendsRow(shape: string, backend: string, medianMs: number, rest: Record<string, unknown> = {}) {
  const [flops, kvBytes] = shape === 'decode-kvcache' ? [2 * 32 * 4096 * 256, 4 * 32 * 4096 * 256] : [2 * 8 * 512 * 512 * 128, null];
  const isa = { native: 'avx2', 'wasm-relaxed': 'relaxed-simd', 'wasm-simd128': 'simd128', js: 'js' }[backend];
  return {
    shape, backend, status: 'ok', isa, threads: 1, medianMs, minMs: medianMs * 0.98, calls: 15, relErr: 3e-7, nonFinite: 0, otherLoad: 0.01,
    gflops: flops / medianMs / 1e6, ...(kvBytes ? { kvGBs: kvBytes / medianMs / 1e6 } : {}), wrong: false, ...rest,
  };
}

// bench/backends.js: the relaxed build meets two of the targets and misses the decode one; the plain
// build's self-512 cell failed, so its first two targets are not measured; the TS fallback ran fewer
// calls at self-512 (its time budget) and came out wrong at decode; one cell was disturbed.
const backends = {
  ...runHead('2026-12-01T10-16-00', 'node bench/backends.js --out bench/results/readme'),
  flags: { quick: false, shapes: null, backends: null, reps: 15, budget: 10 },
  warmupSeconds: 0.5,
  minCalls: 3,
  variants: [
    { id: 'native', label: 'native', nodeFlags: [] },
    { id: 'wasm-relaxed', label: 'wasm, relaxed SIMD', nodeFlags: ['--experimental-wasm-relaxed-simd'] },
    { id: 'wasm-simd128', label: 'wasm, plain SIMD128', nodeFlags: [] },
    { id: 'js', label: 'TS fallback', nodeFlags: [] },
  ],
  shapes: [
    { name: 'self-512', B: 1, H: 8, Lq: 512, Lk: 512, D: 64, Dv: 64, causal: false, mask: null, unit: 'ms', bound: 'compute' },
    { name: 'decode-kvcache', B: 1, H: 32, Lq: 1, Lk: 4096, D: 128, Dv: 128, causal: false, mask: null, unit: 'ms', bound: 'memory' },
  ],
  rows: [
    backendsRow('self-512', 'native', 10),
    backendsRow('self-512', 'wasm-relaxed', 16),
    { shape: 'self-512', backend: 'wasm-simd128', status: 'error', error: 'expected wasm/simd128 on 1 thread but backend() reports js/js on 1' },
    backendsRow('self-512', 'js', 280, { calls: 12, relErr: 2.5e-8 }),
    backendsRow('decode-kvcache', 'native', 15),
    backendsRow('decode-kvcache', 'wasm-relaxed', 34, { otherLoad: 0.2, relErr: 1.2e-6 }),
    backendsRow('decode-kvcache', 'wasm-simd128', 25),
    backendsRow('decode-kvcache', 'js', 70, { relErr: 2e-4, wrong: true }),
  ],
};

// One compute-bound shape, one memory-bound shape; ort-mha-1t is the fastest ORT row but
// the comparison is with the multi-threaded ORT peers.
const results = {
  date: '2026-12-01T10:00:00.000Z',
  stamp: '2026-12-01T10-00-00',
  command: 'node bench/run.js --isa avx2',
  commit: 'abc1234567',
  argv: ['--isa', 'avx2'],
  flags: { quick: false },
  wallSeconds: 321.4,
  machine: {
    cpu: 'Test CPU', cores: 2, cpuFlags: ['avx512f', 'avx2', 'fma'], node: 'v20.20.2', platform: 'linux-x64',
    backend: { name: 'native', isa: 'avx512', threads: 2 }, backendError: null, busyBefore: 0.01, busyAfter: 0.02,
  },
  ceiling: { gemm: { 1: { gflops: 101, source: 'numpy sgemm n=2048' }, 2: { gflops: 202, source: 'numpy sgemm n=2048' } }, copyGBs: 24.3, notes: [] },
  shapes: [
    { name: 'self-512', description: 'ignored', B: 1, H: 8, Lq: 512, Lk: 512, D: 64, Dv: 64, causal: false, mask: null, unit: 'ms', bound: 'compute', quick: false },
    { name: 'decode', B: 1, H: 32, Lq: 1, Lk: 4096, D: 128, Dv: 128, causal: false, mask: null, unit: 'ms', bound: 'memory', quick: true },
  ],
  rows: [
    { shape: 'self-512', peer: 'fa-native', status: 'ok', threads: 2, detail: 'avx512', medianMs: 2.74, gflops: 196, relErr: 2e-7, wrong: false, noisy: false, iters: 500 },
    { shape: 'self-512', peer: 'fa-native-1t', status: 'ok', threads: 1, medianMs: 5.64, gflops: 95, relErr: 2e-7, wrong: false, noisy: true },
    { shape: 'self-512', peer: 'fa-native-avx2', status: 'ok', threads: 2, medianMs: 2.92, gflops: 184, relErr: 2e-7, wrong: false, noisy: false },
    { shape: 'self-512', peer: 'fa-js', status: 'ok', threads: 1, medianMs: 155, gflops: 3.5, relErr: 3e-8, wrong: false, noisy: false },
    { shape: 'self-512', peer: 'naive-js', status: 'skipped', reason: 'est. 99 s > budget 60 s' },
    { shape: 'self-512', peer: 'ort-mha-1t', status: 'ok', threads: 1, medianMs: 1.0, gflops: 500, relErr: 3e-7, wrong: false, noisy: false },
    { shape: 'self-512', peer: 'ort-mha-2t', status: 'ok', threads: 2, medianMs: 3.67, gflops: 146, relErr: 3e-7, wrong: false, noisy: false },
    { shape: 'self-512', peer: 'ort-matmul-2t', status: 'error', threads: 2, error: 'child exited with code 1' },
    { shape: 'decode', peer: 'fa-native', status: 'ok', threads: 2, detail: 'avx512', medianMs: 4.22, gflops: 31.8, kvGBs: 31.8, relErr: 2.3e-6, wrong: false, noisy: false },
    { shape: 'decode', peer: 'fa-cache-bf16', status: 'ok', threads: 2, medianMs: 2.17, gflops: 30.9, kvGBs: 30.9, relErr: 2.4e-3, wrong: false, noisy: false },
    { shape: 'decode', peer: 'ort-matmul-2t', status: 'ok', threads: 2, medianMs: 8.58, gflops: 15.6, relErr: 5e-7, wrong: false, noisy: false },
  ],
  vision: {
    date: '2026-12-01T10:06:00.000Z',
    command: 'node bench/vision.js --out bench/results/readme',
    machine: { cpu: 'Test CPU', cores: 2, node: 'v20.20.2', backend: { name: 'native', isa: 'avx512', threads: 2 }, loadBefore: 0.12, loadAfter: 2.5 },
    method: 'Medians of 5.',
    rows: [{ name: '`crissCrossAttention`', description: 'q, k [1,64,97,97]', fusedMs: 64.94, plainMs: 6382.3, relDiff: 5.6e-7 }],
  },
  linear,
  churn,
  service,
  backends,
};

const page = [
  '# title',
  '',
  '<!-- bench:main:start -->',
  'old numbers',
  '<!-- bench:main:end -->',
  '',
  'prose between',
  '',
  '<!-- bench:isa:start stamp=old -->',
  '<!-- bench:isa:end -->',
  '<!-- bench:vision:start -->',
  '<!-- bench:vision:end -->',
  '<!-- bench:linear:start -->',
  '<!-- bench:linear:end -->',
  'prose',
  '<!-- bench:churn:start -->',
  '<!-- bench:churn:end -->',
  '<!-- bench:service:start -->',
  '<!-- bench:service:end -->',
  '<!-- bench:backends:start -->',
  '<!-- bench:backends:end -->',
  'tail',
].join('\n');

describe('bench/readme.js', () => {
  const record = generator.recordOf(results);
  const rendered = generator.renderReadme(page, record);

  it('writes the main table from the run: the multi-threaded ORT peers, skipped and failed cells, the bfloat16 row', () => {
    const lines = rendered.split('\n');
    const table = lines.slice(0, lines.indexOf('<!-- bench:main:end -->')).filter((line) => line.startsWith('|'));
    expect(table).toEqual([
      '| shape | fused-attention, 2 threads | 1 thread | best onnxruntime (2 thr) | fused vs ORT | TS fallback | naive JS |',
      '|---|--:|--:|--:|--:|--:|--:|',
      '| self-512 (B=1 H=8 L=512 D=64) | 2.74 ms (196 GF/s) | 5.64 ms ⚠ | 3.67 ms (MultiHeadAttention) | 1.34× | 155 ms | skipped |',
      '| decode (B=1 H=32 Lq=1 Lk=4096 D=128) | 4.22 ms (31.8 GB/s, 237 steps/s) | | 8.58 ms (MatMul+Softmax) | 2.03× | | |',
      '| decode, `KvCache` bfloat16 | 2.17 ms (30.9 GB/s of bf16 K+V, 461 steps/s) | | 8.58 ms | 3.95× | | |',
    ]);
    const prose = lines[lines.indexOf('<!-- bench:main:start stamp=2026-12-01T10-00-00 (generated by bench/readme.js from bench/readme-results.json) -->') + 1];
    expect(prose).toContain('Measured with `node bench/run.js --isa avx2` on 2026-12-01 (results `2026-12-01T10-00-00`, commit `abc1234567`, 321 s)');
    expect(prose).toContain('Test CPU, 2 cores (CPU flags: avx512f, avx2, fma), kernels native/avx512, 2 threads, Node v20.20.2');
    expect(prose).toContain('1 of 9 rows flagged ⚠');
    expect(prose).toContain('sgemm 101 GFLOP/s on 1 thread, 202 GFLOP/s on 2 threads (numpy sgemm n=2048); memory copy 24.3 GB/s.');
    expect(prose).toContain('within 2.3e-6 relative error of a float64 reference (the bfloat16 cache row: 2.4e-3)');
  });

  it('writes the per-ISA line from the forced-ISA peers', () => {
    expect(rendered).toContain('Per ISA in the same run (`FUSED_ATTENTION_ISA`, self-512): avx2 (2 thr) 2.92 ms (184 GF/s).\n<!-- bench:isa:end -->');
  });

  it('writes the vision table from bench/vision.js, or says it was not run', () => {
    expect(rendered).toContain(
      [
        'Measured with `node bench/vision.js --out bench/results/readme` on 2026-12-01: Test CPU, 2 cores, kernels native/avx512, 2 threads, Node v20.20.2; ' +
          'load average 0.1 before and 2.5 after (more than the cores: other processes shared them; rerun on a quiet machine). Medians of 5.',
        '',
        '| what | shape | fused-attention (ms) | plain JS dense (ms) | speedup | rel. diff |',
        '|---|---|---:|---:|---:|---:|',
        '| `crissCrossAttention` | q, k [1,64,97,97] | 64.9 | 6382.3 | 98.3× | 5.6e-7 |',
        '<!-- bench:vision:end -->',
      ].join('\n'),
    );
    const withoutVision = generator.renderReadme(page, generator.recordOf({ ...results, vision: undefined }));
    expect(withoutVision).toContain('Not measured in this run: `node bench/vision.js --out DIR` writes');
  });

  it('writes the packed-linear table from bench/linear.js: GFLOP/s, or GB/s of weights for calls of at most 4 rows; failed and absent cells; ⚠', () => {
    expect(section(rendered, 'linear').split('\n')).toEqual([
      '<!-- bench:linear:start stamp=2026-12-01T10-10-00 (generated by bench/readme.js from bench/readme-results.json) -->',
      'Measured with `node bench/linear.js --out bench/results/readme` on 2026-12-01 (commit `abc1234567`, 95 s): Test CPU, 2 cores (CPU flags: avx2, fma), ' +
        'kernels native/avx2, 2 threads, Node v20.20.2; load average 0.1 at the start and 1.9 at the end. Ceiling measured in the same run: ' +
        'sgemm 90.4 GFLOP/s on 1 thread, 186 GFLOP/s on 2 threads (numpy sgemm n=2048); memory copy 25.2 GB/s. Median of 15 calls per cell ' +
        '(the TS fallback: fewer on its slow shapes); GFLOP/s = 2·M·N·K / time, or, on the rows that name where the weights come from (calls bound by reading them), ' +
        'GB/s = weight bytes / time; 1 of 3 rows flagged ⚠ (other processes took more than 5 % of the CPU time while the row ran: rerun on a quiet machine). ' +
        'Largest relative error against a float64 reference on 3 sampled rows: 1.1e-6 (float32 weights; the bfloat16 column gives its time as a multiple ' +
        "of the float32 weights' on 2 threads, and its error against the float32 weights' float64 result).",
      '',
      '| shape | packLinear, 2 threads | packLinear, 1 thread | packLinear bfloat16 weights, 2 threads (× float32, rel-err) | `linear()`, 2 threads | onnxruntime MatMul+Add, 2 threads | TS fallback |',
      '|---|--:|--:|--:|--:|--:|--:|',
      '| 4096 × 512 → 512 | 10.1 ms, 213 GFLOP/s | 20.2 ms, 106 GFLOP/s | 10.3 ms, 208 GFLOP/s (0.98×, 1.7e-3) | 14.0 ms, 153 GFLOP/s | 14.5 ms, 148 GFLOP/s | 530 ms, 4.05 GFLOP/s |',
      '| 1 × 4096 → 4096 (weights from DRAM) | 2.10 ms, 32.0 GB/s | 2.53 ms, 26.5 GB/s | 1.15 ms, 29.2 GB/s (1.83×, 1.6e-3) | 2.60 ms, 25.8 GB/s | failed | |',
      '| 1 × 1024 → 1024 (weights in cache) ⚠ | 34 µs, 123 GB/s | 51 µs, 82.2 GB/s | | 60 µs, 69.9 GB/s | 60 µs, 69.9 GB/s | 1.30 ms, 3.23 GB/s |',
      '<!-- bench:linear:end -->',
    ]);
  });

  it('writes the KvCache churn table from bench/kv-cache-churn.js', () => {
    expect(section(rendered, 'churn').split('\n')).toEqual([
      '<!-- bench:churn:start stamp=2026-12-01T10-12-00 (generated by bench/readme.js from bench/readme-results.json) -->',
      'Measured with `node bench/kv-cache-churn.js --out bench/results/readme` on 2026-12-01 (commit `abc1234567`, 95 s): Test CPU, 2 cores (CPU flags: avx2, fma), ' +
        'kernels native/avx2, 2 threads, Node v20.20.2; load average 0.1 at the start and 1.9 at the end. 3000 requests, 8 in flight, each filling a 16 MiB cache ' +
        '(batch 1, 8 kv heads, headDim 64, maxLength 4096) and running one `attentionAsync` step; each in its own process; ' +
        '1 of 2 rows flagged ⚠ (other processes took more than 5 % of the CPU time while the row ran: rerun on a quiet machine).',
      '',
      '| caches | caches created | peak RSS | RSS at end | time |',
      '|---|---:|---:|---:|---:|',
      '| new KvCache per request, dropped | 3000 | 2223 MiB | 1901 MiB | 21.5 s |',
      '| KvCachePool (max 8) ⚠ | 8 | 194 MiB | 190 MiB | 11.6 s |',
      '<!-- bench:churn:end -->',
    ]);
  });

  it("writes the service table from examples/service/load.js, its failures, and each engine's best row", () => {
    const lines = section(rendered, 'service').split('\n');
    expect(lines[1]).toBe(
      'Measured with `node examples/service/load.js --threads 2,1 --out bench/results/readme` on 2026-12-01 (commit `abc1234567`, 95 s): ' +
        'Test CPU, 2 cores (CPU flags: avx2, fma), kernels native/avx2, Node v20.20.2; load average 0.1 at the start and 1.9 at the end; onnxruntime-node 1.30.0; ' +
        '64 connections, 30 s per row after a 2 s warm-up; 1 of 3 rows flagged ⚠ (other processes took more than 5 % of the CPU time while the row ran: ' +
        'rerun on a quiet machine); **2 requests failed and 1 answer was wrong**.',
    );
    expect(lines.slice(3)).toEqual([
      '| engine | threads | requests/s | latency p50 | latency p99 | event-loop delay p99 | RSS before → after | errors | wrong answers (of checked) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      '| fused-attention (native/avx2) | 2 | 1787 | 33 ms | 73 ms | 27.5 ms | 60 → 206 MiB | 0 | 0 (of 53620) |',
      '| fused-attention (native/avx2) | 1 | 2076 | 29 ms | 73 ms | 27.5 ms | 60 → 206 MiB | 0 | 0 (of 62270) |',
      '| onnxruntime-node ⚠ | 2 | 1858 | 33 ms | 73 ms | 27.5 ms | 60 → 206 MiB | 2 | 1 (of 55730) |',
      '',
      'The best row of each engine in this run: fused-attention on 1 thread, 2076 requests/s; onnxruntime-node on 2 threads, 1858 requests/s (1.12× in fused-attention\'s favour).',
      '<!-- bench:service:end -->',
    ]);
  });

  it("writes the backends table from bench/backends.js: one thread each, GB/s of K+V at decode, failed, wrong and ⚠ cells, and issue 18's targets judged from the numbers", () => {
    expect(section(rendered, 'backends').split('\n')).toEqual([
      '<!-- bench:backends:start stamp=2026-12-01T10-16-00 (generated by bench/readme.js from bench/readme-results.json) -->',
      'Measured with `node bench/backends.js --out bench/results/readme` on 2026-12-01 (commit `abc1234567`, 95 s): Test CPU, 2 cores (CPU flags: avx2, fma), ' +
        'kernels native/avx2, Node v20.20.2; load average 0.1 at the start and 1.9 at the end. One thread per backend, each backend and shape in its own process ' +
        '(the wasm, relaxed SIMD row\'s with `node --experimental-wasm-relaxed-simd`); median of 15 timed calls per cell after at least 0.5 s of warm-up ' +
        '(fewer, at least 3, once they passed 10 s: TS fallback at self-512); GFLOP/s = 2·B·H·Lq·Lk·(D+Dv) / time, halved for causal; GB/s = bytes of K and V / time; ' +
        '1 of 7 cells flagged ⚠ (other processes took more than 5 % of the CPU time while the row ran: rerun on a quiet machine); **1 cell WRONG**. ' +
        'Largest relative error against a float64 reference: 2.0e-4.',
      '',
      '| backend, 1 thread | self-512 (B=1 H=8 L=512 D=64) | decode-kvcache (B=1 H=32 Lq=1 Lk=4096 D=128), GB/s of K+V |',
      '|---|--:|--:|',
      '| native (`avx2`) | 10.0 ms, 53.7 GFLOP/s | 15.0 ms, 8.95 GB/s |',
      '| wasm, relaxed SIMD (`relaxed-simd`) | 16.0 ms, 33.6 GFLOP/s | 34.0 ms, 3.95 GB/s ⚠ |',
      '| wasm, plain SIMD128 (`simd128`) | failed | 25.0 ms, 5.37 GB/s |',
      '| TS fallback (`js`) | 280 ms, 1.92 GFLOP/s | 70.0 ms, 1.92 GB/s **WRONG** |',
      '',
      "Issue 18's targets for the wasm backend (at least 15 GFLOP/s and 8× the TS fallback at self-512, at least 5 GB/s of K+V at decode-kvcache), from this run: " +
        'wasm, relaxed SIMD: 33.6 GFLOP/s (met), 17.5× the TS fallback (met), 3.95 GB/s (missed); wasm, plain SIMD128: not measured, not measured, 5.37 GB/s (met). ' +
        'At self-512 native (avx2) runs 1.6× as fast as wasm, relaxed SIMD.',
      '<!-- bench:backends:end -->',
    ]);
  });

  it('judges the targets from the numbers: a faster TS fallback and slower wasm miss them, a wrong cell does not count', () => {
    const rows = backends.rows.map((row) =>
      row.backend === 'js' && row.shape === 'self-512' ? { ...row, medianMs: 100, gflops: 5.37 } : row.backend === 'wasm-relaxed' && row.shape === 'decode-kvcache' ? { ...row, wrong: true } : row,
    );
    const text = section(generator.renderReadme(page, generator.recordOf({ ...results, backends: { ...backends, rows } })), 'backends');
    expect(text).toContain('wasm, relaxed SIMD: 33.6 GFLOP/s (met), 6.3× the TS fallback (missed), not measured;');
  });

  it('says which command to run for a part the record holds as null, and refuses a record without a part', () => {
    const empty = generator.renderReadme(page, generator.recordOf({ ...results, linear: undefined, churn: null, service: null, backends: null }));
    expect(section(empty, 'linear')).toContain('\nNot measured in this run: `node bench/linear.js --out DIR` writes the `linear.json` this table is made from');
    expect(section(empty, 'churn')).toContain('\nNot measured in this run: `node bench/kv-cache-churn.js --out DIR` writes the `churn.json`');
    expect(section(empty, 'service')).toContain('\nNot measured in this run: `node examples/service/load.js --out DIR` writes the `service.json`');
    expect(section(empty, 'backends')).toContain('\nNot measured in this run: `node bench/backends.js --out DIR` writes the `backends.json` this table is made from');
    // An older record, made before a section existed: an error that says what is missing, not a README left half-made.
    const { churn: _churn, ...withoutChurn } = record;
    expect(() => generator.renderReadme(page, withoutChurn as BenchRecord)).toThrow(
      'bench/readme.js: the record has no churn part (from churn.json), so the README\'s churn section cannot be made',
    );
    const { rows: _rows, ...withoutMain } = record;
    expect(() => generator.renderReadme(page, withoutMain as BenchRecord)).toThrow('the record has no main part (from results.json)');
  });

  it('leaves the text outside the markers alone and is idempotent', () => {
    const outside = (text: string) => text.replace(/<!-- bench:(\w+):start[^>]*-->[\s\S]*?<!-- bench:\1:end -->/g, '<$1>');
    expect(outside(rendered)).toBe(outside(page));
    expect(generator.renderReadme(rendered, record)).toBe(rendered);
    expect(generator.recordOf(record)).toEqual(record);
  });

  it('refuses a README without exactly one pair of markers per section', () => {
    expect(() => generator.renderReadme(page.replace('<!-- bench:isa:end -->', ''), record)).toThrow(
      new Error('bench/readme.js: expected one <!-- bench:isa:start --> … <!-- bench:isa:end --> pair in README.md but found 0'),
    );
  });

  it("the committed README's sections are what the generator makes from the committed bench/readme-results.json", () => {
    const text = readFileSync(generator.RECORD, 'utf8');
    const committed = JSON.parse(text) as BenchRecord;
    expect(generator.formatRecord(generator.recordOf(committed))).toBe(text);
    const readme = readFileSync(generator.README, 'utf8');
    expect(generator.renderReadme(readme, committed)).toBe(readme);
    expect(readme).toContain(`<!-- bench:main:start stamp=${committed.stamp} `);
    for (const key of ['linear', 'churn', 'service', 'backends']) {
      const part = committed[key] as { stamp: string } | null;
      expect(part, `bench/readme-results.json has a ${key} record`).not.toBeNull();
      expect(readme).toContain(`<!-- bench:${key}:start stamp=${part!.stamp} `);
    }
  });

  it('the README states no measured rate or size outside the generated sections', () => {
    // Throughputs and memory sizes are measurements: they belong in a section bench/readme.js makes.
    const outside = readFileSync(generator.README, 'utf8').replace(/<!-- bench:(\w+):start[^>]*-->[\s\S]*?<!-- bench:\1:end -->/g, '');
    expect(outside.match(/\d[\d.,]*\s?(GB\/s|GFLOP\/s|GF\/s|req\/s|requests\/s|steps\/s|MiB)(?![\w/])/g)).toBeNull();
  });
});

describe('bench/readme.js over a results directory', () => {
  const committed = JSON.parse(readFileSync(generator.RECORD, 'utf8')) as BenchRecord;
  const readme = readFileSync(generator.README, 'utf8');
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the parts whose files the directory holds and keeps every other part of the record, and its README section, as it was', () => {
    writeFileSync(path.join(dir, 'churn.json'), JSON.stringify(churn));
    const { record: merged, found } = generator.recordFromDir(dir, committed);
    expect(found.map((part) => part.file)).toEqual(['churn.json']);
    expect(merged.churn).toEqual(churn);
    for (const key of ['stamp', 'machine', 'shapes', 'rows', 'vision', 'linear', 'service', 'backends']) expect(merged[key]).toEqual(committed[key]);
    const rewritten = generator.renderReadme(readme, merged);
    for (const name of Object.keys(generator.SECTIONS)) {
      if (name === 'churn') expect(section(rewritten, name)).toContain('| KvCachePool (max 8) ⚠ | 8 | 194 MiB | 190 MiB | 11.6 s |');
      else expect(section(rewritten, name)).toBe(section(readme, name));
    }
  });

  it('refuses a directory with no results file, and a main table it has neither from the directory nor from the record', () => {
    const empty = mkdtempSync(path.join(dir, 'empty-'));
    expect(() => generator.recordFromDir(empty, committed)).toThrow(
      `bench/readme.js: ${empty} holds none of results.json, vision.json, linear.json, churn.json, service.json, backends.json`,
    );
    expect(() => generator.recordFromDir(dir, null)).toThrow(`bench/readme.js: no results.json in ${dir} and no bench/readme-results.json`);
  });
});
