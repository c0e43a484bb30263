/**
 * bfloat16 in TypeScript: the upper 16 bits of an IEEE float32. Used by the
 * JS backend and as the reference the native conversion is tested against.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds each float of `src` to the nearest bfloat16 (ties to even) into `dst`.
 * ±Infinity stay infinite; a NaN stays a (quiet) NaN, never rounding up into Infinity.
 */
export function toBfloat16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = bits[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) {
      dst[i] = (x >>> 16) | 0x0040; // NaN: keep sign and top payload bits, force quiet
    } else {
      // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even.
      dst[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
}

/** Widens bfloat16 bit patterns to float32 (exact). */
export function fromBfloat16(src: Uint16Array, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
}

/** One float rounded through bfloat16 (tests and references). */
export function roundToBfloat16(x: number): number {
  f32[0] = x;
  const tmp = new Uint16Array(1);
  toBfloat16(f32, tmp);
  u32[0] = tmp[0] << 16;
  return f32[0];
}

/** A copy of `src` with each value rounded to bfloat16 (held as float32: exact). */
export function roundedToBfloat16(src: Float32Array): Float32Array {
  const bits = new Uint16Array(src.length);
  toBfloat16(src, bits);
  const out = new Float32Array(src.length);
  fromBfloat16(bits, out);
  return out;
}
