// The float64 oracle of the vitest suites, the emulated suite and the benchmarks: the
// plain formulas with the whole score row materialised, written independently of lib/
// (its own layout, broadcast, visibility and score logic, all by coordinates), and the
// error metrics that compare a kernel's float32 output with it.

/**
 * @typedef {{ data: ArrayLike<number>, shape: number[] }} Tensor
 * @typedef {{ data: Float32Array, maskStrideB: number, maskStrideH: number, maskStrideQ: number }} StridedMask
 *   A mask already turned into strides, as the kernels read it (the key stride is 1).
 * @typedef {object} ReferenceOptions
 * @property {number} [scale] default 1/√D
 * @property {boolean | 'top-left'} [causal] true: j <= i + Lk - Lq; 'top-left': j <= i
 * @property {{ data: Float32Array | Uint8Array, shape: number[] } | StridedMask | null} [mask]
 *   A broadcastable tensor (rank 1..4, aligned from the right, any dim of size 1 broadcasts,
 *   the key dim included; Float32Array additive, Uint8Array boolean) or a strided additive mask.
 * @property {Uint8Array | null} [keyPadding] [B*Lk], 0 = padding
 * @property {Int32Array | null} [keyLengths] [B]: keys j >= keyLengths[b] are hidden
 * @property {'bhld' | 'blhd'} [layout] 'bhld' (default): tensors are [B,H,L,D]; 'blhd': [B,L,H,D]; the output follows
 * @property {Int32Array | null} [rowOffsets] [B]: query i of batch row b sits at key position i + rowOffsets[b] (overrides the causal alignment)
 * @property {readonly [number, number] | null} [window] [left, right] around the aligned position; -1 = unbounded
 * @property {Float32Array | null} [alibiSlopes] [H]
 * @property {number} [softcap] 0 = none
 * @typedef {{ B: number, H: number, Hkv: number, Lq: number, Lk: number, D: number, Dv: number }} ReferenceDims
 * @typedef {object} ReferenceResult
 * @property {Float64Array} out in the output layout, like the output tensor's data
 * @property {Float64Array} lse [B, H, Lq]; -Infinity for a row with no visible key
 * @property {Float64Array | null} weights [B, H, Lq, Lk] when asked for; 0 on hidden keys
 */

/**
 * [B, H, L, D] of a rank-3 or rank-4 shape in a layout.
 * @param {number[]} shape
 * @param {'bhld' | 'blhd'} layout
 */
function dims4(shape, layout) {
  const s = shape.length === 3 ? [1, ...shape] : shape;
  return layout === 'bhld' ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[1], s[3]];
}

/**
 * Sizes of one call, read from the shapes in the given layout.
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v
 * @param {'bhld' | 'blhd'} [layout]
 * @returns {ReferenceDims}
 */
export function referenceDims(q, k, v, layout = 'bhld') {
  const [B, H, Lq, D] = dims4(q.shape, layout);
  const [, Hkv, Lk] = dims4(k.shape, layout);
  return { B, H, Hkv, Lq, Lk, D, Dv: dims4(v.shape, layout)[3] };
}

/**
 * Flat index of element (b, h, l, d) of a tensor with `heads` heads, `length` positions and width `width`.
 * @param {'bhld' | 'blhd'} layout @param {number} heads @param {number} length @param {number} width
 * @returns {(b: number, h: number, l: number, d: number) => number}
 */
function indexOf(layout, heads, length, width) {
  return layout === 'bhld'
    ? (b, h, l, d) => ((b * heads + h) * length + l) * width + d
    : (b, h, l, d) => ((b * length + l) * heads + h) * width + d;
}

/**
 * The flat mask index of (b, h, i, j), or null for no mask.
 * @param {ReferenceOptions['mask']} mask
 * @returns {((b: number, h: number, i: number, j: number) => number) | null}
 */
function maskIndexer(mask) {
  if (!mask) return null;
  if ('maskStrideB' in mask) {
    const { maskStrideB, maskStrideH, maskStrideQ } = mask;
    return (b, h, i, j) => b * maskStrideB + h * maskStrideH + i * maskStrideQ + j;
  }
  // Broadcasting by coordinates: a dim of size 1 (the key dim included) always reads index 0.
  const [mb, mh, mq, mk] = [...new Array(4 - mask.shape.length).fill(1), ...mask.shape];
  return (b, h, i, j) => (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mq + (mq === 1 ? 0 : i)) * mk + (mk === 1 ? 0 : j);
}

/**
 * The aligned position i' of query row i of batch row b: i + rowOffsets[b] when given,
 * else bottom-right (i + Lk - Lq) unless causal is 'top-left'.
 * @param {ReferenceOptions} options @param {number} Lq @param {number} Lk
 * @returns {(b: number, i: number) => number}
 */
function alignedPosition(options, Lq, Lk) {
  const rowOffsets = options.rowOffsets;
  if (rowOffsets) return (b, i) => i + rowOffsets[b];
  return options.causal === 'top-left' ? (_b, i) => i : (_b, i) => i + Lk - Lq;
}

/**
 * Whether key j is visible to query (b, h, i): causal, window, key lengths, key padding and a boolean mask.
 * @param {ReferenceDims} dims @param {ReferenceOptions} options
 * @returns {(b: number, h: number, i: number, j: number) => boolean}
 */
export function referenceVisibility(dims, options) {
  const { Lq, Lk } = dims;
  const aligned = alignedPosition(options, Lq, Lk);
  const [left, right] = options.window ?? [-1, -1];
  const causal = options.causal === true || options.causal === 'top-left';
  const mask = options.mask;
  const boolMask = mask && !('maskStrideB' in mask) && mask.data instanceof Uint8Array ? mask.data : null;
  const boolAt = boolMask ? maskIndexer(mask) : null;
  return (b, h, i, j) => {
    const position = aligned(b, i);
    if (causal && j > position) return false;
    if (left >= 0 && j < position - left) return false;
    if (right >= 0 && j > position + right) return false;
    if (options.keyLengths && j >= options.keyLengths[b]) return false;
    if (options.keyPadding && options.keyPadding[b * Lk + j] === 0) return false;
    if (boolMask && boolAt && boolMask[boolAt(b, h, i, j)] === 0) return false;
    return true;
  };
}

/**
 * One query row of attention: softmax(cap(q·kᵀ·scale) + mask − slope·|i' − j|) over the
 * visible keys, times v. The returned function writes the row's output into `outRow`
 * (length Dv) and its weights into `weightsRow` (length Lk, or null) and returns its lse;
 * a row with no visible key writes zeros and returns -Infinity.
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v @param {ReferenceOptions} options
 * @returns {(b: number, h: number, i: number, outRow: Float64Array, weightsRow: Float64Array | null) => number}
 */
function attentionRow(q, k, v, options) {
  const layout = options.layout ?? 'bhld';
  const dims = referenceDims(q, k, v, layout);
  const { H, Hkv, Lq, Lk, D, Dv } = dims;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const softcap = options.softcap ?? 0;
  const mask = options.mask;
  const additive = mask && ('maskStrideB' in mask || mask.data instanceof Float32Array) ? mask.data : null;
  const additiveAt = additive ? maskIndexer(mask) : null;
  const visible = referenceVisibility(dims, options);
  const aligned = alignedPosition(options, Lq, Lk);
  const qAt = indexOf(layout, H, Lq, D);
  const kAt = indexOf(layout, Hkv, Lk, D);
  const vAt = indexOf(layout, Hkv, Lk, Dv);
  const scores = new Float64Array(Lk);
  return (b, h, i, outRow, weightsRow) => {
    const g = Math.floor((h * Hkv) / H); // kv head of query head h
    const qRow = qAt(b, h, i, 0); // d is the innermost index in both layouts
    outRow.fill(0);
    weightsRow?.fill(0);
    let max = -Infinity;
    for (let j = 0; j < Lk; j++) {
      let s = -Infinity;
      if (visible(b, h, i, j)) {
        s = 0;
        const kRow = kAt(b, g, j, 0);
        for (let d = 0; d < D; d++) s += q.data[qRow + d] * k.data[kRow + d];
        s *= scale;
        if (softcap > 0) s = softcap * Math.tanh(s / softcap);
        if (additive && additiveAt) s += additive[additiveAt(b, h, i, j)];
        if (options.alibiSlopes) s -= options.alibiSlopes[h] * Math.abs(aligned(b, i) - j);
      }
      scores[j] = s;
      if (s > max) max = s;
    }
    if (max === -Infinity) return -Infinity; // no visible key: out and weights stay 0
    let sum = 0;
    for (let j = 0; j < Lk; j++) sum += (scores[j] = Math.exp(scores[j] - max));
    for (let j = 0; j < Lk; j++) {
      const p = scores[j] / sum;
      if (weightsRow) weightsRow[j] = p;
      if (p === 0) continue; // a hidden key: its v is never read
      const vRow = vAt(b, g, j, 0);
      for (let d = 0; d < Dv; d++) outRow[d] += p * v.data[vRow + d];
    }
    return max + Math.log(sum);
  };
}

/**
 * Attention of every query row in float64 (see attentionRow), with lse and, when asked, the weights.
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v
 * @param {ReferenceOptions} [options]
 * @param {boolean} [withWeights]
 * @returns {ReferenceResult}
 */
export function referenceAttentionFull(q, k, v, options = {}, withWeights = false) {
  const layout = options.layout ?? 'bhld';
  const { B, H, Lq, Lk, Dv } = referenceDims(q, k, v, layout);
  const row = attentionRow(q, k, v, options);
  const outAt = indexOf(layout, H, Lq, Dv);
  const out = new Float64Array(B * H * Lq * Dv);
  const lse = new Float64Array(B * H * Lq);
  const weights = withWeights ? new Float64Array(B * H * Lq * Lk) : null;
  const outRow = new Float64Array(Dv);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) {
        const r = (b * H + h) * Lq + i;
        lse[r] = row(b, h, i, outRow, weights ? weights.subarray(r * Lk, (r + 1) * Lk) : null);
        for (let d = 0; d < Dv; d++) out[outAt(b, h, i, d)] = outRow[d];
      }
  return { out, lse, weights };
}

/**
 * The output of {@link referenceAttentionFull} alone, in the output layout.
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v @param {ReferenceOptions} [options]
 * @returns {Float64Array}
 */
export function referenceAttention(q, k, v, options = {}) {
  return referenceAttentionFull(q, k, v, options).out;
}

/**
 * The output of some query rows only (the benchmarks check large shapes on a sample).
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v @param {ReferenceOptions} options
 * @param {ArrayLike<number>} rows flat row indices over [B, H, Lq]
 * @returns {Float64Array} [rows.length, Dv]
 */
export function referenceAttentionRows(q, k, v, options, rows) {
  const { H, Lq, Dv } = referenceDims(q, k, v, options.layout ?? 'bhld');
  const row = attentionRow(q, k, v, options);
  const out = new Float64Array(rows.length * Dv);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r] % Lq;
    const bh = (rows[r] - i) / Lq;
    row(Math.floor(bh / H), bh % H, i, out.subarray(r * Dv, (r + 1) * Dv), null);
  }
  return out;
}

// ---- float64 2-D attention -------------------------------------------------------------

/**
 * softmax(scores)·values over a list of scores and value vectors.
 * @param {number[]} scores @param {number[][]} values
 * @returns {number[]}
 */
export function softmaxCombine(scores, values) {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const weights = scores.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Array(values[0].length).fill(0);
  weights.forEach((w, n) => values[n].forEach((x, e) => (out[e] += (w / total) * x)));
  return out;
}

/**
 * Criss-cross attention, channels-first: pixel (i, j) attends to every (y, x) with y = i or x = j, each once.
 * @param {Tensor} q [B, Cq, H, W] @param {Tensor} k [B, Cq, H, W] @param {Tensor} v [B, C, H, W]
 * @param {number} [scale]
 * @returns {Float64Array} [B, C, H, W]
 */
export function referenceCrissCross(q, k, v, scale = 1) {
  const [B, Cq, H, W] = q.shape;
  const C = v.shape[1];
  const out = new Float64Array(B * C * H * W);
  /** @type {(t: Tensor, count: number, b: number, y: number, x: number) => number[]} */
  const channels = (t, count, b, y, x) => {
    const vec = new Array(count);
    for (let c = 0; c < count; c++) vec[c] = t.data[((b * count + c) * H + y) * W + x];
    return vec;
  };
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        const query = channels(q, Cq, b, i, j);
        /** @type {Array<[number, number]>} */
        const cross = [];
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (y === i || x === j) cross.push([y, x]);
        const scores = cross.map(([y, x]) => scale * channels(k, Cq, b, y, x).reduce((s, kc, c) => s + kc * query[c], 0));
        const result = softmaxCombine(scores, cross.map(([y, x]) => channels(v, C, b, y, x)));
        result.forEach((value, c) => (out[((b * C + c) * H + i) * W + j] = value));
      }
  return out;
}

/**
 * Axial attention on [B, heads, H, W, D]: each column (height) or row (width) is a sequence.
 * @param {Tensor} q @param {Tensor} k @param {Tensor} v [B, heads, H, W, Dv]
 * @param {'height' | 'width'} axis @param {boolean} causal @param {number} scale
 * @returns {Float64Array} [B, heads, H, W, Dv]
 */
export function referenceAxial(q, k, v, axis, causal, scale) {
  const [B, heads, H, W, D] = q.shape;
  const Dv = v.shape[4];
  /** @type {(t: Tensor, width: number, b: number, h: number, y: number, x: number) => number[]} */
  const at = (t, width, b, h, y, x) => {
    const start = (((b * heads + h) * H + y) * W + x) * width;
    return Array.from({ length: width }, (_, d) => t.data[start + d]);
  };
  const out = new Float64Array(B * heads * H * W * Dv);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const query = at(q, D, b, h, y, x);
          const position = axis === 'height' ? y : x;
          /** @type {Array<[number, number]>} */
          const keys = [];
          for (let p = 0; p < (axis === 'height' ? H : W); p++) if (!causal || p <= position) keys.push(axis === 'height' ? [p, x] : [y, p]);
          const scores = keys.map(([ky, kx]) => scale * at(k, D, b, h, ky, kx).reduce((s, kd, d) => s + kd * query[d], 0));
          out.set(softmaxCombine(scores, keys.map(([ky, kx]) => at(v, Dv, b, h, ky, kx))), (((b * heads + h) * H + y) * W + x) * Dv);
        }
  return out;
}

// ---- error metrics ---------------------------------------------------------------------

/**
 * ‖a − b‖_F / ‖b‖_F with b the reference; the absolute ‖a − b‖_F when b is all zeros.
 * @param {ArrayLike<number>} a @param {ArrayLike<number>} b
 * @returns {number}
 */
export function relFrobenius(a, b) {
  if (a.length !== b.length) throw new RangeError(`relFrobenius: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    diff += d * d;
    norm += b[i] * b[i];
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/**
 * lse vs the oracle: -Infinity exactly where the oracle has it, the rest by relative Frobenius error.
 * @param {ArrayLike<number>} actual @param {ArrayLike<number>} expected
 * @returns {number}
 */
export function lseError(actual, expected) {
  /** @type {number[]} */
  const a = [];
  /** @type {number[]} */
  const e = [];
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === -Infinity) {
      if (actual[i] !== -Infinity) return Infinity;
    } else {
      a.push(actual[i]);
      e.push(expected[i]);
    }
  }
  return relFrobenius(a, e);
}

/**
 * The first way attention weights break the softmax's rules, or null: every row sums to 1
 * within `tolerance` (to exactly 0 when its lse is -Infinity: it sees no key), and every
 * key hidden by the options has weight exactly 0.
 * @param {ArrayLike<number>} weights [B, H, Lq, Lk]
 * @param {ReferenceDims} dims @param {ReferenceOptions} options
 * @param {ArrayLike<number>} lse the oracle's [B, H, Lq]
 * @param {number} tolerance
 * @returns {string | null}
 */
export function weightsProblem(weights, dims, options, lse, tolerance) {
  const { B, H, Lq, Lk } = dims;
  const visible = referenceVisibility(dims, options);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) {
        const row = (b * H + h) * Lq + i;
        let sum = 0;
        for (let j = 0; j < Lk; j++) {
          const w = weights[row * Lk + j];
          sum += w;
          if (!visible(b, h, i, j) && w !== 0) return `hidden key (${b}, ${h}, ${i}, ${j}) has weight ${w}`;
        }
        if (lse[row] === -Infinity ? sum !== 0 : !(Math.abs(sum - 1) <= tolerance)) return `row ${row} of the weights sums to ${sum}`;
      }
  return null;
}

// ---- layouts ---------------------------------------------------------------------------

/**
 * [B, C, H, W] -> [B, H, W, C].
 * @param {Tensor} t
 * @returns {{ data: Float32Array, shape: number[] }}
 */
export function toChannelsLast(t) {
  const [B, C, H, W] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) data[(b * H * W + p) * C + c] = t.data[(b * C + c) * H * W + p];
  return { data, shape: [B, H, W, C] };
}

/**
 * [B, H, L, X] -> [B, L, H, X].
 * @param {Tensor} t
 * @returns {{ data: Float32Array, shape: number[] }}
 */
export function toBlhd(t) {
  const [B, H, L, X] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++)
        for (let x = 0; x < X; x++) data[((b * L + l) * H + h) * X + x] = t.data[((b * H + h) * L + l) * X + x];
  return { data, shape: [B, L, H, X] };
}
