/**
 * Every bad argument fails with its documented error class and whole message
 * (sharp's habit: the message is part of the API).
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionAsync, setThreads } from '../lib/index';
import type { AttentionOptions, Tensor } from '../lib/index';

type ErrorType = TypeErrorConstructor | RangeErrorConstructor;

function tensor(shape: number[]): Tensor {
  return { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape };
}

// Valid shapes: B=2, H=4, Hkv=2, Lq=3, Lk=5, D=8, Dv=6.
const q = () => tensor([2, 4, 3, 8]);
const k = () => tensor([2, 2, 5, 8]);
const v = () => tensor([2, 2, 5, 6]);

type Args = [Tensor, Tensor, Tensor, AttentionOptions?];

/** Arguments as untyped JS would pass them; a case may be run through attention or attentionAsync. */
function call(qx: unknown, kx: unknown, vx: unknown, opts?: unknown): () => Args {
  return () => [qx, kx, vx, opts] as Args;
}

function expectError(fn: () => unknown, Type: ErrorType, message: string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).not.toBeNull();
  expect((caught as Error).constructor).toBe(Type);
  expect((caught as Error).message).toBe(message);
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
    message: 'attention: expected q to be an object { data: Float32Array, shape: number[] } but received Float32Array',
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
    message: 'attention: expected q.shape to be an array of integers but received Int32Array',
  },
  {
    name: 'q has rank 2',
    args: call(tensor([3, 8]), k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape.length to be 3 or 4 but received 2',
  },
  {
    name: 'k has rank 5',
    args: call(q(), tensor([1, 2, 2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape.length to be 3 or 4 but received 5',
  },
  {
    name: 'a zero dim',
    args: call({ data: new Float32Array(0), shape: [2, 4, 0, 8] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape[2] to be an integer >= 1 but received 0',
  },
  {
    name: 'a negative dim',
    args: call(q(), k(), { data: new Float32Array(0), shape: [2, 2, -5, 6] }),
    type: RangeError,
    message: 'attention: expected v.shape[2] to be an integer >= 1 but received -5',
  },
  {
    name: 'a fractional dim',
    args: call({ data: new Float32Array(6), shape: [1, 1, 1.5, 4] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape[2] to be an integer >= 1 but received 1.5',
  },
  {
    name: 'a NaN dim',
    args: call({ data: new Float32Array(6), shape: [1, NaN, 1, 4] }, k(), v()),
    type: RangeError,
    message: 'attention: expected q.shape[1] to be an integer >= 1 but received NaN',
  },
  {
    name: 'an infinite dim',
    args: call(q(), { data: new Float32Array(6), shape: [1, 1, Infinity, 4] }, v()),
    type: RangeError,
    message: 'attention: expected k.shape[2] to be an integer >= 1 but received Infinity',
  },
  {
    name: 'a string dim',
    args: call({ data: new Float32Array(24), shape: [1, '2', 3, 4] }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.shape[1] to be an integer >= 1 but received "2"',
  },
  {
    name: 'q.data is a Float64Array',
    args: call({ data: new Float64Array(192), shape: [2, 4, 3, 8] }, k(), v()),
    type: TypeError,
    message: 'attention: expected q.data to be a Float32Array but received Float64Array',
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
    args: call(q(), tensor([2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape.length to equal q.shape.length (4) but received 3',
  },
  {
    name: 'v rank differs from q rank',
    args: call(tensor([4, 3, 8]), tensor([2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected v.shape.length to equal q.shape.length (3) but received 4',
  },
  {
    name: 'k batch differs',
    args: call(q(), tensor([1, 2, 5, 8]), v()),
    type: RangeError,
    message: 'attention: expected k.shape[0] to equal q.shape[0] (2) but received 1',
  },
  {
    name: 'v batch differs',
    args: call(q(), k(), tensor([3, 2, 5, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[0] to equal q.shape[0] (2) but received 3',
  },
  {
    name: 'v heads differ from k heads',
    args: call(q(), k(), tensor([2, 1, 5, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[1] to equal k.shape[1] (2) but received 1',
  },
  {
    name: 'kv heads do not divide query heads',
    args: call(q(), tensor([2, 3, 5, 8]), tensor([2, 3, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[1] to divide q.shape[1] (4) but received 3',
  },
  {
    name: 'kv heads exceed query heads',
    args: call(q(), tensor([2, 8, 5, 8]), tensor([2, 8, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[1] to divide q.shape[1] (4) but received 8',
  },
  {
    name: 'head size of k differs from q',
    args: call(q(), tensor([2, 2, 5, 7]), v()),
    type: RangeError,
    message: 'attention: expected k.shape[3] to equal q.shape[3] (8) but received 7',
  },
  {
    name: 'key length of v differs from k',
    args: call(q(), k(), tensor([2, 2, 4, 6])),
    type: RangeError,
    message: 'attention: expected v.shape[2] to equal k.shape[2] (5) but received 4',
  },
  {
    name: 'rank 3: names the rank-3 indices',
    args: call(tensor([4, 3, 64]), tensor([2, 5, 32]), tensor([2, 5, 6])),
    type: RangeError,
    message: 'attention: expected k.shape[2] to equal q.shape[2] (64) but received 32',
  },
  {
    name: 'output larger than 2**32 elements',
    args: call(tensor([1, 1, 65536, 1]), tensor([1, 1, 1, 1]), tensor([1, 1, 1, 131072])),
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
    message: 'attention: expected options keys to be among scale, causal, mask, out but received "casual"',
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
  ...[0, -0, -1, NaN, Infinity].map((scale) => ({
    name: `scale is ${Object.is(scale, -0) ? '-0' : scale}`,
    args: call(q(), k(), v(), { scale }),
    type: RangeError,
    message: `attention: expected scale to be a finite number > 0 but received ${Object.is(scale, -0) ? '-0' : scale}`,
  })),
  {
    name: 'causal is a number',
    args: call(q(), k(), v(), { causal: 1 }),
    type: TypeError,
    message: 'attention: expected causal to be a boolean but received 1',
  },
  {
    name: 'causal is a string',
    args: call(q(), k(), v(), { causal: 'true' }),
    type: TypeError,
    message: 'attention: expected causal to be a boolean but received "true"',
  },
  {
    name: 'mask is a Float32Array',
    args: call(q(), k(), v(), { mask: new Float32Array(15) }),
    type: TypeError,
    message: 'attention: expected mask to be an object { data: Float32Array, shape: number[] } but received Float32Array',
  },
  {
    name: 'mask has rank 1',
    args: call(q(), k(), v(), { mask: tensor([5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape.length to be 2, 3 or 4 but received 1',
  },
  {
    name: 'mask has rank 5',
    args: call(q(), k(), v(), { mask: tensor([1, 2, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape.length to be 2, 3 or 4 but received 5',
  },
  {
    name: 'mask.data is an Int8Array',
    args: call(q(), k(), v(), { mask: { data: new Int8Array(15), shape: [3, 5] } }),
    type: TypeError,
    message: 'attention: expected mask.data to be a Float32Array but received Int8Array',
  },
  {
    name: 'mask.data length differs from its shape',
    args: call(q(), k(), v(), { mask: { data: new Float32Array(14), shape: [3, 5] } }),
    type: RangeError,
    message: 'attention: expected mask.data.length to equal the product of mask.shape (15) but received 14',
  },
  {
    name: 'mask key dim differs from Lk',
    args: call(q(), k(), v(), { mask: tensor([3, 4]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to equal k.shape[2] (5) but received 4',
  },
  {
    name: 'mask key dim of 1 does not broadcast',
    args: call(q(), k(), v(), { mask: tensor([3, 1]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[1] to equal k.shape[2] (5) but received 1',
  },
  {
    name: 'mask query dim neither 1 nor Lq',
    args: call(q(), k(), v(), { mask: tensor([2, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[2] (3) but received 2',
  },
  {
    name: 'mask head dim neither 1 nor H',
    args: call(q(), k(), v(), { mask: tensor([2, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[1] (4) but received 2',
  },
  {
    name: 'mask batch dim neither 1 nor B',
    args: call(q(), k(), v(), { mask: tensor([3, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 or q.shape[0] (2) but received 3',
  },
  {
    name: 'mask batch dim with rank-3 inputs (B = 1)',
    args: call(tensor([4, 3, 8]), tensor([2, 5, 8]), tensor([2, 5, 6]), { mask: tensor([2, 4, 3, 5]) }),
    type: RangeError,
    message: 'attention: expected mask.shape[0] to be 1 but received 2',
  },
  {
    name: 'out is a Float64Array',
    args: call(q(), k(), v(), { out: new Float64Array(144) }),
    type: TypeError,
    message: 'attention: expected out to be a Float32Array but received Float64Array',
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

  it('lets q, k and v share one buffer (inputs are only read)', () => {
    const x = tensor([1, 2, 4, 8]);
    expect(() => attention(x, x, x)).not.toThrow();
  });
});

describe('attentionAsync()', () => {
  it.each([...tensorCases, ...relationCases, ...optionCases])(
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
