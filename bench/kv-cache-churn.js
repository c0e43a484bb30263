'use strict';
// KvCache memory under request churn (issue 15 item 9): a service that creates
// a 16 MiB KvCache per request and drops it, against one that reuses caches
// from a KvCachePool. Each mode runs in its own child process; prints peak RSS.
//
//   npm run build:ts && node bench/kv-cache-churn.js [--requests 3000] [--concurrency 8]
//
// A request fills its cache (prefill of maxLength positions, so every page is
// touched) and runs one attentionAsync decode step against it.

const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');

function flag(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const REQUESTS = Number(flag('requests', '3000'));
const CONCURRENCY = Number(flag('concurrency', '8'));
const CONFIG = { batch: 1, numKvHeads: 8, headDim: 64, maxLength: 4096 };
const MIB = 2 ** 20;

async function child(mode) {
  const { KvCache, KvCachePool, attentionAsync } = require(root);
  const { batch, numKvHeads, headDim, maxLength } = CONFIG;
  const prefill = { data: new Float32Array(batch * numKvHeads * maxLength * headDim).fill(0.01), shape: [batch, numKvHeads, maxLength, headDim] };
  const q = { data: new Float32Array(batch * numKvHeads * headDim).fill(0.02), shape: [batch, numKvHeads, 1, headDim] };
  const pool = mode === 'pool' ? new KvCachePool({ ...CONFIG, max: CONCURRENCY }) : null;
  let peak = process.memoryUsage().rss;
  let next = 0;
  const start = process.hrtime.bigint();
  async function worker() {
    while (next < REQUESTS) {
      next++;
      const cache = pool ? await pool.acquire() : new KvCache(CONFIG);
      cache.append(prefill, prefill);
      await attentionAsync(q, cache);
      if (pool) pool.release(cache);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ mode, peakMiB: peak / MIB, endMiB: process.memoryUsage().rss / MIB, seconds, caches: pool ? pool.size : REQUESTS }));
}

function main() {
  console.log(`${REQUESTS} requests, ${CONCURRENCY} in flight, each with a ${(2 * CONFIG.numKvHeads * CONFIG.maxLength * CONFIG.headDim * 4) / MIB} MiB KvCache (${JSON.stringify(CONFIG)})`);
  console.log('| caches | caches created | peak RSS | RSS at end | time |');
  console.log('|---|---:|---:|---:|---:|');
  for (const mode of ['create', 'pool']) {
    const run = spawnSync(process.execPath, [__filename, '--child', mode, '--requests', String(REQUESTS), '--concurrency', String(CONCURRENCY)], {
      encoding: 'utf8',
      env: { ...process.env, FUSED_ATTENTION_SILENT: '1' },
    });
    if (run.status !== 0) throw new Error(`${mode} run failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout);
    const label = mode === 'pool' ? `KvCachePool (max ${CONCURRENCY})` : 'new KvCache per request, dropped';
    console.log(`| ${label} | ${r.caches} | ${r.peakMiB.toFixed(0)} MiB | ${r.endMiB.toFixed(0)} MiB | ${r.seconds.toFixed(1)} s |`);
  }
}

const childMode = flag('child', null);
if (childMode) {
  child(childMode).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main();
}
