// Seeded inputs of the attention checks, shared by the vitest suites and the emulated suite.
import { randn } from './prng.mjs';

/**
 * Positions [t0, t1) of a [B, H, L, D] tensor.
 * @param {{ data: Float32Array, shape: number[] }} x @param {number} t0 @param {number} t1
 * @returns {{ data: Float32Array, shape: number[] }}
 */
export function positions(x, t0, t1) {
  const [B, H, L, D] = x.shape;
  const data = new Float32Array(B * H * (t1 - t0) * D);
  for (let bh = 0; bh < B * H; bh++) data.set(x.data.subarray((bh * L + t0) * D, (bh * L + t1) * D), bh * (t1 - t0) * D);
  return { data, shape: [B, H, t1 - t0, D] };
}

/**
 * Finite values rounded through bfloat16 (nearest, ties to even), as float32: the
 * reference's own rounding, independent of the package's.
 * @param {ArrayLike<number>} data @returns {Float32Array}
 */
export function roundBf16(data) {
  const f = Float32Array.from(data);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return f;
}

/**
 * N(0, 1) samples of `shape` from `seed`, times `amplitude`.
 * @param {number[]} shape @param {number} [seed] @param {number} [amplitude]
 * @returns {{ data: Float32Array, shape: number[] }}
 */
export function randomTensor(shape, seed = 1, amplitude = 1) {
  const data = randn(shape.reduce((a, b) => a * b, 1), seed);
  if (amplitude !== 1) for (let i = 0; i < data.length; i++) data[i] *= amplitude;
  return { data, shape };
}

/**
 * n flags, about `hiddenFraction` (0.3, 0.5 or 0.1) of them 0; visible ones hold `on` (any nonzero means visible).
 * @param {number} n @param {number} seed @param {number} [hiddenFraction] @param {number} [on]
 * @returns {Uint8Array}
 */
export function flags(n, seed, hiddenFraction = 0.3, on = 1) {
  // P(|N(0,1)| < z) = hiddenFraction, for the few fractions used here.
  const z = hiddenFraction === 0.3 ? 0.385 : hiddenFraction === 0.5 ? 0.674 : 0.126;
  return Uint8Array.from(randn(n, seed), (x) => (Math.abs(x) < z ? 0 : on));
}

/**
 * A boolean mask tensor: about `hiddenFraction` of it 0, the rest `on`.
 * @param {number[]} shape @param {number} seed @param {number} [hiddenFraction] @param {number} [on]
 * @returns {{ data: Uint8Array, shape: number[] }}
 */
export function boolMask(shape, seed, hiddenFraction = 0.3, on = 1) {
  return { data: flags(shape.reduce((a, b) => a * b, 1), seed, hiddenFraction, on), shape };
}

/**
 * An additive float mask: N(0, 1) values with about 30 % -Infinity.
 * @param {number[]} shape @param {number} seed
 * @returns {{ data: Float32Array, shape: number[] }}
 */
export function additiveMask(shape, seed) {
  const { data } = randomTensor(shape, seed);
  const hidden = flags(data.length, seed + 7);
  for (let i = 0; i < data.length; i++) if (hidden[i] === 0) data[i] = -Infinity;
  return { data, shape };
}

/**
 * The ALiBi paper's slopes for H heads: 2^(-8(h+1)/H).
 * @param {number} H
 * @returns {Float32Array}
 */
export function alibi(H) {
  return Float32Array.from({ length: H }, (_, h) => 2 ** ((-8 * (h + 1)) / H));
}

/**
 * The shape of a q, k, v or output tensor in a layout, without B when `rank3`.
 * @param {'bhld' | 'blhd'} layout @param {boolean} rank3
 * @param {number} B @param {number} heads @param {number} length @param {number} width
 * @returns {number[]}
 */
export function shapeOf(layout, rank3, B, heads, length, width) {
  const shape = layout === 'bhld' ? [B, heads, length, width] : [B, length, heads, width];
  return rank3 ? shape.slice(1) : shape;
}

/**
 * The inputs of one attention case: sizes with their defaults (B = H = 2, Hkv = H, Dv = D),
 * q, k and v from seeds seed..seed+2 in the case's layout, and its options (layout added).
 * @template {object} O
 * @param {{ name?: string, dims: { B?: number, H?: number, Hkv?: number, Lq: number, Lk: number, D: number, Dv?: number },
 *   layout?: 'bhld' | 'blhd', rank3?: boolean, amplitude?: number,
 *   options?: (d: import('./attention.mjs').ReferenceDims) => O }} c
 *   rank3 drops B from every shape (needs B = 1); amplitude multiplies q and k (large scores)
 * @param {number} seed
 */
export function caseInputs(c, seed) {
  const { B = 2, H = 2, Lq, Lk, D } = c.dims;
  const d = { B, H, Hkv: c.dims.Hkv ?? H, Lq, Lk, D, Dv: c.dims.Dv ?? D };
  const layout = c.layout ?? 'bhld';
  const rank3 = c.rank3 ?? false;
  const amplitude = c.amplitude ?? 1;
  const q = randomTensor(shapeOf(layout, rank3, d.B, d.H, d.Lq, d.D), seed, amplitude);
  const k = randomTensor(shapeOf(layout, rank3, d.B, d.Hkv, d.Lk, d.D), seed + 1, amplitude);
  const v = randomTensor(shapeOf(layout, rank3, d.B, d.Hkv, d.Lk, d.Dv), seed + 2);
  /** @type {O & { layout?: 'bhld' | 'blhd' }} */
  const options = /** @type {any} */ ({ ...(c.options?.(d) ?? {}) });
  if (c.layout !== undefined) options.layout = c.layout;
  return { d, q, k, v, options, outShape: shapeOf(layout, rank3, d.B, d.H, d.Lq, d.Dv), rank3 };
}

/**
 * A cache of inputs and references, so a case computes them once for all its runners:
 * `once(key, make)` calls make() the first time it sees `key` and returns that value after.
 * @returns {<T>(key: string, make: () => T) => T}
 */
export function onceCache() {
  const cache = new Map();
  return (key, make) => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key);
  };
}
