'use strict';
// A tiny decoder-only transformer generating tokens with a KV cache.
//
//   node examples/generate.js [--tokens 48] [--dtype float32|bfloat16] [--weights float32|bfloat16|both]
//
// --dtype is the KV cache's element type; --weights the one the projection and MLP
// weights are packed in (packLinear's dtype, MultiHeadAttention's weightsDtype): each
// weight rounded once to bfloat16 halves the bytes a decode step streams. The
// default, both, generates with the same seeded weights packed each way in turn.
//
// The model has random (seeded) weights, so the text is gibberish; what the
// example shows is the serving loop: embed the prompt, run it through every
// layer once (MultiHeadAttention.step on an empty cache = prefill), then feed
// back one token at a time, each step reading the layer's KvCache instead of
// recomputing the whole prefix. It checks the cached decode against a full
// causal forward over the final sequence and prints tokens per second for both.
//
// Layer l:  h = h + attn_l(rmsnorm(h))  with attn_l = MultiHeadAttention (GQA 8/2)
//           h = h + W2·gelu(W1·rmsnorm(h))
// logits = Wout·rmsnorm(h); greedy argmax.

const fa = require('fused-attention');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const NEW_TOKENS = Number(flag('tokens', 48));
const DTYPE = flag('dtype', 'float32');
const WEIGHTS = flag('weights', 'both');
if (!['float32', 'bfloat16', 'both'].includes(WEIGHTS)) throw new RangeError(`--weights: expected float32, bfloat16 or both but received ${WEIGHTS}`);

const VOCAB = 256;
const D_MODEL = 256;
const HEADS = 8;
const KV_HEADS = 2;
const LAYERS = 4;
const HIDDEN = 4 * D_MODEL;
const MAX_LENGTH = 256;

// ---- seeded weights -------------------------------------------------------------

const { mulberry32 } = require('./seeded-random');

/** The model's float32 weights, from one seed: every weights dtype packs the same numbers. */
function seededWeights() {
  const random = mulberry32(42);
  /** [rows, cols] with N(0, 1/cols) entries: activations keep their scale through a layer. */
  const matrix = (rows, cols) => {
    const m = new Float32Array(rows * cols);
    const std = 1 / Math.sqrt(cols);
    for (let i = 0; i < m.length; i++) {
      const u = 1 - random();
      m[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    }
    return m;
  };
  const embedding = matrix(VOCAB, D_MODEL); // row t = token t's vector
  const headDim = D_MODEL / HEADS;
  const layers = Array.from({ length: LAYERS }, () => ({
    wq: matrix(HEADS * headDim, D_MODEL),
    wk: matrix(KV_HEADS * headDim, D_MODEL),
    wv: matrix(KV_HEADS * headDim, D_MODEL),
    wo: matrix(D_MODEL, HEADS * headDim),
    up: matrix(HIDDEN, D_MODEL),
    down: matrix(D_MODEL, HIDDEN),
  }));
  return { embedding, layers };
}

/** The model with its weights packed as `dtype`. */
function buildModel(weights, dtype) {
  const layers = weights.layers.map((w) => ({
    attn: new fa.MultiHeadAttention({
      dModel: D_MODEL,
      numHeads: HEADS,
      numKvHeads: KV_HEADS,
      weightsDtype: dtype,
      weights: { wq: w.wq, wk: w.wk, wv: w.wv, wo: w.wo },
    }),
    up: fa.packLinear({ data: w.up, shape: [HIDDEN, D_MODEL] }, null, { dtype }),
    down: fa.packLinear({ data: w.down, shape: [D_MODEL, HIDDEN] }, null, { dtype }),
  }));
  const lmHead = fa.packLinear({ data: weights.embedding, shape: [VOCAB, D_MODEL] }, null, { dtype }); // tied embeddings
  return { embedding: weights.embedding, layers, lmHead };
}

// ---- the model --------------------------------------------------------------------

function rmsnorm(x, width) {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    let ss = 0;
    for (let i = 0; i < width; i++) ss += x[r * width + i] ** 2;
    const inv = 1 / Math.sqrt(ss / width + 1e-6);
    for (let i = 0; i < width; i++) y[r * width + i] = x[r * width + i] * inv;
  }
  return y;
}

function gelu(x) {
  for (let i = 0; i < x.length; i++) x[i] = 0.5 * x[i] * (1 + Math.tanh(0.7978845608 * (x[i] + 0.044715 * x[i] ** 3)));
  return x;
}

/**
 * Runs tokens [T] through the model and returns logits [T, VOCAB].
 * With caches: the tokens continue the cached sequence (step); without:
 * a causal forward over exactly these tokens.
 */
function run({ embedding, layers, lmHead }, tokens, caches) {
  const T = tokens.length;
  const h = new Float32Array(T * D_MODEL);
  tokens.forEach((t, i) => h.set(embedding.subarray(t * D_MODEL, (t + 1) * D_MODEL), i * D_MODEL));
  layers.forEach((layer, l) => {
    const x = { data: rmsnorm(h, D_MODEL), shape: [1, T, D_MODEL] };
    const a = caches ? layer.attn.step(x, caches[l]) : layer.attn.forward(x, { causal: true });
    for (let i = 0; i < h.length; i++) h[i] += a.data[i];
    const up = layer.up.forward({ data: rmsnorm(h, D_MODEL), shape: [T, D_MODEL] });
    const down = layer.down.forward({ data: gelu(up.data), shape: [T, HIDDEN] });
    for (let i = 0; i < h.length; i++) h[i] += down.data[i];
  });
  return lmHead.forward({ data: rmsnorm(h, D_MODEL), shape: [T, D_MODEL] }).data;
}

function argmax(logits, row) {
  let best = 0;
  for (let v = 1; v < VOCAB; v++) if (logits[row * VOCAB + v] > logits[row * VOCAB + best]) best = v;
  return best;
}

// ---- generation ------------------------------------------------------------------

/** Generates NEW_TOKENS after the prompt with `model`, then again by recomputing the prefix; prints both rates. */
function generate(model, weightsDtype) {
  const prompt = Array.from(Buffer.from('fused attention in node: '));
  const caches = model.layers.map((layer) => layer.attn.createCache(1, MAX_LENGTH, DTYPE));
  run(model, prompt, null); // untimed: the first calls of a model pay for JIT and page faults

  let t0 = process.hrtime.bigint();
  let logits = run(model, prompt, caches); // prefill: the whole prompt in one step per layer
  const prefillMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const generated = [argmax(logits, prompt.length - 1)];
  t0 = process.hrtime.bigint();
  while (generated.length < NEW_TOKENS) {
    logits = run(model, [generated[generated.length - 1]], caches);
    generated.push(argmax(logits, 0));
  }
  const decodeMs = Number(process.hrtime.bigint() - t0) / 1e6;

  // The same sequence without a cache: every new token recomputes the whole prefix.
  const sequence = [...prompt, ...generated];
  t0 = process.hrtime.bigint();
  const recomputed = [];
  for (let n = prompt.length; n < sequence.length; n++) {
    const full = run(model, sequence.slice(0, n), null);
    recomputed.push(argmax(full, n - 1));
  }
  const recomputeMs = Number(process.hrtime.bigint() - t0) / 1e6;

  console.log(`\n${weightsDtype} weights; KV cache ${DTYPE}, ${LAYERS} layers × ${caches[0].byteLength / 1024} KiB; ` +
    `prompt ${prompt.length} tokens, prefill ${prefillMs.toFixed(1)} ms`);
  console.log(`generated ${generated.length} tokens: ${generated.join(' ')}`);
  const perSecond = (n, ms) => ((1000 * n) / ms).toFixed(0);
  console.log(`cached decode: ${perSecond(generated.length - 1, decodeMs)} tokens/s; ` +
    `recomputing the prefix: ${perSecond(recomputed.length, recomputeMs)} tokens/s`);
  const same = recomputed.every((t, i) => t === generated[i]);
  console.log(same ? 'cached decode picks the same tokens as full recomputation: ok'
    : `MISMATCH: full recomputation picks ${recomputed.join(' ')}`);
  // A bfloat16 cache stores rounded keys/values, so its tokens may differ from recomputation; float32 may not.
  if (!same && DTYPE === 'float32') process.exitCode = 1;
  return generated;
}

const info = fa.backend();
const weights = seededWeights();
console.log(`backend: ${info.name}${info.isa ? ` (${info.isa}, ${info.threads} threads)` : ''}`);
const dtypes = WEIGHTS === 'both' ? ['float32', 'bfloat16'] : [WEIGHTS];
const tokens = dtypes.map((dtype) => generate(buildModel(weights, dtype), dtype));
if (tokens.length === 2) {
  const same = tokens[0].filter((t, i) => t === tokens[1][i]).length;
  console.log(`\nbfloat16 weights pick the float32 weights' token at ${same} of ${tokens[0].length} positions`);
}
