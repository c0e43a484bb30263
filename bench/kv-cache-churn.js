'use strict';
// KvCache memory under request churn (issue 15 item 9): a service that creates
// a 16 MiB KvCache per request and drops it, against one that reuses caches
// from a KvCachePool. Each mode runs in its own child process; prints peak RSS, as
// the README's table (bench/readme.js's churn section); with --out DIR also writes
// DIR/churn.json, the record that table is made from.
//
//   npm run build:ts && node bench/kv-cache-churn.js [--requests 3000] [--concurrency 8] [--out DIR]
//
// A request fills its cache (prefill of maxLength positions, so every page is
// touched) and runs one attentionAsync decode step against it.

const { spawnSync } = require('child_process');
const path = require('path');
const { startRecord, otherLoadWhile } = require('./run-record');

const root = path.join(__dirname, '..');
const { SECTIONS } = require('./readme');
const churnSection = SECTIONS.churn.render;

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
  const start = process.hrtime.bigint();
  const { otherLoad } = await otherLoadWhile(() => Promise.all(Array.from({ length: CONCURRENCY }, worker)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ mode, caches: pool ? pool.size : REQUESTS, peakMiB: peak / MIB, endMiB: process.memoryUsage().rss / MIB, seconds, otherLoad }));
}

function main() {
  const run = startRecord(__filename, { backend: require(root).backend() });
  const rows = [];
  for (const mode of ['create', 'pool']) {
    const proc = spawnSync(process.execPath, [__filename, '--child', mode, '--requests', String(REQUESTS), '--concurrency', String(CONCURRENCY)], {
      encoding: 'utf8',
      env: { ...process.env, FUSED_ATTENTION_SILENT: '1' },
    });
    if (proc.status !== 0) throw new Error(`${mode} run failed: ${proc.stderr}`);
    rows.push(JSON.parse(proc.stdout));
  }
  const fields = { requests: REQUESTS, concurrency: CONCURRENCY, config: CONFIG, cacheMiB: (2 * CONFIG.batch * CONFIG.numKvHeads * CONFIG.maxLength * CONFIG.headDim * 4) / MIB, rows };
  const out = flag('out', null);
  const record = out ? run.write(out, 'churn.json', fields) : run.finish(fields);
  console.log(churnSection({ churn: record }));
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
