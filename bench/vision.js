'use strict';
// 2-D attention layers on a 97×97 map with 512 channels (B = 1), fused-attention
// against the same layer whose attention is dense attention over the same
// positions in plain JS (the H + W - 1 pixels of the criss-cross; the column
// and the row, for axial). Both sides of a layer row run the same projections
// (the package's 1×1 convs, dist/vision/conv1x1.js — its GEMM with the native backend — for criss-cross
// and coordinate; packLinear for axial), so they differ only in the attention.
// Prints a markdown table; with --out DIR also DIR/vision.json (read by bench/readme.js).
// Run `npm run build` first.
//
//   node bench/vision.js [--out DIR]

const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
  console.error('fused-attention is not built (dist/index.js is missing); run `npm run build` first');
  process.exit(1);
}
const fa = require(ROOT);
const { conv1x1 } = require(path.join(ROOT, 'dist', 'vision', 'conv1x1.js'));
const { hashString, uniforms } = require('../test/oracle/prng.mjs');
const { startRecord } = require('./run-record');

const B = 1, C = 512, H = 97, W = 97, HW = H * W;
const outFlag = process.argv.indexOf('--out');
const outDir = outFlag >= 0 ? process.argv[outFlag + 1] : null;
const run = startRecord(__filename, { backend: fa.backend() });

// ---------------------------------------------------------------- inputs

// Seeded uniforms in [-scale, scale), from the tests' generator (test/oracle/prng.mjs).
let seed = 1;
const uniform = (n, scale) => uniforms(n, hashString(`vision/${seed++}`)).map((x) => x * scale);
const conv = (cout, cin) => ({ weight: uniform(cout * cin, 1 / Math.sqrt(cin)), bias: uniform(cout, 0.1) });
const checked = (c, cin, cout) => ({ weight: c.weight, bias: c.bias, cin, cout });

// ---------------------------------------------------------------- plain-JS dense attention

/** Criss-cross, channels-first: every pixel's H + W - 1 positions gathered, scored, softmaxed, summed. */
function denseCrissCross(q, k, v, Cq, Cv) {
  const out = new Float32Array(B * Cv * HW);
  const positions = new Int32Array(H + W - 1);
  const scores = new Float64Array(H + W - 1);
  const acc = new Float64Array(Cv);
  for (let b = 0; b < B; b++) {
    const qb = b * Cq * HW, vb = b * Cv * HW;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let n = 0;
        for (let y = 0; y < H; y++) positions[n++] = y * W + j;
        for (let x = 0; x < W; x++) if (x !== j) positions[n++] = i * W + x;
        const centre = i * W + j;
        let max = -Infinity;
        for (let m = 0; m < n; m++) {
          let s = 0;
          for (let c = 0; c < Cq; c++) s += q[qb + c * HW + centre] * k[qb + c * HW + positions[m]];
          scores[m] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        acc.fill(0);
        for (let m = 0; m < n; m++) {
          const w = Math.exp(scores[m] - max);
          sum += w;
          for (let e = 0; e < Cv; e++) acc[e] += w * v[vb + e * HW + positions[m]];
        }
        for (let e = 0; e < Cv; e++) out[vb + e * HW + centre] = acc[e] / sum;
      }
    }
  }
  return out;
}

/** Axial attention on [B, heads, H, W, D]: every column ('height') or row ('width') a dense sequence. */
function denseAxial(q, k, v, heads, D, Dv, axis) {
  const out = new Float32Array(B * heads * HW * Dv);
  const L = axis === 'height' ? H : W;
  const sequences = axis === 'height' ? W : H;
  const posStride = axis === 'height' ? W : 1;
  const seqStride = axis === 'height' ? 1 : W;
  const scores = new Float64Array(L);
  const acc = new Float64Array(Dv);
  const scale = 1 / Math.sqrt(D);
  for (let bh = 0; bh < B * heads; bh++) {
    for (let s = 0; s < sequences; s++) {
      const first = bh * HW + s * seqStride; // pixel index of position 0
      for (let i = 0; i < L; i++) {
        const qp = (first + i * posStride) * D;
        let max = -Infinity;
        for (let j = 0; j < L; j++) {
          const kp = (first + j * posStride) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qp + d] * k[kp + d];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        let sum = 0;
        acc.fill(0);
        for (let j = 0; j < L; j++) {
          const w = Math.exp(scores[j] - max);
          sum += w;
          const vp = (first + j * posStride) * Dv;
          for (let d = 0; d < Dv; d++) acc[d] += w * v[vp + d];
        }
        const op = (first + i * posStride) * Dv;
        for (let d = 0; d < Dv; d++) out[op + d] = acc[d] / sum;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- the layers, plain-JS attention

function plainCrissCrossLayer(x, weights, Cq, recurrence) {
  let features = x;
  for (let r = 0; r < recurrence; r++) {
    const q = conv1x1(checked(weights.query_conv, C, Cq), features, B, HW);
    const k = conv1x1(checked(weights.key_conv, C, Cq), features, B, HW);
    const v = conv1x1(checked(weights.value_conv, C, C), features, B, HW);
    const attended = denseCrissCross(q, k, v, Cq, C);
    for (let i = 0; i < attended.length; i++) attended[i] = weights.gamma * attended[i] + features[i];
    features = attended;
  }
  return features;
}

/** [HW, heads·e] projection rows → [heads, HW, e], the layout denseAxial reads. */
function splitHeads(rows, heads, e) {
  const out = new Float32Array(rows.length);
  for (let p = 0; p < HW; p++) for (let h = 0; h < heads; h++) for (let d = 0; d < e; d++) out[(h * HW + p) * e + d] = rows[(p * heads + h) * e + d];
  return out;
}
function mergeHeads(x, heads, e) {
  const out = new Float32Array(x.length);
  for (let p = 0; p < HW; p++) for (let h = 0; h < heads; h++) for (let d = 0; d < e; d++) out[(p * heads + h) * e + d] = x[(h * HW + p) * e + d];
  return out;
}

/**
 * lucidrains' AxialAttention (sum_axial_out) on x [1, C, H, W]: per axis,
 * to_q / to_kv on the package's GEMM (the same packed weights as the layer),
 * dense plain-JS attention along the axis, to_out; the two passes summed.
 */
function plainAxialLayer(x, passes, heads, dimHeads) {
  const rows = new Float32Array(HW * C);
  for (let c = 0; c < C; c++) for (let p = 0; p < HW; p++) rows[p * C + c] = x[c * HW + p];
  const sum = new Float32Array(HW * C);
  for (const [axis, pass] of [['height', passes[0]], ['width', passes[1]]]) {
    const input = { data: rows, shape: [HW, C] };
    const [q, k, v] = [pass.toQ, pass.toK, pass.toV].map((linear) => splitHeads(linear.forward(input).data, heads, dimHeads));
    const attended = mergeHeads(denseAxial(q, k, v, heads, dimHeads, dimHeads, axis), heads, dimHeads);
    const y = pass.toOut.forward({ data: attended, shape: [HW, heads * dimHeads] }).data;
    for (let i = 0; i < y.length; i++) sum[i] += y[i];
  }
  const out = new Float32Array(C * HW);
  for (let c = 0; c < C; c++) for (let p = 0; p < HW; p++) out[c * HW + p] = sum[p * C + c];
  return out;
}

/** Coordinate attention has no attention matrix: the plain-JS side is the same pooling, convs and gates, written out. */
function plainCoordinateLayer(x, weights, mip) {
  const L = H + W;
  const pooled = new Float32Array(B * C * L);
  for (let bc = 0; bc < B * C; bc++) {
    for (let i = 0; i < H; i++) { let s = 0; for (let j = 0; j < W; j++) s += x[bc * HW + i * W + j]; pooled[bc * L + i] = s / W; }
    for (let j = 0; j < W; j++) { let s = 0; for (let i = 0; i < H; i++) s += x[bc * HW + i * W + j]; pooled[bc * L + H + j] = s / H; }
  }
  const f = conv1x1(checked(weights.conv1, C, mip), pooled, B, L);
  const bn = weights.bn1;
  for (let m = 0; m < mip; m++) for (let p = 0; p < L; p++) {
    const t = (f[m * L + p] - bn.running_mean[m]) / Math.sqrt(bn.running_var[m] + 1e-5) * bn.weight[m] + bn.bias[m];
    f[m * L + p] = t * Math.min(Math.max(t + 3, 0), 6) / 6;
  }
  const fh = new Float32Array(mip * H), fw = new Float32Array(mip * W);
  for (let m = 0; m < mip; m++) { fh.set(f.subarray(m * L, m * L + H), m * H); fw.set(f.subarray(m * L + H, m * L + L), m * W); }
  const gh = conv1x1(checked(weights.conv_h, mip, C), fh, B, H).map((t) => 1 / (1 + Math.exp(-t)));
  const gw = conv1x1(checked(weights.conv_w, mip, C), fw, B, W).map((t) => 1 / (1 + Math.exp(-t)));
  const out = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    out[c * HW + i * W + j] = x[c * HW + i * W + j] * gh[c * H + i] * gw[c * W + j];
  }
  return out;
}

// ---------------------------------------------------------------- timing

/** Median milliseconds of `runs` calls after one warm-up call (warm-up skipped when runs is 1). */
function time(fn, runs) {
  if (runs > 1) fn();
  const times = [];
  let result;
  for (let r = 0; r < runs; r++) {
    const start = process.hrtime.bigint();
    result = fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], result };
}

function maxRelDiff(a, b) {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) { diff += (a[i] - b[i]) ** 2; norm += b[i] ** 2; }
  return Math.sqrt(diff / norm);
}

const rows = [];
const measured = [];
function row(name, description, fused, plain, agreement) {
  rows.push(`| ${name} | ${description} | ${fused.toFixed(1)} | ${plain.toFixed(1)} | ${(plain / fused).toFixed(1)}× | ${agreement.toExponential(1)} |`);
  measured.push({ name, description, fusedMs: fused, plainMs: plain, relDiff: agreement });
  process.stderr.write(`${name}: ${fused.toFixed(1)} ms vs ${plain.toFixed(1)} ms\n`);
}

const x = uniform(B * C * HW, 1);

// Criss-cross: C' = C/8 = 64, R = 2.
{
  const Cq = C / 8;
  const weights = { query_conv: conv(Cq, C), key_conv: conv(Cq, C), value_conv: conv(C, C), gamma: 0.5 };
  const q = { data: uniform(B * Cq * HW, 1), shape: [B, Cq, H, W] };
  const k = { data: uniform(B * Cq * HW, 1), shape: [B, Cq, H, W] };
  const v = { data: uniform(B * C * HW, 1), shape: [B, C, H, W] };
  const core = time(() => fa.crissCrossAttention(q, k, v).data, 5);
  const coreJs = time(() => denseCrissCross(q.data, k.data, v.data, Cq, C), 1);
  row('`crissCrossAttention`', `q, k [1,64,97,97], v [1,512,97,97]`, core.ms, coreJs.ms, maxRelDiff(core.result, coreJs.result));
  const layer = new fa.CrissCrossAttention({ channels: C, weights });
  const fused = time(() => layer.forward({ data: x, shape: [B, C, H, W] }).data, 1);
  const plain = time(() => plainCrissCrossLayer(x, weights, Cq, 2), 1);
  row('`CrissCrossAttention` layer', `C = 512, C' = 64, R = 2 (1×1 convs: the package's, on both sides)`, fused.ms, plain.ms, maxRelDiff(fused.result, plain.result));
}

// Axial: 8 heads of 64 channels along H, then W.
{
  const heads = 8, dHead = 64, inner = heads * dHead;
  const shape = [B, heads, H, W, dHead];
  const q = { data: uniform(B * inner * HW, 1), shape }, k = { data: uniform(B * inner * HW, 1), shape }, v = { data: uniform(B * inner * HW, 1), shape };
  const core = time(() => {
    const first = fa.axialAttention(q, k, v, { axis: 'height' });
    return fa.axialAttention(q, k, first, { axis: 'width' }).data;
  }, 5);
  const coreJs = time(() => denseAxial(q.data, k.data, denseAxial(q.data, k.data, v.data, heads, dHead, dHead, 'height'), heads, dHead, dHead, 'width'), 1);
  row('`axialAttention` height + width', '[1,8,97,97,64] each', core.ms, coreJs.ms, maxRelDiff(core.result, coreJs.result));
  // lucidrains' AxialAttention(dim=512, heads=8, dim_index=1): its state_dict by name.
  const weights = {};
  const passes = [0, 1].map((p) => {
    const name = (w) => `axial_attentions.${p}.fn.${w}`;
    const toQ = uniform(inner * C, 1 / Math.sqrt(C)), toKv = uniform(2 * inner * C, 1 / Math.sqrt(C));
    const toOut = uniform(C * inner, 1 / Math.sqrt(inner)), toOutBias = uniform(C, 0.1);
    Object.assign(weights, { [name('to_q.weight')]: toQ, [name('to_kv.weight')]: toKv, [name('to_out.weight')]: toOut, [name('to_out.bias')]: toOutBias });
    const pack = (data, rows, cols, bias) => fa.packLinear({ data, shape: [rows, cols] }, bias ? { data: bias, shape: [rows] } : null);
    return { toQ: pack(toQ, inner, C), toK: pack(toKv.subarray(0, inner * C), inner, C), toV: pack(toKv.subarray(inner * C), inner, C), toOut: pack(toOut, C, inner, toOutBias) };
  });
  const layer = new fa.AxialAttention({ dim: C, heads, dimIndex: 1, weights });
  const fused = time(() => layer.forward({ data: x, shape: [B, C, H, W] }).data, 1);
  const plain = time(() => plainAxialLayer(x, passes, heads, dHead), 1);
  row('`AxialAttention` layer', 'lucidrains, dim = 512, 8 heads × 64, summed (projections: packLinear on both sides)', fused.ms, plain.ms, maxRelDiff(fused.result, plain.result));
}

// Coordinate attention: mip = C / 32 = 16.
{
  const mip = 16;
  const ones = new Float32Array(mip).fill(1);
  const weights = { conv1: conv(mip, C), bn1: { weight: ones, bias: uniform(mip, 0.1), running_mean: uniform(mip, 0.1), running_var: ones }, conv_h: conv(C, mip), conv_w: conv(C, mip) };
  const layer = new fa.CoordinateAttention({ channels: C, mip, weights });
  const fused = time(() => layer.forward({ data: x, shape: [B, C, H, W] }).data, 5);
  const plain = time(() => plainCoordinateLayer(x, weights, mip), 5);
  row('`CoordinateAttention` layer', 'C = 512, mip = 16 (no attention matrix; the same convs on both sides)', fused.ms, plain.ms, maxRelDiff(fused.result, plain.result));
}

const info = fa.backend();
console.log(`97×97 map, 512 channels, B = 1; backend ${info.name}${info.isa ? ` (${info.isa}, ${info.threads} threads)` : ''}; Node ${process.version}.`);
const method = 'Fused function rows and both CoordinateAttention sides: median of 5 after a warm-up; the plain-JS function rows and the other layer rows: 1 run each.';
console.log(`${method}\n`);
console.log('| what | shape | fused-attention (ms) | plain JS dense (ms) | speedup | rel. diff |');
console.log('|---|---|---:|---:|---:|---:|');
for (const line of rows) console.log(line);

if (outDir) run.write(outDir, 'vision.json', { method, rows: measured });
