/**
 * bench/readme.js: the README's benchmark sections are generated from one
 * run's numbers (bench/readme-results.json), and regenerating changes nothing.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

interface BenchRecord {
  stamp: string;
  rows: Array<Record<string, unknown>>;
  [key: string]: unknown;
}
const generator = createRequire(import.meta.url)('../bench/readme.js') as {
  recordOf(results: unknown): BenchRecord;
  formatRecord(record: BenchRecord): string;
  renderReadme(readme: string, record: BenchRecord): string;
  RECORD: string;
  README: string;
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
  });
});
