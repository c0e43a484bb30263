// attention() and attentionAsync() on every native mode (each ISA the addon
// supports x 1 and 2 threads) against the float64 reference: an L x D grid,
// then every option alone and combined (Dv != D, Lq != Lk, causal both ways,
// additive / boolean masks, keyPadding, keyLengths, fully masked rows, GQA,
// window, ALiBi, softcap, lse and weights, layout 'blhd', rank 3, decode).
// Plain JS for node:test, so it runs under qemu-aarch64 (see scripts/arm64-check.sh).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TOLERANCE, addon, fa, firstNonFinite, nativeModes, restoreMode, sameBits } from './helpers.mjs';
import { lseError, referenceAttentionFull, relFrobenius, weightsProblem } from '../oracle/attention.mjs';
import { additiveMask, alibi, boolMask, caseInputs, flags, randomTensor as tensor } from '../oracle/inputs.mjs';

after(restoreMode());

const cases = [];
for (const L of [1, 3, 17, 128, 129]) {
  for (const D of [1, 7, 16, 64, 80, 128]) cases.push({ name: `L=${L} D=${D}`, dims: { B: 1, H: 2, Lq: L, Lk: L, D } });
}
cases.push(
  { name: 'Dv != D, Lq != Lk (Dv tail of 2)', dims: { B: 2, H: 3, Lq: 33, Lk: 40, D: 16, Dv: 10 } },
  { name: 'D=6 Dv=5, Lq > Lk', dims: { Lq: 300, Lk: 5, D: 6, Dv: 5 } },
  { name: 'Dv = 1, D = 80, Lk = 3 blocks', dims: { B: 1, Lq: 20, Lk: 200, D: 80, Dv: 1 } },
  { name: 'causal, Lq=17 < Lk=129, D=80', dims: { Lq: 17, Lk: 129, D: 80 }, options: () => ({ causal: true }) },
  { name: 'causal, Lq=129 > Lk=17 (first rows see nothing: zeros)', dims: { Lq: 129, Lk: 17, D: 16, Dv: 7 }, options: () => ({ causal: true }) },
  { name: 'causal top-left, Lq=17 < Lk=129', dims: { Lq: 17, Lk: 129, D: 16 }, options: () => ({ causal: 'top-left' }) },
  { name: 'causal square 513 D=64 (5 key blocks, packed K)', dims: { B: 1, Lq: 513, Lk: 513, D: 64 }, options: () => ({ causal: true }) },
  { name: 'inputs x10 (scores ~100: exp2 underflows to exact 0)', dims: { B: 1, Lq: 128, Lk: 128, D: 64 }, amplitude: 10 },
  { name: 'additive mask [Lq,Lk] with -Infinity holes', dims: { Lq: 65, Lk: 129, D: 64 }, options: (d) => ({ mask: additiveMask([d.Lq, d.Lk], 40) }) },
  { name: 'additive mask [B,1,1,Lk] + causal', dims: { Lq: 50, Lk: 70, D: 32 }, options: (d) => ({ mask: additiveMask([d.B, 1, 1, d.Lk], 41), causal: true }) },
  {
    name: 'fully masked rows (additive -Infinity rows 0 and 2) give zeros',
    dims: { Lq: 5, Lk: 140, D: 16 },
    options: (d) => {
      const mask = tensor([d.Lq, d.Lk], 42);
      for (const i of [0, 2]) mask.data.fill(-Infinity, i * d.Lk, (i + 1) * d.Lk);
      return { mask };
    },
  },
  { name: 'boolean mask [B,1,Lq,Lk] + causal', dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 24 }, options: (d) => ({ mask: boolMask([d.B, 1, d.Lq, d.Lk], 43), causal: true }) },
  { name: 'boolean mask [H,1,Lk], values other than 1 visible', dims: { H: 4, Lq: 33, Lk: 65, D: 8 }, options: (d) => ({ mask: boolMask([d.H, 1, d.Lk], 44, 0.3, 7) }) },
  { name: 'keyPadding, random', dims: { Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ keyPadding: flags(d.B * d.Lk, 45) }) },
  {
    name: 'keyPadding, batch 1 all padding + causal (zeros, lse -Infinity)',
    dims: { Lq: 33, Lk: 33, D: 7 },
    options: (d) => {
      const keyPadding = flags(d.B * d.Lk, 46, 0.5);
      keyPadding.fill(0, d.Lk);
      return { keyPadding, causal: true };
    },
  },
  { name: 'keyLengths [0, 5, Lk]', dims: { B: 3, Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ keyLengths: Int32Array.from([0, 5, d.Lk]) }) },
  { name: 'keyLengths + causal, square 129', dims: { Lq: 129, Lk: 129, D: 16 }, options: () => ({ keyLengths: Int32Array.from([64, 1]), causal: true }) },
  { name: 'GQA H=8 Hkv=2 + causal', dims: { B: 2, H: 8, Hkv: 2, Lq: 40, Lk: 90, D: 64 }, options: () => ({ causal: true }) },
  { name: 'MQA H=4 Hkv=1, Dv=7', dims: { H: 4, Hkv: 1, Lq: 17, Lk: 129, D: 16, Dv: 7 } },
  { name: 'window [16, -1], L=129 D=64', dims: { Lq: 129, Lk: 129, D: 64 }, options: () => ({ window: [16, -1] }) },
  { name: 'window [3, 3], Lq=129 > Lk=17', dims: { Lq: 129, Lk: 17, D: 7 }, options: () => ({ window: [3, 3] }) },
  { name: 'window [70, -1] + causal, Lq=200 Lk=300', dims: { B: 1, Lq: 200, Lk: 300, D: 32 }, options: () => ({ window: [70, -1], causal: true }) },
  { name: 'ALiBi, L=129 D=64', dims: { H: 4, Lq: 129, Lk: 129, D: 64 }, options: (d) => ({ alibiSlopes: alibi(d.H) }) },
  { name: 'ALiBi + causal top-left, Lq=17 Lk=129', dims: { H: 4, Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ alibiSlopes: alibi(d.H), causal: 'top-left' }) },
  { name: 'softcap 5 with large scores', dims: { Lq: 65, Lk: 129, D: 64 }, amplitude: 4, options: () => ({ softcap: 5 }) },
  { name: 'softcap + ALiBi + additive mask [H,1,Lk]', dims: { H: 4, Lq: 33, Lk: 65, D: 16 }, amplitude: 3, options: (d) => ({ softcap: 5, alibiSlopes: alibi(d.H), mask: additiveMask([d.H, 1, d.Lk], 47) }) },
  { name: 'custom scale', dims: { Lq: 64, Lk: 64, D: 64 }, options: () => ({ scale: 0.37 }) },
  { name: 'layout blhd, GQA H=8 Hkv=2, Dv=7', dims: { H: 8, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 7 }, layout: 'blhd' },
  { name: 'layout blhd + causal + boolean mask [B,H,Lq,Lk]', dims: { H: 4, Hkv: 2, Lq: 129, Lk: 129, D: 80 }, layout: 'blhd', options: (d) => ({ causal: true, mask: boolMask([d.B, d.H, d.Lq, d.Lk], 48) }) },
  { name: 'layout blhd, rank 3, window [8, 2] + ALiBi', dims: { B: 1, H: 4, Hkv: 1, Lq: 33, Lk: 65, D: 7, Dv: 9 }, layout: 'blhd', rank3: true, options: (d) => ({ window: [8, 2], alibiSlopes: alibi(d.H) }) },
  { name: 'decode Lq=1, Lk=1200 (split-K)', dims: { B: 1, H: 1, Lq: 1, Lk: 1200, D: 64 } },
  { name: 'decode Lq=1, Lk=2000, GQA H=8 Hkv=2, blhd + keyLengths', dims: { H: 8, Hkv: 2, Lq: 1, Lk: 2000, D: 64, Dv: 80 }, layout: 'blhd', options: () => ({ keyLengths: Int32Array.from([2000, 700]) }) },
  { name: 'decode Lq=1, Lk=1500 + window [300, -1] + ALiBi', dims: { B: 1, H: 2, Lq: 1, Lk: 1500, D: 128 }, options: (d) => ({ window: [300, -1], alibiSlopes: alibi(d.H) }) },
  {
    name: 'everything: blhd, GQA, top-left, window, keyLengths, keyPadding, boolean mask, ALiBi, softcap',
    dims: { B: 2, H: 6, Hkv: 2, Lq: 17, Lk: 129, D: 7, Dv: 80 },
    layout: 'blhd',
    amplitude: 2,
    options: (d) => ({
      causal: 'top-left', window: [40, 3], keyLengths: Int32Array.from([129, 60]), keyPadding: flags(d.B * d.Lk, 49),
      mask: boolMask([d.B, 1, d.Lq, d.Lk], 50), alibiSlopes: alibi(d.H), softcap: 4,
    }),
  },
);

/** Inputs and the float64 reference of a case, made once and shared by every mode. */
const prepared = new Map();
function prepare(c, seed) {
  if (prepared.has(c)) return prepared.get(c);
  const inputs = caseInputs(c, seed);
  const entry = { ...inputs, reference: referenceAttentionFull(inputs.q, inputs.k, inputs.v, inputs.options, true) };
  prepared.set(c, entry);
  return entry;
}

function checkCase(c, seed) {
  const { d, q, k, v, options, rank3, outShape, reference } = prepare(c, seed);
  const plain = fa.attention(q, k, v, options);
  assert.deepEqual(plain.shape, outShape);
  assert.equal(firstNonFinite(plain.data), -1, 'out is finite');
  const error = relFrobenius(plain.data, reference.out);
  assert.ok(error <= TOLERANCE, `out: relative error ${error}`);
  // Rows that see no key are exact zeros.
  for (let row = 0; row < reference.lse.length; row++) {
    if (reference.lse[row] !== -Infinity) continue;
    const b = Math.floor(row / (d.H * d.Lq)), h = Math.floor(row / d.Lq) % d.H, i = row % d.Lq;
    const start = (options.layout ?? 'bhld') === 'bhld' ? row * d.Dv : ((b * d.Lq + i) * d.H + h) * d.Dv;
    for (let e = 0; e < d.Dv; e++) assert.equal(plain.data[start + e], 0, `out row ${row} (sees no key)`);
  }

  const withLse = fa.attention(q, k, v, { ...options, returnLse: true });
  assert.deepEqual(withLse.lse.shape, rank3 ? [d.H, d.Lq] : [d.B, d.H, d.Lq]);
  assert.ok(sameBits(withLse.data, plain.data), 'out with returnLse equals out without');
  const lse = lseError(withLse.lse.data, reference.lse);
  assert.ok(lse <= TOLERANCE, `lse: relative error ${lse}`);

  if (d.Lq > 1 || d.Lk <= 200) {
    const full = fa.attention(q, k, v, { ...options, returnLse: true, returnWeights: true });
    assert.ok(relFrobenius(full.data, reference.out) <= TOLERANCE, 'out with returnWeights');
    const weights = relFrobenius(full.weights.data, reference.weights);
    assert.ok(weights <= TOLERANCE, `weights: relative error ${weights}`);
    assert.equal(weightsProblem(full.weights.data, d, options, reference.lse, TOLERANCE), null);
  }
}

const modes = nativeModes();

for (const mode of modes) {
  describe(`attention, native ${mode.name}`, () => {
    cases.forEach((c, index) => {
      test(c.name, () => {
        mode.select();
        checkCase(c, 1000 + 17 * index);
      });
    });

    test('attentionAsync resolves to the same bits as attention (out, lse, weights)', async () => {
      mode.select();
      for (const c of cases.filter((x) => /^everything|^decode Lq=1, Lk=2000|^GQA/.test(x.name))) {
        const { q, k, v, options } = prepare(c, 5);
        const request = { ...options, returnLse: true, returnWeights: true };
        const sync = fa.attention(q, k, v, request);
        const async = await fa.attentionAsync(q, k, v, request);
        assert.ok(sameBits(async.data, sync.data), `${c.name}: out`);
        assert.ok(sameBits(async.lse.data, sync.lse.data), `${c.name}: lse`);
        assert.ok(sameBits(async.weights.data, sync.weights.data), `${c.name}: weights`);
      }
    });

    test('keys excluded by keyLengths / causal never reach the output, even as NaN and Inf', () => {
      mode.select();
      // B = 2, H = 2, L = 129, D = 80: batch 0 sees keys < 70, batch 1 key 0 only.
      const B = 2, H = 2, L = 129, D = 80;
      const q = tensor([B, H, L, D], 301), clean = tensor([B, H, L, D], 302), cleanV = tensor([B, H, L, D], 303);
      const k = { data: clean.data.slice(), shape: clean.shape };
      const v = { data: cleanV.data.slice(), shape: cleanV.shape };
      const lengths = [70, 1];
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++) {
          const from = ((b * H + h) * L + lengths[b]) * D, to = ((b * H + h) * L + L) * D;
          k.data.fill(Number.NaN, from, to);
          v.data.fill(Infinity, from, to);
          clean.data.fill(0, from, to);
          cleanV.data.fill(0, from, to);
        }
      const options = { keyLengths: Int32Array.from(lengths) };
      const dirty = fa.attention(q, k, v, options);
      assert.equal(firstNonFinite(dirty.data), -1);
      assert.ok(sameBits(dirty.data, fa.attention(q, clean, cleanV, options).data));
      // Causal: key 128 poisoned is seen only by the last row.
      const kc = { data: clean.data.slice(), shape: clean.shape }, vc = { data: cleanV.data.slice(), shape: cleanV.shape };
      for (let bh = 0; bh < B * H; bh++) {
        kc.data.fill(-Infinity, (bh * L + 128) * D, (bh * L + 129) * D);
        vc.data.fill(Number.NaN, (bh * L + 128) * D, (bh * L + 129) * D);
      }
      const causal = fa.attention(q, kc, vc, { causal: true });
      const reference = fa.attention(q, clean, cleanV, { causal: true });
      for (let bh = 0; bh < B * H; bh++) {
        const rows = [bh * L * D, (bh * L + 128) * D];
        assert.ok(sameBits(causal.data.subarray(rows[0], rows[1]), reference.data.subarray(rows[0], rows[1])), `head ${bh}: rows 0..127`);
      }
    });
  });
}

describe('attention, native: threads and concurrency', () => {
  test('1 and 2 threads give bit-identical results on every ISA', () => {
    const q = tensor([1, 2, 257, 64], 401), k = tensor([1, 2, 257, 64], 402), v = tensor([1, 2, 257, 64], 403);
    for (const isa of addon.info().supportedIsas) {
      addon.setIsa(isa);
      fa.setThreads(1);
      const one = fa.attention(q, k, v, { causal: true }).data;
      fa.setThreads(2);
      const two = fa.attention(q, k, v, { causal: true }).data;
      assert.ok(sameBits(one, two), isa);
    }
    restoreMode()();
  });

  test('16 concurrent attentionAsync calls resolve to the sync result', async () => {
    fa.setThreads(2);
    const q = tensor([2, 8, 40, 64], 411), k = tensor([2, 2, 90, 64], 412), v = tensor([2, 2, 90, 64], 413);
    const sync = fa.attention(q, k, v, { causal: true }).data;
    const results = await Promise.all(Array.from({ length: 16 }, () => fa.attentionAsync(q, k, v, { causal: true })));
    for (const r of results) assert.ok(sameBits(r.data, sync));
  });

  test('explain: decode takes the split-K path, prefill the tiled one', () => {
    const q1 = tensor([1, 1, 1, 64], 421), kLong = tensor([1, 1, 1200, 64], 422);
    assert.equal(fa.explain(q1, kLong, kLong).path, 'decode-split-k');
    const q = tensor([1, 2, 129, 64], 423);
    assert.equal(fa.explain(q, q, q).path, 'tiled');
  });
});
