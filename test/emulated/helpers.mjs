// Shared by the emulated suite (test/emulated/*.test.mjs): loading the package
// as a user would, the native modes to run through, seeded inputs, and float64
// references written from the definitions (a plain-JS port of test/reference.ts,
// since vitest and TypeScript do not run under the arm64 emulator).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The package under test: FUSED_ATTENTION_PACKAGE_DIR (a staged install: package.json,
 * dist/, prebuilds/, node_modules/node-gyp-build), else this checkout (its build/).
 */
export const packageDir = path.resolve(process.env.FUSED_ATTENTION_PACKAGE_DIR || path.join(here, '..', '..'));
const requireFromPackage = createRequire(path.join(packageDir, 'package.json'));
export const fa = requireFromPackage(packageDir);
/** The addon itself (internal: setIsa), from the same module instance the package uses. */
export const addon = requireFromPackage(path.join(packageDir, 'dist', 'backend.js')).nativeAddon();
/** The file node-gyp-build picked for this platform. */
export const addonFile = requireFromPackage('node-gyp-build').resolve(packageDir);

export const TOLERANCE = 1e-5;

/**
 * Runs `node -e script` in a child process with extra environment variables and
 * returns its stdout. Under qemu-user the child must be started through the
 * emulator too: the runner passes it in FA_EMULATOR ("qemu-aarch64 -L /usr/aarch64-linux-gnu").
 */
export function runNode(script, env) {
  const prefix = (process.env.FA_EMULATOR || '').split(' ').filter(Boolean);
  const [command, ...args] = [...prefix, process.execPath, '-e', script];
  const result = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', cwd: packageDir });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`child exited with ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout;
}

/** Every ISA the addon supports x 1 and 2 threads (none without the addon: the loading tests fail then). */
export function nativeModes() {
  const modes = [];
  if (addon === null) return modes;
  for (const isa of addon.info().supportedIsas) {
    for (const threads of [1, 2]) {
      modes.push({ name: `${isa}, ${threads} thread(s)`, isa, threads, select: () => { addon.setIsa(isa); addon.setThreads(threads); } });
    }
  }
  return modes;
}

/** Puts back the addon's ISA and thread count (call from an after() hook). */
export function restoreMode() {
  const initial = addon?.info();
  return () => {
    if (!initial) return;
    addon.setIsa(initial.isa);
    addon.setThreads(initial.threads);
  };
}

// ---- inputs ------------------------------------------------------------------------

/** mulberry32: uniforms in [0, 1) from a 32-bit seed. */
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples of N(0, 1) as float32 (Box-Muller); same seed, same numbers. */
export function randn(n, seed) {
  const uniform = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

export function tensor(shape, seed, amplitude = 1) {
  const data = randn(shape.reduce((a, b) => a * b, 1), seed);
  if (amplitude !== 1) for (let i = 0; i < data.length; i++) data[i] *= amplitude;
  return { data, shape };
}

/** n flags, about `hiddenFraction` (0.3 or 0.5) of them 0, the rest `on`. */
export function flags(n, seed, hiddenFraction = 0.3, on = 1) {
  const z = hiddenFraction === 0.5 ? 0.674 : 0.385; // P(|N(0,1)| < z)
  return Uint8Array.from(randn(n, seed), (x) => (Math.abs(x) < z ? 0 : on));
}

// ---- checks ------------------------------------------------------------------------

/** ‖a − b‖_F / ‖b‖_F with b the reference; the absolute ‖a − b‖_F when b is all zeros. */
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

/** lse vs the reference: -Infinity exactly where the reference has it, the rest by relative error. */
export function lseError(actual, expected) {
  const a = [];
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

export function firstNonFinite(data) {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

export function sameBits(a, b) {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ---- float64 attention reference -------------------------------------------------------

function dims4(shape, layout) {
  const s = shape.length === 3 ? [1, ...shape] : shape;
  return layout === 'bhld' ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[1], s[3]];
}

export function referenceDims(q, k, v, layout = 'bhld') {
  const [B, H, Lq, D] = dims4(q.shape, layout);
  const [, Hkv, Lk] = dims4(k.shape, layout);
  return { B, H, Hkv, Lq, Lk, D, Dv: dims4(v.shape, layout)[3] };
}

function indexOf(layout, heads, length, width) {
  return layout === 'bhld'
    ? (b, h, l, d) => ((b * heads + h) * length + l) * width + d
    : (b, h, l, d) => ((b * length + l) * heads + h) * width + d;
}

/** Flat index of mask element (b, h, i, j), broadcasting dims of size 1 (shape aligned from the right). */
function maskIndexer(mask, Lk) {
  const [mb, mh, mq] = [...new Array(4 - mask.shape.length).fill(1), ...mask.shape];
  return (b, h, i, j) => (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mq + (mq === 1 ? 0 : i)) * Lk + j;
}

/** Whether key j is visible to query (b, h, i) under causal, window, key lengths, key padding and a boolean mask. */
export function referenceVisibility(dims, options) {
  const { Lq, Lk } = dims;
  const aligned = options.causal === 'top-left' ? (i) => i : (i) => i + Lk - Lq;
  const [left, right] = options.window ?? [-1, -1];
  const causal = options.causal === true || options.causal === 'top-left';
  const boolMask = options.mask && options.mask.data instanceof Uint8Array ? options.mask : null;
  const boolAt = boolMask ? maskIndexer(boolMask, Lk) : null;
  return (b, h, i, j) => {
    const position = aligned(i);
    if (causal && j > position) return false;
    if (left >= 0 && j < position - left) return false;
    if (right >= 0 && j > position + right) return false;
    if (options.keyLengths && j >= options.keyLengths[b]) return false;
    if (options.keyPadding && options.keyPadding[b * Lk + j] === 0) return false;
    if (boolMask && boolMask.data[boolAt(b, h, i, j)] === 0) return false;
    return true;
  };
}

/**
 * softmax(cap(scale·q·kᵀ) + mask − slope·|i' − j|) over the visible keys, times v, in
 * float64: { out (output layout), lse [B,H,Lq], weights [B,H,Lq,Lk] }. A row with no
 * visible key gives zeros and lse −Infinity.
 */
export function referenceAttention(q, k, v, options = {}) {
  const layout = options.layout ?? 'bhld';
  const dims = referenceDims(q, k, v, layout);
  const { B, H, Hkv, Lq, Lk, D, Dv } = dims;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const softcap = options.softcap ?? 0;
  const additive = options.mask && options.mask.data instanceof Float32Array ? options.mask : null;
  const additiveAt = additive ? maskIndexer(additive, Lk) : null;
  const visible = referenceVisibility(dims, options);
  const aligned = options.causal === 'top-left' ? (i) => i : (i) => i + Lk - Lq;
  const qAt = indexOf(layout, H, Lq, D);
  const kAt = indexOf(layout, Hkv, Lk, D);
  const vAt = indexOf(layout, Hkv, Lk, Dv);
  const outAt = indexOf(layout, H, Lq, Dv);
  const out = new Float64Array(B * H * Lq * Dv);
  const lse = new Float64Array(B * H * Lq);
  const weights = new Float64Array(B * H * Lq * Lk);
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor((h * Hkv) / H);
      for (let i = 0; i < Lq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          let s = -Infinity;
          if (visible(b, h, i, j)) {
            s = 0;
            for (let d = 0; d < D; d++) s += q.data[qAt(b, h, i, d)] * k.data[kAt(b, g, j, d)];
            s *= scale;
            if (softcap > 0) s = softcap * Math.tanh(s / softcap);
            if (additive) s += additive.data[additiveAt(b, h, i, j)];
            if (options.alibiSlopes) s -= options.alibiSlopes[h] * Math.abs(aligned(i) - j);
          }
          scores[j] = s;
          if (s > max) max = s;
        }
        const row = (b * H + h) * Lq + i;
        if (max === -Infinity) {
          lse[row] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += (scores[j] = Math.exp(scores[j] - max));
        lse[row] = max + Math.log(sum);
        for (let j = 0; j < Lk; j++) {
          const p = scores[j] / sum;
          weights[row * Lk + j] = p;
          if (p === 0) continue; // a hidden key: its v is never read
          for (let d = 0; d < Dv; d++) out[outAt(b, h, i, d)] += p * v.data[vAt(b, g, j, d)];
        }
      }
    }
  }
  return { out, lse, weights };
}

// ---- float64 2-D references ------------------------------------------------------------

function softmaxCombine(scores, values) {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const weights = scores.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Array(values[0].length).fill(0);
  weights.forEach((w, n) => values[n].forEach((x, e) => (out[e] += (w / total) * x)));
  return out;
}

/** Criss-cross attention, channels-first: pixel (i, j) attends to every (y, x) with y = i or x = j, each once. */
export function referenceCrissCross(q, k, v, scale = 1) {
  const [B, Cq, H, W] = q.shape;
  const C = v.shape[1];
  const out = new Float64Array(B * C * H * W);
  const channels = (t, count, b, y, x) => {
    const vec = new Array(count);
    for (let c = 0; c < count; c++) vec[c] = t.data[((b * count + c) * H + y) * W + x];
    return vec;
  };
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        const query = channels(q, Cq, b, i, j);
        const cross = [];
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (y === i || x === j) cross.push([y, x]);
        const scores = cross.map(([y, x]) => scale * channels(k, Cq, b, y, x).reduce((s, kc, c) => s + kc * query[c], 0));
        const result = softmaxCombine(scores, cross.map(([y, x]) => channels(v, C, b, y, x)));
        result.forEach((value, c) => (out[((b * C + c) * H + i) * W + j] = value));
      }
  return out;
}

/** Axial attention on [B, heads, H, W, D]: each column (height) or row (width) is a sequence. */
export function referenceAxial(q, k, v, axis, causal, scale) {
  const [B, heads, H, W, D] = q.shape;
  const Dv = v.shape[4];
  const at = (t, width, b, h, y, x) => t.data.subarray((((b * heads + h) * H + y) * W + x) * width, (((b * heads + h) * H + y) * W + x + 1) * width);
  const out = new Float64Array(B * heads * H * W * Dv);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const query = at(q, D, b, h, y, x);
          const position = axis === 'height' ? y : x;
          const keys = [];
          for (let p = 0; p < (axis === 'height' ? H : W); p++) if (!causal || p <= position) keys.push(axis === 'height' ? [p, x] : [y, p]);
          const scores = keys.map(([ky, kx]) => scale * at(k, D, b, h, ky, kx).reduce((s, kd, d) => s + kd * query[d], 0));
          out.set(softmaxCombine(scores, keys.map(([ky, kx]) => Array.from(at(v, Dv, b, h, ky, kx)))), (((b * heads + h) * H + y) * W + x) * Dv);
        }
  return out;
}

/** [B, C, H, W] -> [B, H, W, C]. */
export function toChannelsLast(t) {
  const [B, C, H, W] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) data[(b * H * W + p) * C + c] = t.data[(b * C + c) * H * W + p];
  return { data, shape: [B, H, W, C] };
}
