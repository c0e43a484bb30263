// crissCrossAttention (its own kernel, criss_cross.inl) and axialAttention (the
// attention kernel on strided views) on every native mode, against float64
// references from the definitions: 1x1, 1x7, 3x6, 13x5 and 33x33 maps (row
// widths with every tail length of a 4-lane vector), C' != C, batch 2.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TOLERANCE, fa, nativeModes, restoreMode } from './helpers.mjs';
import { referenceAxial, referenceCrissCross, relFrobenius, toChannelsLast } from '../oracle/attention.mjs';
import { onceCache, randomTensor as tensor } from '../oracle/inputs.mjs';

after(restoreMode());

const MAPS = [[1, 1], [1, 7], [3, 6], [13, 5], [33, 33]];

const once = onceCache(); // inputs and references shared by every mode

for (const mode of nativeModes()) {
  describe(`2-D attention, native ${mode.name}`, () => {
    MAPS.forEach(([H, W], index) => {
      test(`crissCrossAttention ${H}x${W}, C' = 4, C = 6, B = 2, channels-first and channels-last`, () => {
        const { q, k, v, expected, expectedLast } = once(`cc ${H}x${W}`, () => {
          const q = tensor([2, 4, H, W], 10 + index), k = tensor([2, 4, H, W], 20 + index), v = tensor([2, 6, H, W], 30 + index);
          const last = toChannelsLast({ data: Float32Array.from(referenceCrissCross(q, k, v, 0.5)), shape: [2, 6, H, W] }).data;
          return { q, k, v, expected: referenceCrissCross(q, k, v), expectedLast: last };
        });
        mode.select();
        const out = fa.crissCrossAttention(q, k, v);
        assert.deepEqual(out.shape, [2, 6, H, W]);
        const error = relFrobenius(out.data, expected);
        assert.ok(error <= TOLERANCE, `channels-first: relative error ${error}`);
        const last = fa.crissCrossAttention(toChannelsLast(q), toChannelsLast(k), toChannelsLast(v), { layout: 'channels-last', scale: 0.5 });
        assert.deepEqual(last.shape, [2, H, W, 6]);
        const errorLast = relFrobenius(last.data, expectedLast);
        assert.ok(errorLast <= TOLERANCE, `channels-last: relative error ${errorLast}`);
      });

      test(`axialAttention ${H}x${W} along height and width, causal and not (3 heads, D = 5, Dv = 3)`, () => {
        const { q, k, v, expected } = once(`axial ${H}x${W}`, () => {
          const q = tensor([2, 3, H, W, 5], 40 + index), k = tensor([2, 3, H, W, 5], 50 + index), v = tensor([2, 3, H, W, 3], 60 + index);
          const expected = {};
          for (const axis of ['height', 'width']) for (const causal of [false, true]) expected[`${axis} ${causal}`] = referenceAxial(q, k, v, axis, causal, 1 / Math.sqrt(5));
          return { q, k, v, expected };
        });
        mode.select();
        for (const axis of ['height', 'width']) {
          for (const causal of [false, true]) {
            const out = fa.axialAttention(q, k, v, { axis, causal });
            assert.deepEqual(out.shape, [2, 3, H, W, 3]);
            const error = relFrobenius(out.data, expected[`${axis} ${causal}`]);
            assert.ok(error <= TOLERANCE, `${axis}, causal ${causal}: relative error ${error}`);
          }
        }
      });
    });

    test('CrissCrossAttention layer: finite, and gamma = 0 returns x', () => {
      mode.select();
      const C = 16, conv = (cout, cin, seed) => ({ weight: tensor([cout, cin], seed, 1 / Math.sqrt(cin)).data, bias: tensor([cout], seed + 1, 0.1).data });
      const weights = { query_conv: conv(2, C, 70), key_conv: conv(2, C, 72), value_conv: conv(C, C, 74), gamma: Float32Array.of(0) };
      const x = tensor([1, C, 7, 9], 76);
      const out = new fa.CrissCrossAttention({ channels: C, weights }).forward(x);
      assert.deepEqual(Array.from(out.data), Array.from(x.data));
    });
  });
}
