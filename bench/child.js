'use strict';
// Runs one (shape, peer) case and prints one line: `BENCH_RESULT {json}`.
//   node --expose-gc bench/child.js --shape NAME --peer ID [--isa LIST] [--time-box S]
//        [--min-iters N] [--ref FILE]
//   node bench/child.js --info      (what fused-attention's backend() reports here)

const fs = require('fs');
const { shapeByName, flopsOf } = require('./shapes');
const { makeInputs, referenceRows, relativeError } = require('./reference');
const { loadPackage, peerById } = require('./peers');
const { otherLoadWhile } = require('./run-record');

const RESULT_PREFIX = 'BENCH_RESULT ';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[key] = true;
    else args[key] = argv[++i];
  }
  return args;
}

function readStatusKb(field) {
  const match = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return match ? Number(match[1]) : NaN;
}

/** Resets VmHWM to the current RSS (Linux >= 4.0); false where that is not allowed. */
function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function median(sorted) {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Warm-up for ~warmupSeconds (at least one call), then timed calls until both
 * minIters calls and timeBoxSeconds have passed (capped at maxIters). Milliseconds.
 */
async function measure(instance, { timeBoxSeconds, warmupSeconds, minIters, maxIters }) {
  const { run, isAsync } = instance;
  const call = isAsync
    ? async () => {
        const start = process.hrtime.bigint();
        await run();
        return Number(process.hrtime.bigint() - start) / 1e6;
      }
    : () => {
        const start = process.hrtime.bigint();
        run();
        return Number(process.hrtime.bigint() - start) / 1e6;
      };
  let warmupIters = 0;
  let warmupMs = 0;
  let firstCallMs = 0;
  do {
    const ms = await call();
    if (warmupIters === 0) firstCallMs = ms;
    warmupMs += ms;
    warmupIters++;
  } while (warmupMs < warmupSeconds * 1000 && warmupIters < maxIters);
  const samples = [];
  let timedMs = 0;
  while (samples.length < minIters || (timedMs < timeBoxSeconds * 1000 && samples.length < maxIters)) {
    const ms = await call();
    samples.push(ms);
    timedMs += ms;
  }
  samples.sort((a, b) => a - b);
  return {
    medianMs: median(samples),
    minMs: samples[0],
    p90Ms: samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.9))],
    iters: samples.length,
    warmupIters,
    firstCallMs,
  };
}

async function runCase(args) {
  const shape = shapeByName(args.shape);
  const peer = peerById(args.peer, { isas: args.isa ? String(args.isa).split(',') : [] });
  const result = { shape: shape.name, peer: peer.id };
  const inputs = makeInputs(shape);
  let instance;
  try {
    instance = await peer.create(shape, inputs);
  } catch (error) {
    return { ...result, status: 'error', error: String((error && error.message) || error).split('\n')[0] };
  }
  result.threads = instance.threads;
  result.detail = instance.detail;

  if (global.gc) global.gc();
  const rssBeforeKb = readStatusKb('VmRSS');
  const peakResettable = resetPeakRss();
  const { value: timing, otherLoad } = await otherLoadWhile(() =>
    measure(instance, {
      timeBoxSeconds: Number(args['time-box'] || 1.5),
      warmupSeconds: Number(args.warmup || 0.3),
      minIters: Number(args['min-iters'] || 5),
      maxIters: Number(args['max-iters'] || 100000),
    }),
  );
  const peakKb = readStatusKb('VmHWM');
  Object.assign(result, timing);
  result.otherLoad = otherLoad;
  result.status = 'ok';
  result.gflops = flopsOf(shape) / (timing.medianMs * 1e6);
  result.rssBeforeMB = rssBeforeKb / 1024;
  result.peakDeltaMB = peakResettable ? Math.max(0, peakKb - rssBeforeKb) / 1024 : null;

  const output = instance.output();
  const { rows, sampled } = referenceRows(shape);
  if (args.ref) {
    const bytes = fs.readFileSync(args.ref);
    const reference = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    result.relErr = relativeError(shape, output, rows, reference);
    result.errRows = rows.length;
    result.errSampled = sampled;
  }
  let nonFinite = 0;
  for (let i = 0; i < output.length; i++) if (!Number.isFinite(output[i])) nonFinite++;
  result.nonFinite = nonFinite;
  return result;
}

async function printInfo() {
  try {
    return { status: 'ok', backend: loadPackage().backend() };
  } catch (error) {
    return { status: 'error', error: String((error && error.message) || error).split('\n')[0] };
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let result;
  try {
    result = args.info ? await printInfo() : await runCase(args);
  } catch (error) {
    const message = error && error.message ? `${error.name || 'Error'}: ${error.message}` : String(error);
    result = {
      shape: args.shape,
      peer: args.peer,
      status: 'error',
      error: message.split('\n')[0],
      stack: error && error.stack ? String(error.stack) : undefined,
    };
  }
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`${error && error.stack}\n`);
      process.exit(1);
    },
  );
}

module.exports = { RESULT_PREFIX };
