'use strict';
// Drives examples/service/server.js with autocannon and prints one row per engine, as
// the README's table (bench/readme.js's service section); with --out DIR also writes
// DIR/service.json, the record that table is made from. Exits 1 when requests failed or
// answers were wrong (the record, when asked for, is written first).
//
//   npm run bench:service                   (both engines, 64 connections, 30 s each)
//   node examples/service/load.js [--engine fused|ort|both] [--duration 30] [--connections 64] [--threads 2[,1]] [--out DIR]
//
// --threads: the service's native thread pool size (fused) or intra-op threads per
// ORT session; a list gives one row per value.
//
// Each connection repeats a decode session of DECODE_STEPS tokens, with an /encode
// request (64 tokens) before every decode step: half the requests are a 64-token
// MultiHeadAttention layer, half a one-token step against a pooled KvCache. Every
// response is checked against the synchronous API (model.js computes the expected
// answers up front with attention() / mha.forward / mha.step): a mismatch counts
// as a wrong answer. The service runs in a child process; RSS and the event-loop
// delay come from its /stats endpoint (delay histogram reset after a 2 s warm-up). A row
// also records the share of CPU time other processes (neither this one nor the service)
// took while it was timed.

const { spawn } = require('child_process');
const path = require('path');
const autocannon = require('autocannon');
const fa = require('fused-attention');
const { createModel, summarize, sameAnswer, encodeTokens, decodeTokens } = require('./model');
const { startRecord, otherLoadWhile } = require('../../bench/run-record');
const { SECTIONS } = require('../../bench/readme');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const ENGINES = flag('engine', 'both') === 'both' ? ['fused', 'ort'] : [flag('engine')];
const DURATION = Number(flag('duration', '30'));
const CONNECTIONS = Number(flag('connections', '64'));
/** Native pool / ORT intra-op threads of the service, one row each. */
const THREAD_COUNTS = flag('threads', '2').split(',').map(Number);
const OUT = flag('out', null);
const WARMUP = 2;
const ENCODE_SEQUENCES = 16;
const DECODE_STEPS = 32;

function startServer(engine, threads) {
  const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), '--port', '0', '--engine', engine, '--threads', String(threads)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FUSED_ATTENTION_SILENT: '1' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (port) resolve({ child, url: `http://127.0.0.1:${port[1]}` });
    });
    child.on('exit', (code) => reject(new Error(`server (${engine}) exited with ${code}`)));
  });
}

async function getJson(url, method = 'GET') {
  const res = await fetch(url, { method });
  return res.json();
}

/** Session ids stay unique across runs: a warm-up run leaves sessions open on the server. */
let nextSession = 0;

/** The request cycle of one connection, checking every answer; `counts` tallies checked and wrong ones. */
function requestCycle(expected, counts, engine) {
  let nextSequence = 0;
  const check = (want) => (status, body) => {
    if (status !== 200) return; // counted by autocannon as non-2xx
    counts.checked++;
    let got = null;
    try {
      got = JSON.parse(body);
    } catch {}
    const wanted = want(got);
    if (wanted === undefined || !sameAnswer(got, wanted)) counts.wrong++;
  };
  const requests = [];
  for (let step = 0; step < DECODE_STEPS; step++) {
    requests.push({
      method: 'POST',
      path: '/encode',
      headers: { 'content-type': 'application/json' },
      setupRequest(req, context) {
        if (step === 0) context.session = `${engine}-${process.pid}-${nextSession++}`;
        const id = nextSequence++ % ENCODE_SEQUENCES;
        return { ...req, body: JSON.stringify({ id, tokens: encodeTokens(id) }) };
      },
      onResponse: check((got) => expected.encode[got?.id]),
    });
    requests.push({
      method: 'POST',
      path: '/decode',
      headers: { 'content-type': 'application/json' },
      setupRequest(req, context) {
        const body = { session: context.session, step, token: expected.decodeTokens[step], end: step === DECODE_STEPS - 1 };
        return { ...req, body: JSON.stringify(body) };
      },
      onResponse: check(() => expected.decode[step]),
    });
  }
  return requests;
}

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function measure(engine, threads, expected) {
  const { child, url } = await startServer(engine, threads);
  try {
    const before = await getJson(`${url}/stats`);
    const counts = { checked: 0, wrong: 0 };
    const options = (duration) => ({ url, connections: CONNECTIONS, duration, requests: requestCycle(expected, counts, engine) });
    await run(options(WARMUP));
    await getJson(`${url}/stats/reset`, 'POST');
    counts.checked = 0;
    counts.wrong = 0;
    const { value: result, otherLoad } = await otherLoadWhile(() => run(options(DURATION)), { children: [child.pid] });
    const after = await getJson(`${url}/stats`);
    return {
      engine,
      threads,
      backend: `${before.backend.name}/${before.backend.isa}`,
      requestsPerSecond: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      loopP99: after.eventLoopDelayMs.p99,
      rssBefore: before.rssMiB,
      rssAfter: after.rssMiB,
      errors: result.errors + result.timeouts + result.non2xx,
      errorKinds: `${result.errors} socket, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
      checked: counts.checked,
      wrong: counts.wrong,
      total: result.requests.total,
      otherLoad,
    };
  } finally {
    child.kill();
  }
}

/** The onnxruntime-node the ORT engine loads, when installed. */
function onnxruntimeVersion() {
  try {
    return require('onnxruntime-node/package.json').version;
  } catch {
    return null;
  }
}

async function main() {
  const record = startRecord(__filename, { backend: fa.backend() });
  const model = createModel(fa);
  const tokens = decodeTokens(DECODE_STEPS);
  const expected = {
    encode: Array.from({ length: ENCODE_SEQUENCES }, (_, id) => summarize(model.encodeSync(encodeTokens(id)))),
    decodeTokens: tokens,
    decode: model.decodeSync(tokens).map(summarize),
  };
  console.error(
    `${CONNECTIONS} connections, ${DURATION} s per engine (after a ${WARMUP} s warm-up); requests alternate /encode (64 tokens, dModel 256, 8 heads) ` +
      `and /decode (one token, sessions of ${DECODE_STEPS} steps, pooled KvCache)`,
  );
  const rows = [];
  for (const [engine, threads] of ENGINES.flatMap((e) => THREAD_COUNTS.map((t) => [e, t]))) {
    const r = await measure(engine, threads, expected);
    console.error(`  ${engine}, ${threads} thread(s): ${r.requestsPerSecond.toFixed(0)} requests/s, ${r.errors} errors (${r.errorKinds}), ${r.wrong} wrong of ${r.checked}`);
    rows.push(r);
  }
  const fields = {
    connections: CONNECTIONS, duration: DURATION, warmup: WARMUP, decodeSteps: DECODE_STEPS,
    onnxruntime: ENGINES.includes('ort') ? onnxruntimeVersion() : null, rows,
  };
  const service = OUT ? record.write(OUT, 'service.json', fields) : record.finish(fields);
  console.log(SECTIONS.service.render({ service }));
  if (rows.some((r) => r.errors > 0 || r.wrong > 0 || r.checked === 0)) {
    console.error('load: errors or wrong answers (see the table)');
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
