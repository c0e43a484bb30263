'use strict';
// Named trials. Each one is a single attention call, q [B,H,Lq,D], k [B,H,Lk,D],
// v [B,H,Lk,Dv], run by every peer on identical seeded inputs.
//
//   unit:    'ms' or 'us' (how the time column shows this shape)
//   bound:   'compute' (% of the GEMM ceiling) or 'memory' (% of copy bandwidth, K+V bytes)
//   mask:    'random' adds an additive [Lq, Lk] float mask (see reference.js makeMask)
//   quick:   part of the `--quick` subset

const shapes = [
  {
    name: 'small',
    description: 'short self-attention, B=1 H=8 L=128 D=64 (per-call overhead shows)',
    B: 1, H: 8, Lq: 128, Lk: 128, D: 64, Dv: 64, causal: false, mask: null,
    unit: 'us', bound: 'compute', quick: true,
  },
  {
    name: 'self-512',
    description: 'self-attention, B=1 H=8 L=512 D=64',
    B: 1, H: 8, Lq: 512, Lk: 512, D: 64, Dv: 64, causal: false, mask: null,
    unit: 'ms', bound: 'compute', quick: false,
  },
  {
    name: 'mask-512',
    description: 'self-attention with an additive [L,L] mask: N(0,1) bias, last 1/8 of keys -inf (padding), B=1 H=8 L=512 D=64',
    B: 1, H: 8, Lq: 512, Lk: 512, D: 64, Dv: 64, causal: false, mask: 'random',
    unit: 'ms', bound: 'compute', quick: true,
  },
  {
    name: 'cross',
    description: 'cross-attention, B=2 H=8 Lq=256 Lk=1024 D=64',
    B: 2, H: 8, Lq: 256, Lk: 1024, D: 64, Dv: 64, causal: false, mask: null,
    unit: 'ms', bound: 'compute', quick: false,
  },
  {
    name: 'decode',
    description: 'one-token decode against a KV cache, B=1 H=32 Lq=1 Lk=4096 D=128 (reads 128 MB of K+V)',
    B: 1, H: 32, Lq: 1, Lk: 4096, D: 128, Dv: 128, causal: false, mask: null,
    unit: 'ms', bound: 'memory', quick: true,
  },
  {
    name: 'self-2048',
    description: 'self-attention, B=1 H=8 L=2048 D=64',
    B: 1, H: 8, Lq: 2048, Lk: 2048, D: 64, Dv: 64, causal: false, mask: null,
    unit: 'ms', bound: 'compute', quick: false,
  },
  {
    name: 'causal-2048',
    description: 'causal self-attention, B=1 H=8 L=2048 D=64',
    B: 1, H: 8, Lq: 2048, Lk: 2048, D: 64, Dv: 64, causal: true, mask: null,
    unit: 'ms', bound: 'compute', quick: false,
  },
  {
    name: 'long',
    description: 'long sequence, B=1 H=1 L=16384 D=64 (a materialised score matrix is 1 GiB)',
    B: 1, H: 1, Lq: 16384, Lk: 16384, D: 64, Dv: 64, causal: false, mask: null,
    unit: 'ms', bound: 'compute', quick: false,
  },
];

/** FLOPs of one call: 2·B·H·Lq·Lk·(D+Dv), halved for causal self-attention (Lq == Lk). */
function flopsOf(shape) {
  const full = 2 * shape.B * shape.H * shape.Lq * shape.Lk * (shape.D + shape.Dv);
  return shape.causal && shape.Lq === shape.Lk ? full / 2 : full;
}

/** Bytes of K and V, which every peer must read at least once per call. */
function kvBytesOf(shape) {
  return 4 * shape.B * shape.H * shape.Lk * (shape.D + shape.Dv);
}

function scaleOf(shape) {
  return 1 / Math.sqrt(shape.D);
}

function shapeByName(name) {
  const shape = shapes.find((s) => s.name === name);
  if (!shape) {
    throw new RangeError(`bench: unknown shape "${name}"; expected one of ${shapes.map((s) => s.name).join(', ')}`);
  }
  return shape;
}

module.exports = { shapes, flopsOf, kvBytesOf, scaleOf, shapeByName };
