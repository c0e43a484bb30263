// The one seeded generator of the tests, the emulated suite, the benchmarks and the
// scripts: the same seed gives the same numbers in every process and on every machine.

/**
 * mulberry32: a small, fast, well-mixed 32-bit PRNG.
 * @param {number} seed any number; only its low 32 bits count
 * @returns {() => number} uniforms in [0, 1)
 */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * FNV-1a hash of a string: a seed from a name (the benchmarks seed each tensor by its name).
 * @param {string} text
 * @returns {number} an unsigned 32-bit integer
 */
export function hashString(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * n samples of N(0, 1) from a seed (Box–Muller), as float32. Same seed, same numbers.
 * @param {number} n
 * @param {number} seed
 * @returns {Float32Array}
 */
export function randn(n, seed) {
  const uniform = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u is in (0, 1]: the log stays finite
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * n uniforms in [-1, 1) from a seed, as float32.
 * @param {number} n
 * @param {number} seed
 * @returns {Float32Array}
 */
export function uniforms(n, seed) {
  const uniform = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * uniform() - 1);
}
