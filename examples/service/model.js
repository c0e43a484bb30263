'use strict';
// The service's model, built identically by the server, the load script and the
// test so each can check the others' answers: a seeded token embedding table and
// one MultiHeadAttention layer (PyTorch nn.Linear weight layout).

const D_MODEL = 256;
const HEADS = 8;
const HEAD_DIM = D_MODEL / HEADS;
const VOCAB = 1024;
/** Tokens per /encode request (the onnxruntime graphs have fixed shapes). */
const ENCODE_LENGTH = 64;
/** Positions a /decode session can hold. */
const MAX_DECODE = 64;

const { mulberry32 } = require('../seeded-random');

/** `fa` is the fused-attention module (the package, or lib/ in the test). */
function createModel(fa) {
  const random = mulberry32(15);
  // N(0, 1/cols) entries keep activations at unit scale through the layer.
  const matrix = (rows, cols) => {
    const m = new Float32Array(rows * cols);
    const std = 1 / Math.sqrt(cols);
    for (let i = 0; i < m.length; i++) m[i] = std * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return m;
  };
  const vector = (n) => Float32Array.from({ length: n }, () => 0.1 * (random() - 0.5));
  const embedding = matrix(VOCAB, D_MODEL);
  const weights = {
    wq: matrix(D_MODEL, D_MODEL), wk: matrix(D_MODEL, D_MODEL), wv: matrix(D_MODEL, D_MODEL), wo: matrix(D_MODEL, D_MODEL),
    bq: vector(D_MODEL), bk: vector(D_MODEL), bv: vector(D_MODEL), bo: vector(D_MODEL),
  };
  const mha = new fa.MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights });

  /** Token ids → their embedding rows, [tokens.length, D_MODEL] flattened. */
  function embed(tokens) {
    const x = new Float32Array(tokens.length * D_MODEL);
    tokens.forEach((token, i) => x.set(embedding.subarray(token * D_MODEL, (token + 1) * D_MODEL), i * D_MODEL));
    return x;
  }

  /** The synchronous reference for /encode: the layer over [ENCODE_LENGTH, D_MODEL]. */
  function encodeSync(tokens) {
    return mha.forward({ data: embed(tokens), shape: [tokens.length, D_MODEL] }).data;
  }

  /** The synchronous reference for /decode: the outputs of feeding `tokens` one per step. */
  function decodeSync(tokens) {
    const cache = mha.createCache(1, MAX_DECODE);
    return tokens.map((token) => mha.step({ data: embed([token]), shape: [1, 1, D_MODEL] }, cache).data);
  }

  return { fa, embedding, weights, mha, embed, encodeSync, decodeSync };
}

const SAMPLES = 16;

/** What a response carries instead of the whole output: sum, sum of |y|, and 16 values spread over it. */
function summarize(y) {
  let checksum = 0;
  let l1 = 0;
  for (const value of y) {
    checksum += value;
    l1 += Math.abs(value);
  }
  const stride = Math.floor(y.length / SAMPLES);
  return { checksum, l1, values: Array.from({ length: SAMPLES }, (_, i) => y[i * stride + (i % 7)]) };
}

/**
 * Equal up to float32 rounding in another order (another engine, ISA or thread
 * count: onnxruntime differs from the sync API by < 1e-7 relative here).
 */
function sameAnswer(got, want) {
  if (!got || typeof got.checksum !== 'number' || !Array.isArray(got.values) || got.values.length !== want.values.length) return false;
  if (!(Math.abs(got.checksum - want.checksum) <= 1e-5 * want.l1)) return false;
  return want.values.every((v, i) => Math.abs(got.values[i] - v) <= 1e-5 * (1 + Math.abs(v)));
}

/** Deterministic request contents, so answers can be precomputed: the k-th encode sequence, the decode session's tokens. */
function encodeTokens(k) {
  return Array.from({ length: ENCODE_LENGTH }, (_, i) => (k * 131 + i * 17 + 5) % VOCAB);
}
function decodeTokens(steps) {
  return Array.from({ length: steps }, (_, i) => (i * 37 + 11) % VOCAB);
}

module.exports = { D_MODEL, HEADS, HEAD_DIM, VOCAB, ENCODE_LENGTH, MAX_DECODE, createModel, summarize, sameAnswer, encodeTokens, decodeTokens };
