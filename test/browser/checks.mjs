// Runs in headless Chromium (scripts/browser-check.js opens page.html?scenario=<name>):
// imports the browser entry (dist/browser.mjs), awaits init(), and checks backend(),
// attention (causal, masks, GQA, layouts, decode), attentionAsync, MultiHeadAttention,
// KvCache decode steps and linear against the float64 oracle of test/oracle/, computed
// here in the page. Leaves its report in window.__report for the runner.
//
// Scenarios: the engine as it is, or made to look like an older or locked-down one
// before the package loads (the loader asks WebAssembly.validate which build it can run).
import { referenceAttention, referenceAttentionFull, lseError } from '../oracle/attention.mjs';
import { referenceLinear } from '../oracle/linear.mjs';
import { additiveMask, alibi, boolMask, caseInputs, flags, positions, randomTensor as tensor, roundBf16 } from '../oracle/inputs.mjs';
import { randn } from '../oracle/prng.mjs';
import { checkList, expectClose as expectCloseWithin } from '../oracle/checks.mjs';
import { badCallOutcomes } from './bad-calls.mjs';

const TOLERANCE = 1e-5;
const scenario = new URLSearchParams(location.search).get('scenario') ?? 'relaxed';
const NO_SIMD = 'this browser has no WebAssembly SIMD';

/** What each scenario changes before the package loads, how init() is called, and the backend it must pick. */
const SCENARIOS = {
  relaxed: { full: true, expect: { name: 'wasm', isa: 'relaxed-simd', reason: 'a browser has no native addon' } },
  simd128: {
    full: true,
    // An engine without relaxed SIMD: validate() refuses the relaxed-swizzle opcode (0xfd 0x80 0x02) of the loader's probe.
    prepare: () => {
      const validate = WebAssembly.validate.bind(WebAssembly);
      WebAssembly.validate = (bytes) => !containsBytes(new Uint8Array(bytes), [0xfd, 0x80, 0x02]) && validate(bytes);
    },
    expect: { name: 'wasm', isa: 'simd128', reason: 'a browser has no native addon' },
  },
  'no-simd': { full: true, prepare: () => (WebAssembly.validate = () => false), expect: { name: 'js', isa: 'js', reason: NO_SIMD } },
  'no-wasm': { prepare: () => delete globalThis.WebAssembly, expect: { name: 'js', isa: 'js', reason: NO_SIMD } },
  'wasm-base': { init: () => ({ wasmBase: new URL('/dist', location.href) }), expect: { name: 'wasm', isa: 'relaxed-simd', reason: 'a browser has no native addon' } },
  'missing-wasm': {
    init: () => ({ wasmBase: '/no-such-folder/' }),
    expect: { name: 'js', isa: 'js', reason: `the WebAssembly module failed to load: GET ${new URL('/no-such-folder/fused_attention.wasm', location.href)} answered 404 Not Found` },
    warns: true,
  },
};

function containsBytes(haystack, needle) {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const { checks, check } = checkList();
const expectClose = (what, actual, expected) => expectCloseWithin(what, actual, expected, TOLERANCE);

function expectEqual(what, actual, expected) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

function sameBits(a, b) {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((bits, i) => bits === y[i]);
}

const setup = SCENARIOS[scenario];
if (setup === undefined) throw new Error(`unknown scenario ${scenario}`);
const warnings = [];
const warn = console.warn.bind(console);
console.warn = (...args) => {
  warnings.push(args.join(' '));
  warn(...args);
};
setup.prepare?.();
const fa = await import('../../dist/browser.mjs');
const q0 = tensor([1, 2, 3, 8], 1), k0 = tensor([1, 2, 5, 8], 2), v0 = tensor([1, 2, 5, 8], 3);

check('a call before init() has finished throws, saying to await init()', () => {
  try {
    fa.attention(q0, k0, v0);
  } catch (err) {
    expectEqual('the error', err.message, 'fused-attention: await init() before the first call: the browser build loads its WebAssembly module asynchronously');
    return;
  }
  throw new Error('attention() before init() did not throw');
});

check(`init() resolves to backend(): ${setup.expect.name} ${setup.expect.isa}`, async () => {
  const options = setup.init?.();
  const first = fa.init(options);
  const again = fa.init(options);
  const info = await first;
  expectEqual('init()', info, { name: setup.expect.name, isa: setup.expect.isa, threads: 1, reason: setup.expect.reason });
  expectEqual('backend()', fa.backend(), info);
  expectEqual('a second init()', await again, info);
  expectEqual('console.warn', warnings.length, setup.warns ? 1 : 0);
  if (setup.warns && !warnings[0].startsWith(`fused-attention: using the slower pure-TypeScript backend: ${setup.expect.reason}`)) throw new Error(`warned: ${warnings[0]}`);
  fa.setThreads(1);
  fa.setThreads(8); // checked, then without effect
  expectEqual('backend().threads after setThreads(8)', fa.backend().threads, 1);
  return info.reason;
});

check('explain() names the backend and ISA', () => {
  const plan = fa.explain(q0, k0, v0);
  expectEqual('explain()', [plan.backend, plan.isa], [setup.expect.name, setup.expect.isa]);
  return `path ${plan.path}`;
});

check('attention: B = 2, H = 2, L = 17, D = 16, against the float64 oracle', () => {
  const q = tensor([2, 2, 17, 16], 11), k = tensor([2, 2, 17, 16], 12), v = tensor([2, 2, 17, 16], 13);
  return expectClose('out', fa.attention(q, k, v).data, referenceAttention(q, k, v));
});

if (setup.full) {
  const cases = [
    { name: 'L = 129, D = 64 (two key blocks)', dims: { B: 1, H: 2, Lq: 129, Lk: 129, D: 64 } },
    { name: 'Dv != D, Lq != Lk', dims: { B: 2, H: 3, Lq: 33, Lk: 40, D: 16, Dv: 10 } },
    { name: 'causal, Lq = 17 < Lk = 129, D = 80', dims: { Lq: 17, Lk: 129, D: 80 }, options: () => ({ causal: true }) },
    { name: 'causal top-left, Lq = 129 > Lk = 17 (rows that see nothing: zeros)', dims: { Lq: 129, Lk: 17, D: 16, Dv: 7 }, options: () => ({ causal: 'top-left' }) },
    { name: 'additive mask [Lq, Lk] with -Infinity holes', dims: { Lq: 65, Lk: 129, D: 64 }, options: (d) => ({ mask: additiveMask([d.Lq, d.Lk], 40) }) },
    { name: 'boolean mask [B, 1, Lq, Lk] + causal, GQA 4/2', dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 24 }, options: (d) => ({ mask: boolMask([d.B, 1, d.Lq, d.Lk], 43), causal: true }) },
    { name: 'keyPadding + keyLengths', dims: { B: 2, Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ keyPadding: flags(d.B * d.Lk, 45), keyLengths: Int32Array.from([100, 7]) }) },
    { name: 'GQA H = 8, Hkv = 2, causal', dims: { B: 2, H: 8, Hkv: 2, Lq: 40, Lk: 90, D: 64 }, options: () => ({ causal: true }) },
    { name: 'layout blhd, GQA 8/2, Dv = 7', dims: { H: 8, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 7 }, layout: 'blhd' },
    { name: 'window [16, -1] + ALiBi + softcap', dims: { H: 4, Lq: 129, Lk: 129, D: 32 }, amplitude: 3, options: (d) => ({ window: [16, -1], alibiSlopes: alibi(d.H), softcap: 5 }) },
    { name: 'decode Lq = 1, Lk = 2000 (split keys), GQA 8/2, keyLengths', dims: { H: 8, Hkv: 2, Lq: 1, Lk: 2000, D: 64, Dv: 80 }, layout: 'blhd', options: () => ({ keyLengths: Int32Array.from([2000, 700]) }) },
  ];
  cases.forEach((c, index) => {
    check(`attention: ${c.name}, out and lse`, () => {
      const { q, k, v, options, outShape } = caseInputs(c, 1000 + 17 * index);
      const reference = referenceAttentionFull(q, k, v, options);
      const result = fa.attention(q, k, v, { ...options, returnLse: true });
      expectEqual('shape', result.shape, outShape);
      const out = expectClose('out', result.data, reference.out);
      const lse = lseError(result.lse.data, reference.lse);
      if (!(lse <= TOLERANCE)) throw new Error(`lse: relative error ${lse}`);
      return `out ${out.toExponential(1)}, lse ${lse.toExponential(1)}`;
    });
  });

  check('attentionAsync: 268 MFLOP (a worker call on Node) resolves to the bits of attention()', async () => {
    const q = tensor([1, 4, 512, 64], 21), k = tensor([1, 4, 512, 64], 22), v = tensor([1, 4, 512, 64], 23);
    const sync = fa.attention(q, k, v, { causal: true });
    const pending = fa.attentionAsync(q, k, v, { causal: true });
    if (!(pending instanceof Promise)) throw new Error('attentionAsync did not return a promise');
    const result = await pending;
    if (!sameBits(result.data, sync.data)) throw new Error('attentionAsync and attention differ');
    return expectClose('out', result.data, referenceAttention(q, k, v, { causal: true }));
  });

  check('attentionAsync: an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const outcome = await fa.attentionAsync(q0, k0, v0, { signal: controller.signal }).then(() => 'resolved', (err) => err.message);
    expectEqual('outcome', outcome, 'stop');
  });
}

const dModel = 24, H = 4, Hkv = 2, D = 6;
const w = (o, i, seed) => randn(o * i, seed).map((x) => x / Math.sqrt(i));
const weights = { wq: w(H * D, dModel, 7), wk: w(Hkv * D, dModel, 8), wv: w(Hkv * D, dModel, 9), wo: w(dModel, H * D, 10), bq: randn(H * D, 11), bo: randn(dModel, 12) };

/** The float64 MultiHeadAttention of x (queries) over src (keys, values). */
function referenceMha(x, src, B, Lq, L, causal) {
  const f32 = (a) => Float32Array.from(a);
  const q = f32(referenceLinear(x.data, B * Lq, dModel, weights.wq, H * D, weights.bq));
  const k = f32(referenceLinear(src.data, B * L, dModel, weights.wk, Hkv * D, null));
  const v = f32(referenceLinear(src.data, B * L, dModel, weights.wv, Hkv * D, null));
  const o = referenceAttention({ data: q, shape: [B, Lq, H, D] }, { data: k, shape: [B, L, Hkv, D] }, { data: v, shape: [B, L, Hkv, D] }, { layout: 'blhd', causal });
  return referenceLinear(o, B * Lq, H * D, weights.wo, dModel, weights.bo);
}

check('MultiHeadAttention.forward: self attention (causal) and cross attention, GQA 4/2', () => {
  const B = 2, Lq = 9, Lk = 13;
  const mha = new fa.MultiHeadAttention({ dModel, numHeads: H, numKvHeads: Hkv, weights });
  const x = tensor([B, Lq, dModel], 13), context = tensor([B, Lk, dModel], 14);
  const self = expectClose('self', mha.forward(x, { causal: true }).data, referenceMha(x, x, B, Lq, Lq, true));
  const cross = expectClose('cross', mha.forward(x, { context }).data, referenceMha(x, context, B, Lq, Lk, false));
  return `self ${self.toExponential(1)}, cross ${cross.toExponential(1)}`;
});

check('MultiHeadAttention.step: prefill 8 positions, then decode 4 one at a time', () => {
  const B = 2, L = 12;
  const mha = new fa.MultiHeadAttention({ dModel, numHeads: H, numKvHeads: Hkv, weights });
  const x = tensor([B, L, dModel], 15);
  const rows = (t0, t1) => {
    const data = new Float32Array(B * (t1 - t0) * dModel);
    for (let b = 0; b < B; b++) data.set(x.data.subarray((b * L + t0) * dModel, (b * L + t1) * dModel), b * (t1 - t0) * dModel);
    return { data, shape: [B, t1 - t0, dModel] };
  };
  const cache = new fa.KvCache({ batch: B, numKvHeads: Hkv, headDim: D, maxLength: 16 });
  const out = new Float32Array(B * L * dModel);
  const place = (y, t0, t1) => {
    for (let b = 0; b < B; b++) out.set(y.data.subarray(b * (t1 - t0) * dModel, (b + 1) * (t1 - t0) * dModel), (b * L + t0) * dModel);
  };
  place(mha.step(rows(0, 8), cache), 0, 8);
  for (let t = 8; t < L; t++) place(mha.step(rows(t, t + 1), cache), t, t + 1);
  return expectClose('step', out, referenceMha(x, x, B, L, L, true));
});

for (const dtype of ['float32', 'bfloat16']) {
  check(`KvCache ${dtype}: prefill 20 positions, append 1, decode 1 query (GQA 4/2)`, () => {
    const B = 1, L = 21, Dk = 32;
    const k = tensor([B, Hkv, L, Dk], 16), v = tensor([B, Hkv, L, Dk], 17), q = tensor([B, H, 1, Dk], 18);
    const cache = new fa.KvCache({ batch: B, numKvHeads: Hkv, headDim: Dk, maxLength: 64, dtype });
    cache.append(positions(k, 0, L - 1), positions(v, 0, L - 1));
    cache.append(positions(k, L - 1, L), positions(v, L - 1, L));
    const stored = (x) => (dtype === 'float32' ? x : { data: roundBf16(x.data), shape: x.shape });
    const memory = cache.keys.buffer.constructor.name;
    const error = expectClose('decode', fa.attention(q, cache).data, referenceAttention(q, stored(k), stored(v)));
    return `relative error ${error.toExponential(1)}, cache memory: ${memory}`;
  });
}

check('linear: 7 x 16 -> 33 with bias', () => {
  const x = tensor([7, 16], 19), weight = tensor([33, 16], 20, 0.25), bias = tensor([33], 21);
  return expectClose('linear', fa.linear(x, weight, bias).data, referenceLinear(x.data, 7, 16, weight.data, 33, bias.data));
});

const results = [];
for (const { name, run } of checks) {
  try {
    const note = await run();
    results.push({ name, ok: true, note: typeof note === 'number' ? `relative error ${note.toExponential(1)}` : (note ?? '') });
  } catch (err) {
    results.push({ name, ok: false, note: String(err?.stack ?? err) });
  }
}
// The bad calls on each kind of backend (relaxed, simd128, js); the runner compares them with Node's.
window.__report = { results, badCalls: setup.full ? await badCallOutcomes(fa) : [], crossOriginIsolated: globalThis.crossOriginIsolated === true };
