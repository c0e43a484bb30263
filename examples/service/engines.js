'use strict';
// The two engines behind the service's HTTP interface. Both take the model of
// model.js and return [L, D_MODEL] outputs; decode steps append to a KvCache
// [1, HEADS, MAX_DECODE, HEAD_DIM] from the server's KvCachePool.
//
//   fused: MultiHeadAttention.forwardAsync (projections and attention on the
//          package's dispatcher thread), and MultiHeadAttention.step for a decode
//          step (one token: microseconds of work, cheaper than a thread hop).
//   ort:   the same layer in onnxruntime-node, graphs from bench/onnx-model.js:
//          q|k|v and output projections as MatMul+Add (linearModel), attention as
//          com.microsoft.MultiHeadAttention (multiHeadAttentionModel), each session
//          with `threads` intra-op threads that do not spin between runs; a decode
//          step gives ORT the session's keys and values as [B, H, Lk, D] inputs, with
//          an additive attention_bias hiding the positions not yet written. ORT refuses
//          SharedArrayBuffer-backed tensors, so each pooled KvCache gets a plain-buffer
//          mirror (reused with the cache) that the new rows are written to as well.

const path = require('path');
const { D_MODEL, HEADS, HEAD_DIM, ENCODE_LENGTH, MAX_DECODE } = require('./model');

function fusedEngine(model) {
  const { mha } = model;
  return {
    name: 'fused',
    async encode(x) {
      return (await mha.forwardAsync({ data: x, shape: [ENCODE_LENGTH, D_MODEL] })).data;
    },
    async decodeStep(cache, x) {
      return mha.step({ data: x, shape: [1, 1, D_MODEL] }, cache).data;
    },
  };
}

/** nn.Linear's weight [out, in] → the [in, out] matrix a MatMul graph multiplies by. */
function transpose(w, out, inputs) {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inputs; i++) t[i * out + o] = w[o * inputs + i];
  return t;
}

function concat(arrays) {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
  return out;
}

/** [rows, 3·D] rows of q|k|v → three [rows, D] arrays. */
function splitQkv(qkv, rows) {
  const parts = [new Float32Array(rows * D_MODEL), new Float32Array(rows * D_MODEL), new Float32Array(rows * D_MODEL)];
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < 3; p++) parts[p].set(qkv.subarray((r * 3 + p) * D_MODEL, (r * 3 + p + 1) * D_MODEL), r * D_MODEL);
  }
  return parts;
}

async function ortEngine(model, threads) {
  const ort = require('onnxruntime-node');
  const { linearModel, multiHeadAttentionModel } = require(path.join(__dirname, '..', '..', 'bench', 'onnx-model'));
  const { sessionOptions } = require(path.join(__dirname, '..', '..', 'bench', 'peers'));
  const { wq, wk, wv, wo, bq, bk, bv, bo } = model.weights;
  const qkvWeightT = transpose(concat([wq, wk, wv]), 3 * D_MODEL, D_MODEL);
  const qkvBias = concat([bq, bk, bv]);
  const woT = transpose(wo, D_MODEL, D_MODEL);
  const scale = 1 / Math.sqrt(HEAD_DIM);
  // Six sessions each with a pool of `threads` spinning workers starve a 2-core machine (10x slower here): no spinning.
  const options = { ...sessionOptions(threads), extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const session = (bytes) => ort.InferenceSession.create(bytes, options);
  const [encodeQkv, encodeAttention, encodeOut, decodeQkv, decodeAttention, decodeOut] = await Promise.all([
    session(linearModel({ M: ENCODE_LENGTH, K: D_MODEL, N: 3 * D_MODEL, weightT: qkvWeightT, bias: qkvBias })),
    session(multiHeadAttentionModel({ B: 1, H: HEADS, Lq: ENCODE_LENGTH, Lk: ENCODE_LENGTH, D: HEAD_DIM, Dv: HEAD_DIM, scale, withBias: false, kvLayout: 'bsd' })),
    session(linearModel({ M: ENCODE_LENGTH, K: D_MODEL, N: D_MODEL, weightT: woT, bias: bo })),
    session(linearModel({ M: 1, K: D_MODEL, N: 3 * D_MODEL, weightT: qkvWeightT, bias: qkvBias })),
    session(multiHeadAttentionModel({ B: 1, H: HEADS, Lq: 1, Lk: MAX_DECODE, D: HEAD_DIM, Dv: HEAD_DIM, scale, withBias: true, kvLayout: 'bnsh' })),
    session(linearModel({ M: 1, K: D_MODEL, N: D_MODEL, weightT: woT, bias: bo })),
  ]);
  const tensor = (data, dims) => new ort.Tensor('float32', data, dims);
  const linear = async (s, x, rows) => (await s.run({ x: tensor(x, [rows, D_MODEL]) })).y.data;
  const kv = [1, HEADS, MAX_DECODE, HEAD_DIM];
  /** KvCache → its keys and values in plain ArrayBuffers, as ORT takes them. */
  const mirrors = new WeakMap();
  const mirrorOf = (cache) => {
    let mirror = mirrors.get(cache);
    if (mirror === undefined) {
      mirror = { keys: tensor(new Float32Array(cache.keys.length), kv), values: tensor(new Float32Array(cache.values.length), kv) };
      mirrors.set(cache, mirror);
    }
    return mirror;
  };
  return {
    name: 'ort',
    async encode(x) {
      const [q, k, v] = splitQkv(await linear(encodeQkv, x, ENCODE_LENGTH), ENCODE_LENGTH);
      const shape = [1, ENCODE_LENGTH, D_MODEL];
      const { o } = await encodeAttention.run({ q: tensor(q, shape), k: tensor(k, shape), v: tensor(v, shape) });
      return linear(encodeOut, o.data, ENCODE_LENGTH);
    },
    async decodeStep(cache, x) {
      const [q, k, v] = splitQkv(await linear(decodeQkv, x, 1), 1);
      const position = cache.lengthOf(0);
      cache.append({ data: k, shape: [1, 1, HEADS, HEAD_DIM] }, { data: v, shape: [1, 1, HEADS, HEAD_DIM] }, { layout: 'blhd' });
      const mirror = mirrorOf(cache);
      for (let h = 0; h < HEADS; h++) {
        const row = (h * MAX_DECODE + position) * HEAD_DIM;
        mirror.keys.data.set(k.subarray(h * HEAD_DIM, (h + 1) * HEAD_DIM), row);
        mirror.values.data.set(v.subarray(h * HEAD_DIM, (h + 1) * HEAD_DIM), row);
      }
      const bias = new Float32Array(MAX_DECODE).fill(-1e9, position + 1);
      const { o } = await decodeAttention.run({
        q: tensor(q, [1, 1, D_MODEL]),
        k: mirror.keys,
        v: mirror.values,
        attention_bias: tensor(bias, [1, 1, 1, MAX_DECODE]),
      });
      return linear(decodeOut, o.data, 1);
    },
  };
}

module.exports = { fusedEngine, ortEngine };
