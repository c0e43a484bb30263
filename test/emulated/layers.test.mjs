// The issue-5 pieces on every native mode (NEON and scalar under qemu): the
// packed GEMM behind linear()/packLinear() (float32 and bfloat16 weights), KvCache decoding in float32 and
// bfloat16 (the kernel's bf16 widening loads), and MultiHeadAttention, all
// against float64 references.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TOLERANCE, fa, nativeModes, restoreMode } from './helpers.mjs';
import { referenceAttention, relFrobenius } from '../oracle/attention.mjs';
import { referenceLinear } from '../oracle/linear.mjs';
import { positions, randomTensor as tensor, roundBf16 } from '../oracle/inputs.mjs';
import { randn } from '../oracle/prng.mjs';

after(restoreMode());

const LINEAR_SHAPES = [[1, 3, 5], [7, 16, 33], [17, 64, 100], [130, 80, 19], [2, 513, 48]];

for (const mode of nativeModes()) {
  describe(`layers, native ${mode.name}`, () => {
    for (const [rows, inF, outF] of LINEAR_SHAPES) {
      test(`linear and packLinear ${rows}x${inF} -> ${outF}, bias, strided output`, () => {
        mode.select();
        const x = tensor([rows, inF], rows + inF);
        const w = tensor([outF, inF], outF, 1 / Math.sqrt(inF));
        const b = tensor([outF], 3);
        const expected = referenceLinear(x.data, rows, inF, w.data, outF, b.data);
        const y = fa.linear(x, w, b);
        assert.deepEqual(y.shape, [rows, outF]);
        assert.ok(relFrobenius(y.data, expected) <= TOLERANCE, `linear: ${relFrobenius(y.data, expected)}`);
        const packed = fa.packLinear(w, b);
        const stride = outF + 3;
        const out = new Float32Array(rows * stride + 2).fill(7);
        packed.forward(x, { out, outStride: stride, outOffset: 2 });
        for (let r = 0; r < rows; r++) {
          const got = out.subarray(2 + r * stride, 2 + r * stride + outF);
          assert.ok(relFrobenius(got, expected.subarray(r * outF, (r + 1) * outF)) <= TOLERANCE, `row ${r}`);
          if (r + 1 < rows) assert.deepEqual(Array.from(out.subarray(2 + r * stride + outF, 2 + (r + 1) * stride)), [7, 7, 7]);
        }
        assert.deepEqual(Array.from(out.subarray(0, 2)), [7, 7]);
      });
    }

    for (const [rows, inF, outF] of LINEAR_SHAPES) {
      test(`packLinear with bfloat16 weights ${rows}x${inF} -> ${outF}, bias: float32 arithmetic on the rounded weights`, () => {
        mode.select();
        const x = tensor([rows, inF], rows + inF + 1);
        const w = tensor([outF, inF], outF + 1, 1 / Math.sqrt(inF));
        const b = tensor([outF], 4);
        const packed = fa.packLinear(w, b, { dtype: 'bfloat16' });
        assert.equal(packed.dtype, 'bfloat16');
        const y = packed.forward(x);
        const expected = referenceLinear(x.data, rows, inF, roundBf16(w.data), outF, b.data);
        assert.ok(relFrobenius(y.data, expected) <= TOLERANCE, `bfloat16 weights: ${relFrobenius(y.data, expected)}`);
      });
    }

    for (const dtype of ['float32', 'bfloat16']) {
      test(`KvCache ${dtype}: decoding token by token == one causal pass (GQA 4/2, D = 20, long enough to split)`, () => {
        mode.select();
        const B = 1, H = 4, Hkv = 2, L = 300, D = 20;
        const q = tensor([B, H, L, D], 1), k = tensor([B, Hkv, L, D], 2), v = tensor([B, Hkv, L, D], 3);
        const cache = new fa.KvCache({ batch: B, numKvHeads: Hkv, headDim: D, maxLength: L, dtype });
        cache.append(positions(k, 0, 200), positions(v, 0, 200));
        const out = new Float32Array(B * H * L * D);
        const prefill = fa.attention(positions(q, 0, 200), cache, { causal: true });
        for (let h = 0; h < H; h++) out.set(prefill.data.subarray(h * 200 * D, (h + 1) * 200 * D), h * L * D);
        for (let t = 200; t < L; t++) {
          cache.append(positions(k, t, t + 1), positions(v, t, t + 1));
          const o = fa.attention(positions(q, t, t + 1), cache);
          for (let h = 0; h < H; h++) out.set(o.data.subarray(h * D, (h + 1) * D), (h * L + t) * D);
        }
        const kk = dtype === 'float32' ? k : { data: roundBf16(k.data), shape: k.shape };
        const vv = dtype === 'float32' ? v : { data: roundBf16(v.data), shape: v.shape };
        const error = relFrobenius(out, referenceAttention(q, kk, vv, { causal: true }));
        assert.ok(error <= TOLERANCE, `vs the oracle on the stored K/V: ${error}`);
      });
    }

    test('MultiHeadAttention: self (causal) and cross attention vs float64 projections', () => {
      mode.select();
      const dModel = 24, H = 4, Hkv = 2, D = 6, B = 2, Lq = 9, Lk = 13;
      const w = (o, i, s) => randn(o * i, s).map((x) => x / Math.sqrt(i));
      const weights = { wq: w(H * D, dModel, 1), wk: w(Hkv * D, dModel, 2), wv: w(Hkv * D, dModel, 3), wo: w(dModel, H * D, 4), bq: randn(H * D, 5), bo: randn(dModel, 6) };
      const mha = new fa.MultiHeadAttention({ dModel, numHeads: H, numKvHeads: Hkv, weights });
      const x = tensor([B, Lq, dModel], 7), ctx = tensor([B, Lk, dModel], 8);
      for (const [context, causal] of [[null, true], [ctx, false]]) {
        const src = context ?? x, L = context ? Lk : Lq;
        const f32 = (a) => Float32Array.from(a);
        const q = f32(referenceLinear(x.data, B * Lq, dModel, weights.wq, H * D, weights.bq));
        const k = f32(referenceLinear(src.data, B * L, dModel, weights.wk, Hkv * D, null));
        const v = f32(referenceLinear(src.data, B * L, dModel, weights.wv, Hkv * D, null));
        const o = referenceAttention({ data: q, shape: [B, Lq, H, D] }, { data: k, shape: [B, L, Hkv, D] }, { data: v, shape: [B, L, Hkv, D] }, { layout: "blhd", causal });
        const expected = referenceLinear(o, B * Lq, H * D, weights.wo, dModel, weights.bo);
        const y = mha.forward(x, context ? { context } : { causal });
        assert.ok(relFrobenius(y.data, expected) <= TOLERANCE, `${context ? 'cross' : 'self'}: ${relFrobenius(y.data, expected)}`);
      }
    });
  });
}
