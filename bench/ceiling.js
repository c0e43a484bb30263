'use strict';
// The machine's ceiling, measured next to the table:
//   GEMM: single-precision n×n·n×n GEMM (numpy's sgemm; onnxruntime MatMul if python3/numpy
//         is missing), best of several calls, at 1 thread and at `threads` threads.
//   copy: Buffer.copy of 256 MiB in Node, best of several, counted as STREAM does
//         (bytes read + bytes written per second).
// Run directly for the helper modes: `node bench/ceiling.js copy MiB` and
// `node bench/ceiling.js ort-gemm THREADS N`.

const { spawnSync } = require('child_process');

const NUMPY_GEMM = `
import json, sys, time
import numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
c = np.empty((n, n), dtype=np.float32)
np.matmul(a, b, out=c)
best = float("inf")
for _ in range(reps):
    start = time.perf_counter()
    np.matmul(a, b, out=c)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"gflops": 2 * n ** 3 / best / 1e9, "n": n, "numpy": np.__version__}))
`;

function threadEnv(threads) {
  const n = String(threads);
  return { ...process.env, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n };
}

function lastJsonLine(stdout) {
  const lines = String(stdout).trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

function numpyGemm(threads, n, reps) {
  const child = spawnSync('python3', ['-c', NUMPY_GEMM, String(n), String(reps)], {
    env: threadEnv(threads),
    encoding: 'utf8',
    timeout: 120000,
  });
  if (child.error || child.status !== 0) {
    const why = child.error ? child.error.message : String(child.stderr).trim().split('\n').pop();
    throw new Error(`python3/numpy GEMM failed: ${why}`);
  }
  const result = lastJsonLine(child.stdout);
  return { gflops: result.gflops, source: `numpy ${result.numpy} sgemm n=${n}` };
}

function ortGemm(threads, n) {
  const child = spawnSync(process.execPath, [__filename, 'ort-gemm', String(threads), String(n)], {
    encoding: 'utf8',
    timeout: 120000,
  });
  if (child.error || child.status !== 0) {
    throw new Error(`onnxruntime MatMul GEMM failed: ${child.error ? child.error.message : child.stderr}`);
  }
  const result = lastJsonLine(child.stdout);
  return { gflops: result.gflops, source: `onnxruntime MatMul n=${n}` };
}

function copyBandwidth(mebibytes) {
  const child = spawnSync(process.execPath, [__filename, 'copy', String(mebibytes)], {
    encoding: 'utf8',
    timeout: 120000,
  });
  if (child.error || child.status !== 0) {
    throw new Error(`copy bandwidth failed: ${child.error ? child.error.message : child.stderr}`);
  }
  return lastJsonLine(child.stdout);
}

/** { gemm: { [threads]: { gflops, source } }, copyGBs, notes[] } */
function measureCeiling({ threads = 2, quick = false } = {}) {
  const n = quick ? 1024 : 2048;
  const reps = quick ? 4 : 8;
  const gemm = {};
  const notes = [];
  const threadCounts = [...new Set([1, threads])];
  for (const t of threadCounts) {
    try {
      gemm[t] = numpyGemm(t, n, reps);
    } catch (numpyError) {
      try {
        gemm[t] = ortGemm(t, n);
        notes.push(`${numpyError.message}; used onnxruntime MatMul instead`);
      } catch (ortError) {
        gemm[t] = null;
        notes.push(ortError.message);
      }
    }
  }
  const single = gemm[1];
  const all = gemm[threads];
  if (threads > 1 && single && all && all.gflops < single.gflops) {
    notes.push(
      `the ${threads}-thread GEMM (${all.gflops.toFixed(0)} GFLOP/s) came out below the 1-thread one, so another ` +
        `process was busy; the ${threads}-thread ceiling is taken as the 1-thread figure`,
    );
    gemm[threads] = { ...all, gflops: single.gflops, measuredGflops: all.gflops };
  }
  let copy = null;
  try {
    copy = copyBandwidth(quick ? 64 : 256);
  } catch (error) {
    notes.push(error.message);
  }
  return { gemm, copyGBs: copy && copy.gbs, copyMiB: copy && copy.mebibytes, notes };
}

// ------------------------------------------------------------ helper modes

function runCopy(mebibytes) {
  const bytes = mebibytes * 1024 * 1024;
  const source = Buffer.alloc(bytes, 1);
  const target = Buffer.alloc(bytes);
  source.copy(target);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const start = process.hrtime.bigint();
    source.copy(target);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { gbs: (2 * bytes) / best / 1e9, mebibytes };
}

async function runOrtGemm(threads, n) {
  const ort = require('onnxruntime-node');
  const { matMulModel } = require('./onnx-model');
  const session = await ort.InferenceSession.create(matMulModel(n), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const a = new ort.Tensor('float32', new Float32Array(n * n).fill(0.5), [n, n]);
  const b = new ort.Tensor('float32', new Float32Array(n * n).fill(0.25), [n, n]);
  await session.run({ a, b });
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const start = process.hrtime.bigint();
    await session.run({ a, b });
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { gflops: (2 * n ** 3) / best / 1e9 };
}

if (require.main === module) {
  const [mode, first, second] = process.argv.slice(2);
  const done = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
  if (mode === 'copy') done(runCopy(Number(first || 256)));
  else if (mode === 'ort-gemm') runOrtGemm(Number(first || 1), Number(second || 2048)).then(done);
  else done(measureCeiling({ threads: Number(first) || 2 }));
}

module.exports = { measureCeiling };
