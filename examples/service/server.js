'use strict';
// A small HTTP service over fused-attention (node:http, no framework).
//
//   node examples/service/server.js [--port 3000] [--engine fused|ort] [--threads 2]
//
//   POST /encode {"id": any, "tokens": [64 token ids < 1024]}
//        → {"id", "checksum", "l1", "values"}: one MultiHeadAttention layer (dModel 256,
//          8 heads) over the tokens' embeddings; the output summarized (model.js).
//   POST /decode {"session": string, "step": n, "token": id, "end"?: true}
//        → {"session", "step", "checksum", "l1", "values"}: one decoding step of the
//          session: its KvCache (from a KvCachePool, acquired at step 0) gets the token's
//          key/value and the token attends to everything before it. "end" (or a full
//          cache) releases the cache; a session idle for 30 s is released too.
//   GET  /stats  → event-loop delay (perf_hooks.monitorEventLoopDelay, sampled every 1 ms, so an
//          idle loop reads about 1.1 ms), RSS, sessions, pool
//   POST /stats/reset  → restarts the event-loop delay histogram
//
// Prints "listening on http://127.0.0.1:<port>" when ready (--port 0 picks a free port).

const http = require('http');
const { monitorEventLoopDelay } = require('perf_hooks');
const fa = require('fused-attention');
const { HEADS, HEAD_DIM, VOCAB, ENCODE_LENGTH, MAX_DECODE, createModel, summarize } = require('./model');
const { fusedEngine, ortEngine } = require('./engines');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const PORT = Number(flag('port', '3000'));
const ENGINE = flag('engine', 'fused');
const THREADS = Number(flag('threads', '2'));
const SESSION_IDLE_MS = 30_000;
const MAX_BODY = 64 * 1024;

class BadRequest extends Error {}

const isToken = (t) => Number.isInteger(t) && t >= 0 && t < VOCAB;

async function main() {
  if (ENGINE !== 'fused' && ENGINE !== 'ort') throw new Error(`--engine must be fused or ort, not ${ENGINE}`);
  fa.setThreads(THREADS);
  const model = createModel(fa);
  const engine = ENGINE === 'ort' ? await ortEngine(model, THREADS) : fusedEngine(model);
  const pool = new fa.KvCachePool({ batch: 1, numKvHeads: HEADS, headDim: HEAD_DIM, maxLength: MAX_DECODE, max: 256 });
  /** session id → { cache, lastUsed } */
  const sessions = new Map();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const served = { encode: 0, decode: 0 };

  const endSession = (id) => {
    const session = sessions.get(id);
    sessions.delete(id);
    pool.release(session.cache);
  };
  setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) if (!session.busy && now - session.lastUsed > SESSION_IDLE_MS) endSession(id);
  }, 5_000).unref();

  async function encode(body) {
    const { id, tokens } = body;
    if (!Array.isArray(tokens) || tokens.length !== ENCODE_LENGTH || !tokens.every(isToken)) {
      throw new BadRequest(`tokens must be ${ENCODE_LENGTH} integers from 0 to ${VOCAB - 1}`);
    }
    const y = await engine.encode(model.embed(tokens));
    served.encode++;
    return { id, ...summarize(y) };
  }

  async function decode(body) {
    const { session: id, step, token, end } = body;
    if (typeof id !== 'string' || !Number.isInteger(step) || !isToken(token)) {
      throw new BadRequest(`decode needs {"session": string, "step": integer, "token": integer < ${VOCAB}}`);
    }
    let session = sessions.get(id);
    if (session === undefined) {
      if (step !== 0) throw new BadRequest(`unknown session ${JSON.stringify(id)} (a session starts at step 0)`);
      session = { cache: null, lastUsed: Date.now(), busy: true };
      sessions.set(id, session);
      session.cache = await pool.acquire();
    } else if (session.busy) {
      throw new BadRequest(`session ${JSON.stringify(id)} has a step in progress`);
    }
    if (step !== session.cache.lengthOf(0)) throw new BadRequest(`session ${JSON.stringify(id)} is at step ${session.cache.lengthOf(0)}, not ${step}`);
    session.busy = true;
    try {
      const y = await engine.decodeStep(session.cache, model.embed([token]));
      served.decode++;
      return { session: id, step, ...summarize(y) };
    } finally {
      session.busy = false;
      session.lastUsed = Date.now();
      if (end === true || session.cache.lengthOf(0) === MAX_DECODE) endSession(id);
    }
  }

  function stats() {
    const ms = (ns) => ns / 1e6;
    return {
      engine: ENGINE,
      backend: fa.backend(),
      served,
      eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      sessions: sessions.size,
      pool: { size: pool.size, inUse: pool.inUse, waiting: pool.waiting },
    };
  }

  const routes = {
    'POST /encode': encode,
    'POST /decode': decode,
    'GET /stats': stats,
    'POST /stats/reset': () => (loopDelay.reset(), {}),
  };

  const server = http.createServer((req, res) => {
    const route = routes[`${req.method} ${req.url}`];
    const reply = (status, value) => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (route === undefined) return reply(404, { error: `no route ${req.method} ${req.url}` });
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', async () => {
      try {
        if (size > MAX_BODY) throw new BadRequest(`body over ${MAX_BODY} bytes`);
        let body = {};
        if (size > 0) {
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            throw new BadRequest('body is not JSON');
          }
        }
        reply(200, await route(body ?? {}));
      } catch (err) {
        if (err instanceof BadRequest) reply(400, { error: err.message });
        else reply(500, { error: String(err && err.message) });
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(PORT, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port} (engine ${ENGINE}, backend ${fa.backend().name}/${fa.backend().isa})`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
