'use strict';
// Seeded inputs (identical in every process) and the float64 oracle.

const { scaleOf } = require('./shapes');

/** FNV-1a hash of a string, the seed of one tensor. */
function hashString(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** xoshiro128** seeded through splitmix32; returns uniform floats in (0, 1). */
function makeUniform(seed) {
  let state = seed >>> 0;
  const splitmix32 = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix32(), s1 = splitmix32(), s2 = splitmix32(), s3 = splitmix32();
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
    return (result + 0.5) / 4294967296;
  };
}

function rotl(x, k) {
  return (x << k) | (x >>> (32 - k));
}

/** `length` samples of N(0, 1) (Box-Muller), seeded by `name`. */
function randn(length, name) {
  const uniform = makeUniform(hashString(name));
  const data = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    data[i] = radius * Math.cos(angle);
    if (i + 1 < length) data[i + 1] = radius * Math.sin(angle);
  }
  return data;
}

/** Additive [Lq, Lk] mask of the 'random' kind: N(0,1) bias, last 1/8 of the keys -inf (padding). */
function makeMask(shape) {
  const { Lq, Lk } = shape;
  const mask = randn(Lq * Lk, `${shape.name}/mask`);
  const firstPadded = Lk - Math.floor(Lk / 8);
  for (let i = 0; i < Lq; i++) mask.fill(-Infinity, i * Lk + firstPadded, (i + 1) * Lk);
  return mask;
}

/** q, k, v (and the user mask, or null) of a shape; the same bytes in every process. */
function makeInputs(shape) {
  const { B, H, Lq, Lk, D, Dv } = shape;
  return {
    q: randn(B * H * Lq * D, `${shape.name}/q`),
    k: randn(B * H * Lk * D, `${shape.name}/k`),
    v: randn(B * H * Lk * Dv, `${shape.name}/v`),
    mask: shape.mask ? makeMask(shape) : null,
  };
}

/**
 * The [Lq, Lk] additive mask a peer without a causal flag needs: the user mask (if any)
 * plus -inf where key j is hidden from query i (j > i + Lk - Lq, bottom-right aligned).
 * Returns null when the shape has neither.
 */
function additiveMaskOf(shape, inputs) {
  if (!shape.causal) return inputs.mask;
  const { Lq, Lk } = shape;
  const mask = inputs.mask ? Float32Array.from(inputs.mask) : new Float32Array(Lq * Lk);
  for (let i = 0; i < Lq; i++) {
    const firstHidden = Math.max(0, i + Lk - Lq + 1);
    if (firstHidden < Lk) mask.fill(-Infinity, i * Lk + firstHidden, (i + 1) * Lk);
  }
  return mask;
}

const FULL_REFERENCE_ROWS = 4096;
const SAMPLED_ROWS = 512;

/**
 * Flat query-row indices (over B·H·Lq) the error is measured on: every row for small
 * shapes, else SAMPLED_ROWS evenly spread rows that include the first and the last.
 */
function referenceRows(shape) {
  const total = shape.B * shape.H * shape.Lq;
  if (total <= FULL_REFERENCE_ROWS) {
    return { rows: Int32Array.from({ length: total }, (_, i) => i), sampled: false };
  }
  const rows = new Int32Array(SAMPLED_ROWS);
  for (let i = 0; i < SAMPLED_ROWS; i++) rows[i] = Math.round((i * (total - 1)) / (SAMPLED_ROWS - 1));
  return { rows, sampled: true };
}

/** Float64 attention of the given flat rows: [rows.length, Dv]. Fully hidden rows give 0. */
function computeReference(shape, inputs, rows) {
  const { Lq, Lk, D, Dv } = shape;
  const { q, k, v } = inputs;
  const mask = additiveMaskOf(shape, inputs);
  const scale = scaleOf(shape);
  const out = new Float64Array(rows.length * Dv);
  const scores = new Float64Array(Lk);
  const acc = new Float64Array(Dv);
  for (let r = 0; r < rows.length; r++) {
    const flat = rows[r];
    const i = flat % Lq;
    const bh = (flat - i) / Lq; // b * H + h; k and v use the same head index
    const qRow = flat * D;
    const kBase = bh * Lk * D;
    const vBase = bh * Lk * Dv;
    let rowMax = -Infinity;
    for (let j = 0; j < Lk; j++) {
      let dot = 0;
      const kRow = kBase + j * D;
      for (let d = 0; d < D; d++) dot += q[qRow + d] * k[kRow + d];
      const score = dot * scale + (mask ? mask[i * Lk + j] : 0);
      scores[j] = score;
      if (score > rowMax) rowMax = score;
    }
    if (rowMax === -Infinity) continue;
    acc.fill(0);
    let rowSum = 0;
    for (let j = 0; j < Lk; j++) {
      const weight = Math.exp(scores[j] - rowMax);
      if (weight === 0) continue;
      rowSum += weight;
      const vRow = vBase + j * Dv;
      for (let d = 0; d < Dv; d++) acc[d] += weight * v[vRow + d];
    }
    for (let d = 0; d < Dv; d++) out[r * Dv + d] = acc[d] / rowSum;
  }
  return out;
}

/** ‖out − ref‖_F / ‖ref‖_F over the reference rows; `out` is the peer's full [B,H,Lq,Dv] output. */
function relativeError(shape, out, rows, reference) {
  const { Dv } = shape;
  let diff2 = 0;
  let ref2 = 0;
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * Dv;
    for (let d = 0; d < Dv; d++) {
      const expected = reference[r * Dv + d];
      const delta = out[base + d] - expected;
      diff2 += delta * delta;
      ref2 += expected * expected;
    }
  }
  return Math.sqrt(diff2 / ref2);
}

module.exports = {
  SAMPLED_ROWS,
  hashString,
  makeUniform,
  randn,
  makeInputs,
  additiveMaskOf,
  referenceRows,
  computeReference,
  relativeError,
};
