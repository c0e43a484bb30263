/**
 * Every bad argument fails with its documented error class and whole message
 * (sharp's habit: the message is part of the API).
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionAsync, explain, setThreads } from '../lib/index';
import type { AttentionOptions, Tensor } from '../lib/index';
import { describe as render } from '../lib/validate';
import { filledTensor, expectError, type ErrorType } from './helpers';

// Valid shapes: B=2, H=4, Hkv=2, Lq=3, Lk=5, D=8, Dv=6.
const q = () => filledTensor([2, 4, 3, 8]);
const k = () => filledTensor([2, 2, 5, 8]);
const v = () => filledTensor([2, 2, 5, 6]);

type Args = [Tensor, Tensor, Tensor, AttentionOptions?];

/** Arguments as untyped JS would pass them; a case may be run through attention or attentionAsync. */
function call(qx: unknown, kx: unknown, vx: unknown, opts?: unknown): () => Args {
  return () => [qx, kx, vx, opts] as Args;
}

interface Case {
  name: string;
  args: () => Args;
  type: ErrorType;
  message: string;
}

const tensorCases: Case[] = [
  {
    name: 'q is null',
    args: call(null, k(), v()),
    type: TypeError,
    message: 'attention: expected q to be an object { data: Float32Array, shape: number[] } but received null',
  },
  {
    name: 'q is a bare Float32Array',
    args: call(new Float32Array(4), k(), v()),
    type: TypeError,
    message: 'attention: expected q to be an object { data: Float32Array, shape: number[] } but received Float32Array [0, 0, 0, 0]',
  },
  {
    name: 'k is missing',
    args: call(q(), undefined, v()),
    type: TypeError,
    message: 'attention: expected k to be an object { data: Float32Array, shape: number[] } but received undefined',
  },
  {
    name: 'v is an array',
    args: call(q(), k(), []),
    type: TypeError,
    message: 'attention: expected v to be an object { data: Float32Array, shape: number[] } but received Array',
  },
  {
    name: 'q.shape is missing',
    args: call({ data: new Float32Array(4) }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.shape to be an array of integers but received undefined',
  },
  {
    name: 'q.shape is a typed array',
    args: call({ data: new Float32Array(4), shape: new Int32Array([1, 1, 2, 2]) }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.shape to be an array of integers but received Int32Array [1, 1, 2, 2]',
  },
  {
    name: 'q has rank 2',
    args: call(filledTensor([3, 8]), k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape.length to be 3 or 4 but received 2',
  },
  {
    name: 'k has rank 5',
    args: call(q(), filledTensor([1, 2, 2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape.length to be 3 or 4 but received 5',
  },
  {
    name: 'a zero head width D (zero Lq, B, Lk and Dv are accepted: test/empty.test.ts)',
    args: call({ data: new Float32Array(0), shape: [2, 4, 3, 0] }, filledTensor([2, 2, 5, 0]), v()),
    type: RangeError,
    message: 'attention: expected q.shape[3] (the width D of queries and keys) to be an integer >= 1 but received 0',
  },
  {
    name: 'a negative dim',
    args: call(q(), k(), { data: new Float32Array(0), shape: [2, 2, -5, 6] }),
    type: RangeError,
    message: 'attention: expected v.shape[2] to be an integer >= 0 but received -5',
  },
  {
    name: 'a fractional dim',
    args: call({ data: new Float32Array(6), shape: [1, 1, 1.5, 4] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape[2] to be an integer >= 0 but received 1.5',
  },
  {
    name: 'a NaN dim',
    args: call({ data: new Float32Array(6), shape: [1, NaN, 1, 4] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape[1] to be an integer >= 0 but received NaN',
  },
  {
    name: 'an infinite dim',
    args: call(q(), { data: new Float32Array(6), shape: [1, 1, Infinity, 4] }, v()),
    type: RangeError,
    message: 'attention: expected k.shape[2] to be an integer >= 0 but received Infinity',
  },
  {
    name: 'a string dim',
    args: call({ data: new Float32Array(24), shape: [1, '2', 3, 4] }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.shape[1] to be an integer >= 0 but received "2"',
  },
  {
    name: 'q.data is a Float64Array',
    args: call({ data: new Float64Array(192), shape: [2, 4, 3, 8] }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.data to be a Float32Array but received Float64Array(192)',
  },
  {
    name: 'k.data is a plain array',
    args: call(q(), { data: new Array(80).fill(0), shape: [2, 2, 5, 8] }, v()),
    type: TypeError,
    message: 'attention: expected k.data to be a Float32Array but received Array',
  },
  {
    name: 'q.data is missing',
    args: call({ shape: [2, 4, 3, 8] }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.data to be a Float32Array but received undefined',
  },
  {
    name: 'q.data is one element short',
    args: call({ data: new Float32Array(191), shape: [2, 4, 3, 8] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.data.length to equal the product of q.shape (192) but received 191',
  },
  {
    name: 'v.data is longer than its shape',
    args: call(q(), k(), { data: new Float32Array(121), shape: [2, 2, 5, 6] }),
    type: RangeError,
    message: 'attention: expected v.data.length to equal the product of v.shape (120) but received 121',
  },
  {
    name: 'more than 2**32 elements',
    args: call({ data: new Float32Array(1), shape: [65536, 65536, 2, 1] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape to describe at most 4294967296 elements but received 8589934592',
  },
];

const relationCases: Case[] = [
  {
    name: 'k rank differs from q rank',
    args: call(q(), filledTensor([2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape.length to equal q.shape.length (4) but received 3',
  },
  {
    name: 'v rank differs from q rank',
    args: call(filledTensor([4, 3, 8]), filledTensor([2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected v.shape.length to equal q.shape.length (3) but received 4',
  },
  {
    name: 'k batch differs',
    args: call(q(), filledTensor([1, 2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape[0] to equal q.shape[0] (2) but received 1',
  },
  {
    name: 'v batch differs',
    args: call(q(), k(), filledTensor([3, 2, 5, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[0] to equal q.shape[0] (2) but received 3',
  },
  {
    name: 'v heads differ from k heads',
    args: call(q(), k(), filledTensor([2, 1, 5, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[1] to equal k.shape[1] (2) but received 1',
  },
  {
    name: 'kv heads do not divide query heads',
    args: call(q(), filledTensor([2, 3, 5, 8]), filledTensor([2, 3, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[1] to divide q.shape[1] (4) but received 3',
  },
  {
    name: 'kv heads exceed query heads',
    args: call(q(), filledTensor([2, 8, 5, 8]), filledTensor([2, 8, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[1] to divide q.shape[1] (4) but received 8',
  },
  {
    name: 'head size of k differs from q',
    args: call(q(), filledTensor([2, 2, 5, 7]), v()),
    type: RangeError,
    message: 'attention: expected k.shape[3] to equal q.shape[3] (8) but received 7',
  },
  {
    name: 'key length of v differs from k',
    args: call(q(), k(), filledTensor([2, 2, 4, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[2] to equal k.shape[2] (5) but received 4',
  },
  {
    name: 'rank 3: names the rank-3 indices',
    args: call(filledTensor([4, 3, 64]), filledTensor([2, 5, 32]), filledTensor([2, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[2] to equal q.shape[2] (64) but received 32',
  },
  {
    name: 'output larger than 2**32 elements',
    args: call(filledTensor([1, 1, 65536, 1]), filledTensor([1, 1, 1, 1]), filledTensor([1, 1, 1, 131072])),
    type: RangeError,
    message: 'attention: expected the output B*H*Lq*Dv to have at most 4294967296 elements but received 8589934592',
  },
];

const optionCases: Case[] = [
  {
    name: 'options is null',
    args: call(q(), k(), v(), null),
    type: TypeError,
    message: 'attention: expected options to be an object but received null',
  },
  {
    name: 'options is a number',
    args: call(q(), k(), v(), 0.125),
    type: TypeError,
    message: 'attention: expected options to be an object but received 0.125',
  },
  {
    name: 'options is an array',
    args: call(q(), k(), v(), [true]),
    type: TypeError,
    message: 'attention: expected options to be an object but received Array',
  },
  {
    name: 'misspelt option',
    args: call(q(), k(), v(), { casual: true }),
    type: TypeError,
    message:
      'attention: expected options keys to be among scale, causal, mask, keyPadding, keyLengths, layout, window, alibiSlopes, softcap, returnLse, returnWeights, out but received "casual"',
  },
  {
    name: 'scale is a string',
    args: call(q(), k(), v(), { scale: '0.5' }),
    type: TypeError,
    message: 'attention: expected scale to be a number but received "0.5"',
  },
  {
    name: 'scale is null',
    args: call(q(), k(), v(), { scale: null }),
    type: TypeError,
    message: 'attention: expected scale to be a number but received null',
  },
  // Outside float32 (1e39 overflows it, 1e-46 rounds to 0, 2**-127 is subnormal): refused, so both backends agree.
  ...[0, -0, -1, NaN, Infinity, 1e39, 1e-46, 2 ** -127, 2 ** 127 * 1.0000001].map((scale) => ({
    name: `scale is ${Object.is(scale, -0) ? '-0' : scale}`,
    args: call(q(), k(), v(), { scale }),
    type: RangeError,
    message: `attention: expected scale to be a number from 2**-126 to 2**127 (the native kernels compute in float32) but received ${Object.is(scale, -0) ? '-0' : scale}`,
  })),
  {
    name: 'causal is a number',
    args: call(q(), k(), v(), { causal: 1 }),
    type: TypeError,
    message: 'attention: expected causal to be true, false or "top-left" but received 1',
  },
  {
    name: 'causal is a string',
    args: call(q(), k(), v(), { causal: 'true' }),
    type: TypeError,
    message: 'attention: expected causal to be true, false or "top-left" but received "true"',
  },
  {
    name: 'mask is a Float32Array',
    args: call(q(), k(), v(), { mask: new Float32Array(15) }),
    type: TypeError,
    message: 'attention: expected mask to be an object { data: Float32Array | Uint8Array, shape: number[] } but received Float32Array(15)',
  },
  {
    name: 'mask has rank 0',
    args: call(q(), k(), v(), { mask: { data: new Float32Array(1), shape: [] } }),
    type: RangeError,
    message: 'attention: expected mask.shape.length to be 1, 2, 3 or 4 but received 0',
  },
  {
    name: 'mask has rank 5',
    args: call(q(), k(), v(), { mask: filledTensor([1, 2, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape.length to be 1, 2, 3 or 4 but received 5',
  },
  {
    name: 'rank-1 mask neither 1 nor Lk',
    args: call(q(), k(), v(), { mask: filledTensor([4]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or k.shape[2] (5) but received 4',
  },
  {
    name: 'mask.data is an Int8Array',
    args: call(q(), k(), v(), { mask: { data: new Int8Array(15), shape: [3, 5] } }),
    type: TypeError,
    message: 'attention: expected mask.data to be a Float32Array (additive) or a Uint8Array (boolean) but received Int8Array(15)',
  },
  {
    name: 'mask.data length differs from its shape',
    args: call(q(), k(), v(), { mask: { data: new Float32Array(14), shape: [3, 5] } }),
    type: RangeError,
    message: 'attention: expected mask.data.length to equal the product of mask.shape (15) but received 14',
  },
  {
    name: 'mask key dim neither 1 nor Lk',
    args: call(q(), k(), v(), { mask: filledTensor([3, 4]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to be 1 or k.shape[2] (5) but received 4',
  },
  {
    name: 'mask query dim neither 1 nor Lq',
    args: call(q(), k(), v(), { mask: filledTensor([2, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[2] (3) but received 2',
  },
  {
    name: 'mask head dim neither 1 nor H',
    args: call(q(), k(), v(), { mask: filledTensor([2, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[1] (4) but received 2',
  },
  {
    name: 'mask batch dim neither 1 nor B',
    args: call(q(), k(), v(), { mask: filledTensor([3, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[0] (2) but received 3',
  },
  {
    name: 'mask batch dim with rank-3 inputs (B = 1)',
    args: call(filledTensor([4, 3, 8]), filledTensor([2, 5, 8]), filledTensor([2, 5, 6]), { mask: filledTensor([2, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 but received 2',
  },
  {
    name: 'out is a Float64Array',
    args: call(q(), k(), v(), { out: new Float64Array(144) }),
    type: TypeError,
    message: 'attention: expected out to be a Float32Array but received Float64Array(144)',
  },
  {
    name: 'out is null',
    args: call(q(), k(), v(), { out: null }),
    type: TypeError,
    message: 'attention: expected out to be a Float32Array but received null',
  },
  {
    name: 'out is one element short',
    args: call(q(), k(), v(), { out: new Float32Array(143) }),
    type: RangeError,
    message: 'attention: expected out.length to equal B*H*Lq*Dv (144) but received 143',
  },
  {
    name: 'out overlaps q.data',
    args: () => {
      const memory = new Float32Array(192 + 100);
      const qx = { data: memory.subarray(0, 192), shape: [2, 4, 3, 8] };
      return [qx, k(), v(), { out: memory.subarray(100, 244) }];
    },
    type: RangeError,
    message: 'attention: expected out not to share memory with q.data but received an overlapping view of the same buffer',
  },
  {
    name: 'out overlaps the mask',
    args: () => {
      const memory = new Float32Array(144 + 15);
      const mask = { data: memory.subarray(143, 158), shape: [3, 5] };
      return [q(), k(), v(), { mask, out: memory.subarray(0, 144) }];
    },
    type: RangeError,
    message: 'attention: expected out not to share memory with mask.data but received an overlapping view of the same buffer',
  },
];

// Layout 'blhd' shapes of the same sizes: q [B,Lq,H,D], k [B,Lk,Hkv,D], v [B,Lk,Hkv,Dv].
const qBlhd = () => filledTensor([2, 3, 4, 8]);
const kBlhd = () => filledTensor([2, 5, 2, 8]);
const vBlhd = () => filledTensor([2, 5, 2, 6]);

const bool = (shape: number[]) => ({ data: new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape });

const causalAndMaskCases: Case[] = [
  {
    name: 'causal is "bottom-right" (true is)',
    args: call(q(), k(), v(), { causal: 'bottom-right' }),
    type: TypeError,
    message: 'attention: expected causal to be true, false or "top-left" but received "bottom-right"',
  },
  {
    name: 'causal is null',
    args: call(q(), k(), v(), { causal: null }),
    type: TypeError,
    message: 'attention: expected causal to be true, false or "top-left" but received null',
  },
  {
    name: 'mask is a bare Uint8Array',
    args: call(q(), k(), v(), { mask: new Uint8Array(15) }),
    type: TypeError,
    message: 'attention: expected mask to be an object { data: Float32Array | Uint8Array, shape: number[] } but received Uint8Array(15)',
  },
  {
    name: 'mask.data is a Uint8ClampedArray',
    args: call(q(), k(), v(), { mask: { data: new Uint8ClampedArray(15), shape: [3, 5] } }),
    type: TypeError,
    message: 'attention: expected mask.data to be a Float32Array (additive) or a Uint8Array (boolean) but received Uint8ClampedArray(15)',
  },
  {
    name: 'boolean mask data length differs from its shape',
    args: call(q(), k(), v(), { mask: { data: new Uint8Array(16), shape: [3, 5] } }),
    type: RangeError,
    message: 'attention: expected mask.data.length to equal the product of mask.shape (15) but received 16',
  },
  {
    name: 'boolean mask key dim neither 1 nor Lk',
    args: call(q(), k(), v(), { mask: bool([2, 1, 1, 4]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[3] to be 1 or k.shape[2] (5) but received 4',
  },
  {
    name: 'boolean mask head dim neither 1 nor H',
    args: call(q(), k(), v(), { mask: bool([2, 2, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to be 1 or q.shape[1] (4) but received 2',
  },
];

const layoutCases: Case[] = [
  {
    name: 'layout is unknown',
    args: call(q(), k(), v(), { layout: 'bhdl' }),
    type: TypeError,
    message: 'attention: expected layout to be "bhld" or "blhd" but received "bhdl"',
  },
  {
    name: 'layout is upper case',
    args: call(q(), k(), v(), { layout: 'BLHD' }),
    type: TypeError,
    message: 'attention: expected layout to be "bhld" or "blhd" but received "BLHD"',
  },
  {
    name: 'layout is null',
    args: call(q(), k(), v(), { layout: null }),
    type: TypeError,
    message: 'attention: expected layout to be "bhld" or "blhd" but received null',
  },
  {
    name: 'layout "blhd" with [B,H,L,D] tensors: names the blhd axes',
    args: call(q(), k(), v(), { layout: 'blhd' }),
    type: RangeError,
    message: 'attention: expected k.shape[2] to divide q.shape[2] (3) but received 5',
  },
  {
    name: 'layout "blhd": key length of v differs from k',
    args: call(qBlhd(), kBlhd(), filledTensor([2, 4, 2, 6]), { layout: 'blhd' }),
    type: RangeError,
    message: 'attention: expected v.shape[1] to equal k.shape[1] (5) but received 4',
  },
  {
    name: 'layout "blhd": kv heads differ between k and v',
    args: call(qBlhd(), kBlhd(), filledTensor([2, 5, 1, 6]), { layout: 'blhd' }),
    type: RangeError,
    message: 'attention: expected v.shape[2] to equal k.shape[2] (2) but received 1',
  },
  {
    name: 'layout "blhd", rank 3: head size of k differs from q',
    args: call(filledTensor([3, 4, 8]), filledTensor([5, 2, 7]), filledTensor([5, 2, 6]), { layout: 'blhd' }),
    type: RangeError,
    message: 'attention: expected k.shape[2] to equal q.shape[2] (8) but received 7',
  },
  {
    name: 'layout "blhd" with a mask in [B, Lq, H, Lk] order',
    args: call(qBlhd(), kBlhd(), vBlhd(), { layout: 'blhd', mask: filledTensor([2, 3, 4, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to be 1 or q.shape[2] (4), as masks are [B, H, Lq, Lk] in layout "blhd" too, but received 3',
  },
  {
    name: 'layout "blhd" with a boolean mask of the wrong key length',
    args: call(qBlhd(), kBlhd(), vBlhd(), { layout: 'blhd', mask: bool([3, 4]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to be 1 or k.shape[1] (5), as masks are [B, H, Lq, Lk] in layout "blhd" too, but received 4',
  },
  {
    name: 'layout "blhd" with a mask query dim neither 1 nor Lq',
    args: call(qBlhd(), kBlhd(), vBlhd(), { layout: 'blhd', mask: filledTensor([4, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[1] (3), as masks are [B, H, Lq, Lk] in layout "blhd" too, but received 4',
  },
  {
    name: 'layout "blhd" with a short out',
    args: call(qBlhd(), kBlhd(), vBlhd(), { layout: 'blhd', out: new Float32Array(143) }),
    type: RangeError,
    message: 'attention: expected out.length to equal B*H*Lq*Dv (144) but received 143',
  },
];

const keyCases: Case[] = [
  {
    name: 'keyPadding is an Int8Array',
    args: call(q(), k(), v(), { keyPadding: new Int8Array(10) }),
    type: TypeError,
    message: 'attention: expected keyPadding to be a Uint8Array but received Int8Array(10)',
  },
  {
    name: 'keyPadding is a plain array',
    args: call(q(), k(), v(), { keyPadding: new Array(10).fill(1) }),
    type: TypeError,
    message: 'attention: expected keyPadding to be a Uint8Array but received Array',
  },
  {
    name: 'keyPadding is a tensor object',
    args: call(q(), k(), v(), { keyPadding: bool([2, 5]) }),
    type: TypeError,
    message: 'attention: expected keyPadding to be a Uint8Array but received Object',
  },
  {
    name: 'keyPadding has B*Lk - 1 flags',
    args: call(q(), k(), v(), { keyPadding: new Uint8Array(9) }),
    type: RangeError,
    message: 'attention: expected keyPadding.length to equal B*Lk (10) but received 9',
  },
  {
    name: 'keyPadding has Lk flags with B = 2',
    args: call(q(), k(), v(), { keyPadding: new Uint8Array(5) }),
    type: RangeError,
    message: 'attention: expected keyPadding.length to equal B*Lk (10) but received 5',
  },
  {
    name: 'keyLengths is a Uint32Array',
    args: call(q(), k(), v(), { keyLengths: new Uint32Array([5, 5]) }),
    type: TypeError,
    message: 'attention: expected keyLengths to be an Int32Array but received Uint32Array [5, 5]',
  },
  {
    name: 'keyLengths is a plain array',
    args: call(q(), k(), v(), { keyLengths: [5, 5] }),
    type: TypeError,
    message: 'attention: expected keyLengths to be an Int32Array but received Array',
  },
  {
    name: 'keyLengths has the wrong length',
    args: call(q(), k(), v(), { keyLengths: new Int32Array([5]) }),
    type: RangeError,
    message: 'attention: expected keyLengths.length to equal B (2) but received 1',
  },
  {
    name: 'keyLengths above Lk',
    args: call(q(), k(), v(), { keyLengths: new Int32Array([5, 6]) }),
    type: RangeError,
    message: 'attention: expected keyLengths[1] to be an integer from 0 to Lk (5) but received 6',
  },
  {
    name: 'keyLengths negative',
    args: call(q(), k(), v(), { keyLengths: new Int32Array([-1, 2]) }),
    type: RangeError,
    message: 'attention: expected keyLengths[0] to be an integer from 0 to Lk (5) but received -1',
  },
  {
    name: 'keyLengths with rank-3 inputs (B = 1)',
    args: call(filledTensor([4, 3, 8]), filledTensor([2, 5, 8]), filledTensor([2, 5, 6]), { keyLengths: new Int32Array([5, 5]) }),
    type: RangeError,
    message: 'attention: expected keyLengths.length to equal B (1) but received 2',
  },
];

const windowCases: Case[] = [
  {
    name: 'window is a number',
    args: call(q(), k(), v(), { window: 3 }),
    type: TypeError,
    message: 'attention: expected window to be an array [left, right] of integers >= -1 but received 3',
  },
  {
    name: 'window is an Int32Array',
    args: call(q(), k(), v(), { window: new Int32Array([1, 1]) }),
    type: TypeError,
    message: 'attention: expected window to be an array [left, right] of integers >= -1 but received Int32Array [1, 1]',
  },
  {
    name: 'window has one bound',
    args: call(q(), k(), v(), { window: [4] }),
    type: RangeError,
    message: 'attention: expected window.length to be 2 but received 1',
  },
  {
    name: 'window has three bounds',
    args: call(q(), k(), v(), { window: [1, 2, 3] }),
    type: RangeError,
    message: 'attention: expected window.length to be 2 but received 3',
  },
  {
    name: 'window bound is a string',
    args: call(q(), k(), v(), { window: ['1', 0] }),
    type: TypeError,
    message: 'attention: expected window[0] to be an integer >= -1 but received "1"',
  },
  {
    name: 'window bound is null',
    args: call(q(), k(), v(), { window: [2, null] }),
    type: TypeError,
    message: 'attention: expected window[1] to be an integer >= -1 but received null',
  },
  ...[-2, 1.5, NaN, Infinity].map((bound) => ({
    name: `window bound is ${bound}`,
    args: call(q(), k(), v(), { window: [3, bound] }),
    type: RangeError,
    message: `attention: expected window[1] to be an integer >= -1 but received ${bound}`,
  })),
];

const scoreCases: Case[] = [
  {
    name: 'alibiSlopes is a Float64Array',
    args: call(q(), k(), v(), { alibiSlopes: new Float64Array(4) }),
    type: TypeError,
    message: 'attention: expected alibiSlopes to be a Float32Array but received Float64Array [0, 0, 0, 0]',
  },
  {
    name: 'alibiSlopes is a plain array',
    args: call(q(), k(), v(), { alibiSlopes: [0.5, 0.25, 0.125, 0.0625] }),
    type: TypeError,
    message: 'attention: expected alibiSlopes to be a Float32Array but received Array',
  },
  {
    name: 'alibiSlopes has Hkv slopes instead of H',
    args: call(q(), k(), v(), { alibiSlopes: new Float32Array(2) }),
    type: RangeError,
    message: 'attention: expected alibiSlopes.length to equal H (4) but received 2',
  },
  {
    name: 'alibiSlopes holds NaN',
    args: call(q(), k(), v(), { alibiSlopes: new Float32Array([0.5, NaN, 0.1, 0.1]) }),
    type: RangeError,
    message: 'attention: expected |alibiSlopes[1]| to be at most 2**127 / (Lq + Lk) = 2.1267647932558654e+37 (slope times a key distance must stay finite in float32) but received NaN',
  },
  {
    name: 'alibiSlopes holds Infinity',
    args: call(q(), k(), v(), { alibiSlopes: new Float32Array([0.5, 0.5, 0.1, Infinity]) }),
    type: RangeError,
    message: 'attention: expected |alibiSlopes[3]| to be at most 2**127 / (Lq + Lk) = 2.1267647932558654e+37 (slope times a key distance must stay finite in float32) but received Infinity',
  },
  {
    name: 'alibiSlopes holds -3e38 (finite, but slope times distance overflows float32)',
    args: call(q(), k(), v(), { alibiSlopes: new Float32Array([0.5, 0.5, -3e38, 0.1]) }),
    type: RangeError,
    message: 'attention: expected |alibiSlopes[2]| to be at most 2**127 / (Lq + Lk) = 2.1267647932558654e+37 (slope times a key distance must stay finite in float32) but received -3.0000000054977558e+38',
  },
  {
    name: 'alibiSlopes just past 2**127 / (Lq + Lk)',
    args: call(q(), k(), v(), { alibiSlopes: new Float32Array([0.5, 2 ** 124 * 1.001, 0.1, 0.1]) }),
    type: RangeError,
    message: `attention: expected |alibiSlopes[1]| to be at most 2**127 / (Lq + Lk) = 2.1267647932558654e+37 (slope times a key distance must stay finite in float32) but received ${Math.fround(2 ** 124 * 1.001)}`,
  },
  {
    name: 'softcap is a string',
    args: call(q(), k(), v(), { softcap: '30' }),
    type: TypeError,
    message: 'attention: expected softcap to be a number but received "30"',
  },
  {
    name: 'softcap is null',
    args: call(q(), k(), v(), { softcap: null }),
    type: TypeError,
    message: 'attention: expected softcap to be a number but received null',
  },
  ...[0, -0, -30, NaN, Infinity, 1e39, 1e-46, 2 ** -127, 2 ** 127 * 1.0000001].map((softcap) => ({
    name: `softcap is ${Object.is(softcap, -0) ? '-0' : softcap}`,
    args: call(q(), k(), v(), { softcap }),
    type: RangeError,
    message: `attention: expected softcap to be a number from 2**-126 to 2**127 (the native kernels compute in float32) but received ${Object.is(softcap, -0) ? '-0' : softcap}`,
  })),
];

const outputCases: Case[] = [
  {
    name: 'returnLse is a string',
    args: call(q(), k(), v(), { returnLse: 'yes' }),
    type: TypeError,
    message: 'attention: expected returnLse to be a boolean but received "yes"',
  },
  {
    name: 'returnLse is 1',
    args: call(q(), k(), v(), { returnLse: 1 }),
    type: TypeError,
    message: 'attention: expected returnLse to be a boolean but received 1',
  },
  {
    name: 'returnLse is null',
    args: call(q(), k(), v(), { returnLse: null }),
    type: TypeError,
    message: 'attention: expected returnLse to be a boolean but received null',
  },
  {
    name: 'returnWeights is a number',
    args: call(q(), k(), v(), { returnWeights: 0 }),
    type: TypeError,
    message: 'attention: expected returnWeights to be a boolean but received 0',
  },
  {
    name: 'returnWeights above 2**28 weights',
    args: call(filledTensor([1, 1, 16384, 1]), filledTensor([1, 1, 16385, 1]), filledTensor([1, 1, 16385, 1]), { returnWeights: true }),
    type: RangeError,
    message:
      'attention: expected B*H*Lq*Lk to be at most 268435456 with returnWeights, which materialises the weights (leave it off, or use returnLse, for calls this large), but received 268451840',
  },
  {
    name: 'misspelt new option',
    args: call(q(), k(), v(), { return_lse: true }),
    type: TypeError,
    message:
      'attention: expected options keys to be among scale, causal, mask, keyPadding, keyLengths, layout, window, alibiSlopes, softcap, returnLse, returnWeights, out but received "return_lse"',
  },
  {
    name: 'option named like a PyTorch argument',
    args: call(q(), k(), v(), { is_causal: true }),
    type: TypeError,
    message:
      'attention: expected options keys to be among scale, causal, mask, keyPadding, keyLengths, layout, window, alibiSlopes, softcap, returnLse, returnWeights, out but received "is_causal"',
  },
  {
    name: 'out overlaps keyPadding',
    args: () => {
      const memory = new ArrayBuffer(144 * 4 + 16);
      const keyPadding = new Uint8Array(memory, 144 * 4 - 4, 10);
      return [q(), k(), v(), { keyPadding, out: new Float32Array(memory, 0, 144) }];
    },
    type: RangeError,
    message: 'attention: expected out not to share memory with keyPadding but received an overlapping view of the same buffer',
  },
  {
    name: 'out overlaps a boolean mask',
    args: () => {
      const memory = new ArrayBuffer(144 * 4);
      const mask = { data: new Uint8Array(memory, 0, 15), shape: [3, 5] };
      return [q(), k(), v(), { mask, out: new Float32Array(memory, 0, 144) }];
    },
    type: RangeError,
    message: 'attention: expected out not to share memory with mask.data but received an overlapping view of the same buffer',
  },
];

const newOptionCases = [...causalAndMaskCases, ...layoutCases, ...keyCases, ...windowCases, ...scoreCases, ...outputCases];

const threadCases = [
  ...[0, 257, 1.5, -1, NaN].map((n) => ({
    name: `setThreads(${n})`,
    fn: () => setThreads(n),
    type: RangeError,
    message: `setThreads: expected n to be an integer from 1 to 256 but received ${n}`,
  })),
  {
    name: 'setThreads("4")',
    fn: () => setThreads('4' as unknown as number),
    type: TypeError,
    message: 'setThreads: expected n to be a number but received "4"',
  },
];

const run = (args: () => Args) => () => attention(...args());

describe('attention() rejects bad tensors', () => {
  it.each(tensorCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
});

describe('attention() rejects tensors that do not fit together', () => {
  it.each(relationCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
});

describe('attention() rejects bad options', () => {
  it.each(optionCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
});

describe('attention() rejects bad new options', () => {
  describe('causal and mask kinds', () => {
    it.each(causalAndMaskCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
  describe('layout', () => {
    it.each(layoutCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
  describe('keyPadding and keyLengths', () => {
    it.each(keyCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
  describe('window', () => {
    it.each(windowCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
  describe('alibiSlopes and softcap', () => {
    it.each(scoreCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
  describe('returnLse, returnWeights, unknown keys and overlaps', () => {
    it.each(outputCases)('$name', ({ args, type, message }) => expectError(run(args), type, message));
  });
});

describe('explain() checks exactly as attention() does', () => {
  it.each([...tensorCases, ...relationCases, ...optionCases, ...newOptionCases])('$name', ({ args, type, message }) =>
    expectError(() => explain(...args()), type, message),
  );
});

describe('setThreads() rejects bad counts', () => {
  it.each(threadCases)('$name', ({ fn, type, message }) => expectError(fn, type, message));
});

describe('accepted edge cases', () => {
  it('accepts undefined options, undefined option values and a null mask', () => {
    expect(() => attention(q(), k(), v())).not.toThrow();
    expect(() =>
      attention(q(), k(), v(), { scale: undefined, causal: undefined, mask: undefined, out: undefined }),
    ).not.toThrow();
    expect(() => attention(q(), k(), v(), { mask: null })).not.toThrow();
  });

  it('accepts an out that shares a buffer with an input without overlapping it', () => {
    const memory = new Float32Array(192 + 144);
    const qx = { data: memory.subarray(0, 192), shape: [2, 4, 3, 8] };
    const out = memory.subarray(192);
    expect(attention(qx, k(), v(), { out }).data).toBe(out);
  });

  it('accepts every new option undefined, and null where "none" is meant', () => {
    const none = {
      keyPadding: undefined,
      keyLengths: undefined,
      layout: undefined,
      window: undefined,
      alibiSlopes: undefined,
      softcap: undefined,
      returnLse: undefined,
      returnWeights: undefined,
    };
    expect(() => attention(q(), k(), v(), none)).not.toThrow();
    expect(() => attention(q(), k(), v(), { keyPadding: null, keyLengths: null, window: null, alibiSlopes: null })).not.toThrow();
  });

  it('accepts keyPadding and keyLengths together, window bounds of -1 and far beyond L, keyLengths of 0 and Lk', () => {
    const keyPadding = new Uint8Array(10).fill(1);
    const keyLengths = new Int32Array([0, 5]);
    expect(() => attention(q(), k(), v(), { keyPadding, keyLengths, causal: 'top-left' })).not.toThrow();
    expect(() => attention(q(), k(), v(), { window: [-1, -1] })).not.toThrow();
    expect(() => attention(q(), k(), v(), { window: [2 ** 40, 0], causal: true })).not.toThrow();
  });

  it('accepts a boolean mask, a layout "blhd" call and rank-3 "blhd" inputs', () => {
    expect(() => attention(q(), k(), v(), { mask: bool([2, 1, 3, 5]) })).not.toThrow();
    expect(attention(qBlhd(), kBlhd(), vBlhd(), { layout: 'blhd', mask: bool([2, 4, 3, 5]) }).shape).toEqual([2, 3, 4, 6]);
    expect(attention(filledTensor([3, 4, 8]), filledTensor([5, 2, 8]), filledTensor([5, 2, 6]), { layout: 'blhd' }).shape).toEqual([3, 4, 6]);
  });

  it('accepts returnLse and returnWeights false, giving a plain tensor', () => {
    const result = attention(q(), k(), v(), { returnLse: false, returnWeights: false });
    expect(Object.keys(result).sort()).toEqual(['data', 'shape']);
  });

  it('lets q, k and v share one buffer (inputs are only read)', () => {
    const x = filledTensor([1, 2, 4, 8]);
    expect(() => attention(x, x, x)).not.toThrow();
  });
});

describe('attentionAsync()', () => {
  it.each([...tensorCases, ...relationCases, ...optionCases, ...newOptionCases])(
    'rejects, never throws: $name',
    async ({ args, type, message }) => {
      let promise: Promise<unknown> = Promise.resolve();
      expect(() => {
        promise = attentionAsync(...args());
      }).not.toThrow();
      const err = (await promise.then(
        () => null,
        (reason: unknown) => reason,
      )) as Error | null;
      expect(err).not.toBeNull();
      expect(err!.constructor).toBe(type);
      expect(err!.message).toBe(message);
    },
  );

  it('resolves with the same result as attention()', async () => {
    const qx = { data: Float32Array.from({ length: 192 }, (_, i) => Math.sin(i)), shape: [2, 4, 3, 8] };
    const kx = { data: Float32Array.from({ length: 160 }, (_, i) => Math.cos(i)), shape: [2, 2, 5, 8] };
    const vx = { data: Float32Array.from({ length: 120 }, (_, i) => i / 120), shape: [2, 2, 5, 6] };
    const sync = attention(qx, kx, vx, { causal: true });
    const result = await attentionAsync(qx, kx, vx, { causal: true });
    expect(result.shape).toEqual([2, 4, 3, 6]);
    expect(Array.from(result.data)).toEqual(Array.from(sync.data));
  });
});

describe('describe(): how a received value is rendered', () => {
  it.each([
    [Float32Array.of(Number.NaN), 'Float32Array [NaN]'],
    [Float32Array.of(1.5, -0, Infinity, -2), 'Float32Array [1.5, -0, Infinity, -2]'],
    [new Float32Array(5), 'Float32Array(5)'],
    [new Uint8Array(0), 'Uint8Array []'],
    [Int32Array.of(7), 'Int32Array [7]'],
    [BigInt64Array.of(3n), 'BigInt64Array [3n]'],
    [new Float64Array(192), 'Float64Array(192)'],
    [[1, 2], 'Array'],
    [new DataView(new ArrayBuffer(4)), 'DataView'],
    [{ data: 1 }, 'Object'],
    ['x', '"x"'],
    [-0, '-0'],
  ])('%#: %s', (value, rendered) => {
    expect(render(value)).toBe(rendered);
  });

  it('a short typed array says its values: an alibi slope of NaN is visible in the message', () => {
    expectError(
      () => attention(q(), k(), v(), { alibiSlopes: Float64Array.of(1, Number.NaN, 2, 3) as never }),
      TypeError,
      'attention: expected alibiSlopes to be a Float32Array but received Float64Array [1, NaN, 2, 3]',
    );
  });
});
