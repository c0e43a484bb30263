'use strict';
// The competitors. Each peer turns (shape, inputs) into a `run` function that computes
// one attention call, plus `output()` giving the last result as [B,H,Lq,Dv].
// Peers run in their own child process (child.js) with `env` applied before loading.

const fs = require('fs');
const path = require('path');
const { scaleOf } = require('./shapes');
const { additiveMaskOf } = require('./reference');

const PACKAGE_ROOT = path.join(__dirname, '..');

// ---------------------------------------------------------------- fused-attention

function loadPackage() {
  if (!fs.existsSync(path.join(PACKAGE_ROOT, 'dist', 'index.js'))) {
    throw new Error('fused-attention is not built (dist/index.js is missing); run `npm run build` first');
  }
  let fa;
  try {
    fa = require(PACKAGE_ROOT);
  } catch (error) {
    throw new Error(`fused-attention failed to load: ${String(error && error.message).split('\n')[0]}`);
  }
  if (typeof fa.attention !== 'function' || typeof fa.backend !== 'function') {
    throw new Error('fused-attention loaded but does not export attention() and backend(); is dist/ stale? run `npm run build`');
  }
  return fa;
}

/** `expect` checks what backend() reports, so a row never claims a backend it did not run. */
function fusedAttentionPeer({ id, label, env, expect, note }) {
  return {
    id,
    label,
    group: 'fused-attention',
    env,
    note,
    guessGflops: expect.name === 'js' ? 1.5 : expect.isa === 'scalar' ? 4 : expect.threads === 1 ? 25 : 40,
    async create(shape, inputs) {
      const fa = loadPackage();
      const info = fa.backend();
      if (info.name !== expect.name) {
        const why = info.reason ? `: ${info.reason}` : '';
        throw new Error(`expected the ${expect.name} backend but fused-attention loaded ${info.name}${why}`);
      }
      if (expect.isa && info.isa !== expect.isa) {
        throw new Error(`expected ISA ${expect.isa} but fused-attention picked ${info.isa} (does this CPU support it?)`);
      }
      if (expect.threads && info.threads !== expect.threads) {
        throw new Error(`expected ${expect.threads} thread(s) but backend() reports ${info.threads}`);
      }
      const { B, H, Lq, Lk, D, Dv } = shape;
      const q = { data: inputs.q, shape: [B, H, Lq, D] };
      const k = { data: inputs.k, shape: [B, H, Lk, D] };
      const v = { data: inputs.v, shape: [B, H, Lk, Dv] };
      const out = new Float32Array(B * H * Lq * Dv);
      const opts = {
        scale: scaleOf(shape),
        causal: shape.causal,
        mask: inputs.mask ? { data: inputs.mask, shape: [Lq, Lk] } : null,
        out,
      };
      let last = null;
      return {
        run: () => {
          last = fa.attention(q, k, v, opts);
        },
        output: () => last.data,
        threads: info.threads,
        detail: info.name === 'native' ? `${info.isa}` : 'TS',
      };
    },
  };
}

/**
 * Decode against the package's KvCache (float32 or bfloat16 storage): K/V are
 * appended once outside the timing; each call is one decoding step,
 * attention(q, cache). Only for one-query (Lq = 1) shapes.
 */
function kvCachePeer(dtype) {
  return {
    id: `fa-cache-${dtype === 'float32' ? 'f32' : 'bf16'}`,
    label: `fused-attention KvCache ${dtype}`,
    group: 'fused-attention',
    env: {},
    note:
      `native addon, attention(q, cache) on a KvCache({ dtype: '${dtype}' }) holding the shape's K/V` +
      (dtype === 'bfloat16' ? ' rounded to bfloat16 on append (half the bytes per step; rel-err vs the float32 reference ~1e-3, so this row is held to 1e-2)' : ''),
    appliesTo: (shape) => shape.Lq === 1,
    kvBytesPerElement: dtype === 'float32' ? 4 : 2,
    wrongAbove: dtype === 'float32' ? undefined : 1e-2,
    guessGflops: 20,
    async create(shape, inputs) {
      const fa = loadPackage();
      const info = fa.backend();
      if (info.name !== 'native') throw new Error(`expected the native backend but fused-attention loaded ${info.name}`);
      const { B, H, Lq, Lk, D, Dv } = shape;
      const cache = new fa.KvCache({ batch: B, numKvHeads: H, headDim: D, valueDim: Dv, maxLength: Lk, dtype });
      cache.append({ data: inputs.k, shape: [B, H, Lk, D] }, { data: inputs.v, shape: [B, H, Lk, Dv] });
      const q = { data: inputs.q, shape: [B, H, Lq, D] };
      const opts = { scale: scaleOf(shape), out: new Float32Array(B * H * Lq * Dv) };
      let last = null;
      return {
        run: () => {
          last = fa.attention(q, cache, opts);
        },
        output: () => last.data,
        threads: info.threads,
        detail: `${info.isa}, ${dtype} cache`,
      };
    },
  };
}

// ---------------------------------------------------------------- naive JS

/**
 * What a Node developer writes by hand: for every query row, materialise the score row,
 * softmax it (max-subtracted), then accumulate the weighted values.
 */
function naiveAttention(q, k, v, out, { B, H, Lq, Lk, D, Dv, scale, causal, mask }) {
  const scores = new Float32Array(Lk);
  for (let bh = 0; bh < B * H; bh++) {
    const kBase = bh * Lk * D;
    const vBase = bh * Lk * Dv;
    for (let i = 0; i < Lq; i++) {
      const qRow = (bh * Lq + i) * D;
      const outRow = (bh * Lq + i) * Dv;
      const lastKey = causal ? Math.min(Lk - 1, i + Lk - Lq) : Lk - 1;
      let max = -Infinity;
      for (let j = 0; j <= lastKey; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qRow + d] * k[kBase + j * D + d];
        let score = dot * scale;
        if (mask) score += mask[i * Lk + j];
        scores[j] = score;
        if (score > max) max = score;
      }
      out.fill(0, outRow, outRow + Dv);
      if (max === -Infinity) continue;
      let sum = 0;
      for (let j = 0; j <= lastKey; j++) {
        const e = Math.exp(scores[j] - max);
        scores[j] = e;
        sum += e;
      }
      for (let j = 0; j <= lastKey; j++) {
        const p = scores[j] / sum;
        for (let d = 0; d < Dv; d++) out[outRow + d] += p * v[vBase + j * Dv + d];
      }
    }
  }
}

const naivePeer = {
  id: 'naive-js',
  label: 'naive JS',
  group: 'naive',
  env: {},
  note: 'hand-written triple loop over Float32Array, score row materialised, stable softmax',
  guessGflops: 1,
  async create(shape, inputs) {
    const out = new Float32Array(shape.B * shape.H * shape.Lq * shape.Dv);
    const params = { ...shape, scale: scaleOf(shape), mask: inputs.mask };
    return {
      run: () => naiveAttention(inputs.q, inputs.k, inputs.v, out, params),
      output: () => out,
      threads: 1,
      detail: 'JS',
    };
  },
};

// ---------------------------------------------------------------- onnxruntime-node

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (error) {
    throw new Error(`onnxruntime-node failed to load (run \`npm ci\`): ${error && error.message}`);
  }
}

function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
}

/** [B,H,L,D] -> [B,L,H,D] (and back with swapped H and L). */
function swapHeadAndSequence(x, B, H, L, D) {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        const from = ((b * H + h) * L + i) * D;
        y.set(x.subarray(from, from + D), ((b * L + i) * H + h) * D);
      }
    }
  }
  return y;
}

function ortUnfusedPeer(threads) {
  return {
    id: `ort-matmul-${threads}t`,
    label: 'onnxruntime MatMul+Softmax',
    group: 'onnxruntime',
    env: {},
    note:
      `ONNX graph MatMul(Q,Kᵀ) → Mul(scale) → Add(mask) → Softmax → MatMul(·,V), CPU EP, ${threads} intra-op thread(s), ` +
      'all graph optimisations; ' +
      'causal is fed as an additive [Lq,Lk] -inf mask',
    guessGflops: 15 * threads,
    async create(shape, inputs) {
      const ort = loadOrt();
      const { unfusedAttentionModel } = require('./onnx-model');
      const { B, H, Lq, Lk, D, Dv } = shape;
      const mask = additiveMaskOf(shape, inputs);
      const model = unfusedAttentionModel({ B, H, Lq, Lk, D, Dv, scale: scaleOf(shape), withMask: mask !== null });
      const session = await ort.InferenceSession.create(model, sessionOptions(threads));
      const feeds = {
        q: new ort.Tensor('float32', inputs.q, [B, H, Lq, D]),
        k: new ort.Tensor('float32', inputs.k, [B, H, Lk, D]),
        v: new ort.Tensor('float32', inputs.v, [B, H, Lk, Dv]),
      };
      if (mask) feeds.mask = new ort.Tensor('float32', mask, [Lq, Lk]);
      let last = null;
      return {
        run: async () => {
          last = await session.run(feeds);
        },
        isAsync: true,
        output: () => last.o.data,
        threads,
        detail: mask && shape.causal ? 'causal as mask' : '',
      };
    },
  };
}

function ortMhaPeer(threads) {
  return {
    id: `ort-mha-${threads}t`,
    label: 'onnxruntime MultiHeadAttention',
    group: 'onnxruntime',
    env: {},
    note:
      `com.microsoft.MultiHeadAttention contrib op, CPU EP, ${threads} intra-op thread(s). ` +
      'Q/K/V given as [B,L,H·D] (its flash-attention-capable ' +
      'layout; decode gets K/V as the [B,H,L,D] cache instead, which avoids a 128 MB transpose per call); ' +
      'layout transposes are done once, outside the timing. Causal: unidirectional=1; mask: attention_bias ' +
      '[1,1,Lq,Lk]. Either one turns off ORT\'s CPU flash path',
    guessGflops: 15 * threads,
    async create(shape, inputs) {
      const ort = loadOrt();
      const { multiHeadAttentionModel } = require('./onnx-model');
      const { B, H, Lq, Lk, D, Dv } = shape;
      const kvLayout = Lq === 1 ? 'bnsh' : 'bsd';
      // Use unidirectional only where top-left and bottom-right alignment agree (Lq == Lk).
      const unidirectional = shape.causal && Lq === Lk && !inputs.mask;
      const bias = unidirectional ? null : additiveMaskOf(shape, inputs);
      const model = multiHeadAttentionModel({
        B, H, Lq, Lk, D, Dv, scale: scaleOf(shape), withBias: bias !== null, kvLayout, unidirectional,
      });
      const session = await ort.InferenceSession.create(model, sessionOptions(threads));
      const feeds = { q: new ort.Tensor('float32', swapHeadAndSequence(inputs.q, B, H, Lq, D), [B, Lq, H * D]) };
      if (kvLayout === 'bnsh') {
        feeds.k = new ort.Tensor('float32', inputs.k, [B, H, Lk, D]);
        feeds.v = new ort.Tensor('float32', inputs.v, [B, H, Lk, Dv]);
      } else {
        feeds.k = new ort.Tensor('float32', swapHeadAndSequence(inputs.k, B, H, Lk, D), [B, Lk, H * D]);
        feeds.v = new ort.Tensor('float32', swapHeadAndSequence(inputs.v, B, H, Lk, Dv), [B, Lk, H * Dv]);
      }
      if (bias) feeds.attention_bias = new ort.Tensor('float32', bias, [1, 1, Lq, Lk]);
      let last = null;
      const details = [kvLayout === 'bnsh' ? 'K/V BNSH' : 'BSD'];
      if (unidirectional) details.push('unidirectional');
      if (bias) details.push('attention_bias');
      return {
        run: async () => {
          last = await session.run(feeds);
        },
        isAsync: true,
        output: () => swapHeadAndSequence(last.o.data, B, Lq, H, Dv),
        threads,
        detail: details.join(', '),
      };
    },
  };
}

// ---------------------------------------------------------------- the list

const ISAS = ['avx512', 'avx2', 'neon', 'scalar'];

/** All peers in table order; `isas` adds one native peer per forced ISA. */
function listPeers({ isas = [] } = {}) {
  const peers = [
    fusedAttentionPeer({
      id: 'fa-native',
      label: 'fused-attention native',
      env: {},
      expect: { name: 'native' },
      note: 'native addon, ISA and thread count picked by the package',
    }),
    fusedAttentionPeer({
      id: 'fa-native-1t',
      label: 'fused-attention native',
      env: { FUSED_ATTENTION_THREADS: '1' },
      expect: { name: 'native', threads: 1 },
      note: 'native addon, FUSED_ATTENTION_THREADS=1',
    }),
  ];
  for (const isa of isas) {
    if (!ISAS.includes(isa)) {
      throw new RangeError(`bench: expected --isa to list ${ISAS.join(', ')} but received "${isa}"`);
    }
    peers.push(
      fusedAttentionPeer({
        id: `fa-native-${isa}`,
        label: `fused-attention native ${isa}`,
        env: { FUSED_ATTENTION_ISA: isa },
        expect: { name: 'native', isa },
        note: `native addon, FUSED_ATTENTION_ISA=${isa}, default threads`,
      }),
    );
  }
  peers.push(
    kvCachePeer('float32'),
    kvCachePeer('bfloat16'),
    fusedAttentionPeer({
      id: 'fa-js',
      label: 'fused-attention TS fallback',
      env: { FUSED_ATTENTION_BACKEND: 'js' },
      expect: { name: 'js' },
      note: 'pure-TypeScript fallback, FUSED_ATTENTION_BACKEND=js',
    }),
    naivePeer,
    ortUnfusedPeer(1),
    ortUnfusedPeer(2),
    ortMhaPeer(1),
    ortMhaPeer(2),
  );
  return peers;
}

function peerById(id, options) {
  const peer = listPeers(options).find((p) => p.id === id);
  if (!peer) throw new RangeError(`bench: unknown peer "${id}"`);
  return peer;
}

module.exports = { loadPackage, listPeers, peerById, naiveAttention, swapHeadAndSequence, sessionOptions, ISAS };
