'use strict';
// Seeded inputs (identical in every process) and the check against the float64 oracle.
// The generator and the oracle are the test suites' own (test/oracle/, ES modules: Node >= 20.19).

const { scaleOf } = require('./shapes');
const { hashString, randn: seededRandn } = require('../test/oracle/prng.mjs');
const { referenceAttentionRows, relFrobenius } = require('../test/oracle/attention.mjs');

/** `length` samples of N(0, 1), seeded by `name`. */
function randn(length, name) {
  return seededRandn(length, hashString(name));
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
  const { B, H, Lq, Lk, D, Dv } = shape;
  const options = {
    scale: scaleOf(shape),
    causal: shape.causal,
    mask: inputs.mask && { data: inputs.mask, shape: [Lq, Lk] },
  };
  const tensor = (data, length, width) => ({ data, shape: [B, H, length, width] });
  return referenceAttentionRows(tensor(inputs.q, Lq, D), tensor(inputs.k, Lk, D), tensor(inputs.v, Lk, Dv), options, rows);
}

/** ‖out − ref‖_F / ‖ref‖_F over the reference rows; `out` is the peer's full [B,H,Lq,Dv] output. */
function relativeError(shape, out, rows, reference) {
  const { Dv } = shape;
  const sampled = new Float64Array(rows.length * Dv);
  for (let r = 0; r < rows.length; r++) sampled.set(out.subarray(rows[r] * Dv, (rows[r] + 1) * Dv), r * Dv);
  return relFrobenius(sampled, reference);
}

module.exports = {
  SAMPLED_ROWS,
  randn,
  makeInputs,
  additiveMaskOf,
  referenceRows,
  computeReference,
  relativeError,
};
