#!/usr/bin/env node
// Calls every public function of the built package (dist/) on small shapes and
// checks the results against the package's own pure-TS kernel; exits 1 on a
// wrong result. Plain Node, no test runner, so it can run under valgrind and
// with a sanitizer runtime preloaded (scripts/sanitize.sh, scripts/valgrind-check.js).
//
//   node scripts/exercise-api.js [--dist DIR] [--size tiny|small] [--isa NAME|all]
//
// --size tiny: a handful of calls per ISA (valgrind); small (default): a few
// hundred, including multithreaded ones, async ones in flight together,
// setThreads while they run and bad arguments.
'use strict';
const path = require('node:path');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const dist = path.resolve(option('--dist', path.join(__dirname, '..', 'dist')));
const size = option('--size', 'small');
const isaOption = option('--isa', 'all');

const fa = require(path.join(dist, 'index.js'));
const { nativeAddon } = require(path.join(dist, 'backend.js'));
const { resolveAttention } = require(path.join(dist, 'options.js'));
const { attention_forward } = require(path.join(dist, 'js', 'attention.js'));
const { linear_forward } = require(path.join(dist, 'js', 'linear.js'));
const { uniforms } = require('../test/oracle/prng.mjs');
const { relFrobenius } = require('../test/oracle/attention.mjs');

let failures = 0;
let checks = 0;
function fail(message) {
  failures++;
  console.error(`FAIL: ${message}`);
}

/** One call's inputs; `variant` picks the options. */
function makeCall(seed, { B, H, Hkv, Lq, Lk, D, Dv }, variant) {
  const q = { data: uniforms(B * H * Lq * D, seed), shape: [B, H, Lq, D] };
  const k = { data: uniforms(B * Hkv * Lk * D, seed + 1), shape: [B, Hkv, Lk, D] };
  const v = { data: uniforms(B * Hkv * Lk * Dv, seed + 2), shape: [B, Hkv, Lk, Dv] };
  const options = {};
  switch (variant % 8) {
    case 1:
      options.causal = true;
      break;
    case 2: {
      const data = uniforms(Lq * Lk, seed + 3);
      for (let i = 0; i < data.length; i += 3) data[i] = -Infinity;
      options.mask = { data, shape: [Lq, Lk] };
      break;
    }
    case 3: {
      const data = new Uint8Array(B * Lk).fill(1);
      for (let i = 0; i < data.length; i += 4) data[i] = 0;
      options.mask = { data, shape: [B, 1, 1, Lk] };
      options.returnLse = true;
      break;
    }
    case 4:
      options.keyLengths = Int32Array.from({ length: B }, (_, b) => (b * 5 + 3) % (Lk + 1));
      options.window = [3, 1];
      break;
    case 5:
      options.alibiSlopes = Float32Array.from({ length: H }, (_, h) => 2 ** -(h + 1));
      options.softcap = 5;
      options.causal = 'top-left';
      break;
    case 6:
      options.returnWeights = true;
      options.keyPadding = Uint8Array.from({ length: B * Lk }, (_, i) => (i % 3 === 0 ? 0 : 1));
      break;
    case 7:
      options.out = new Float32Array(B * H * Lq * Dv);
      options.returnLse = true;
      break;
  }
  return { q, k, v, options };
}

function expected(call) {
  const { out, ...options } = call.options;
  const r = resolveAttention(call.q, call.k, call.v, options);
  attention_forward(r);
  return r;
}

function check(what, got, want) {
  checks++;
  const err = relFrobenius(got.data, want.out);
  if (!(err <= 1e-5)) fail(`${what}: output rel error ${err}`);
  if (want.lse) {
    for (let i = 0; i < want.lse.length; i++) {
      const a = got.lse.data[i];
      const b = want.lse[i];
      if (!(a === b || Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)))) {
        fail(`${what}: lse[${i}] ${a} vs ${b}`);
        break;
      }
    }
  }
  if (want.weights && !(relFrobenius(got.weights.data, want.weights) <= 1e-5)) fail(`${what}: weights differ`);
}

function expectArgumentError(what, fn) {
  checks++;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TypeError || err instanceof RangeError) || !/^(attention|setThreads|linear|PackedLinear\.forward): expected /.test(err.message)) {
      fail(`${what}: wrong error ${err && err.stack}`);
    }
    return;
  }
  fail(`${what}: did not throw`);
}

const SHAPES = {
  tiny: [
    { B: 1, H: 2, Hkv: 1, Lq: 3, Lk: 5, D: 8, Dv: 4 },
    { B: 2, H: 2, Hkv: 2, Lq: 9, Lk: 7, D: 17, Dv: 16 },
  ],
  small: [
    { B: 1, H: 2, Hkv: 1, Lq: 3, Lk: 5, D: 8, Dv: 4 },
    { B: 2, H: 2, Hkv: 2, Lq: 9, Lk: 7, D: 17, Dv: 16 },
    { B: 1, H: 4, Hkv: 2, Lq: 1, Lk: 300, D: 64, Dv: 64 }, // decode: split keys
    { B: 1, H: 2, Hkv: 2, Lq: 130, Lk: 70, D: 33, Dv: 40 },
    { B: 2, H: 3, Hkv: 1, Lq: 97, Lk: 129, D: 64, Dv: 7 },
    { B: 1, H: 2, Hkv: 2, Lq: 200, Lk: 200, D: 128, Dv: 128 }, // multithreaded tiled path
  ],
};

// nn.Linear shapes [rows, inFeatures, outFeatures]: tails, one-row streaming,
// rows-dot (one-shot, <= 4 rows), several row strips and column groups.
const LINEAR_SHAPES = {
  tiny: [[3, 5, 7], [1, 33, 17], [13, 20, 70]],
  small: [[3, 5, 7], [1, 33, 17], [13, 20, 70], [1, 1024, 1000], [4, 300, 257], [130, 70, 90], [300, 513, 200]],
};

/** linear, packLinear().forward (dense and into a wider buffer) and forwardAsync against the JS kernel. */
async function exerciseLinear(what, [M, K, N], seed) {
  const x = { data: uniforms(M * K, seed), shape: [M, K] };
  const weight = { data: uniforms(N * K, seed + 1), shape: [N, K] };
  const bias = { data: uniforms(N, seed + 2), shape: [N] };
  const want = new Float32Array(M * N);
  linear_forward({ x: x.data, M, K, N, weight: weight.data, bias: bias.data, out: want, outStride: N, outOffset: 0 });
  const linearCheck = (label, got) => {
    checks++;
    const err = relFrobenius(got, want);
    if (!(err <= 1e-5)) fail(`${what} ${label} [${M}, ${K}, ${N}]: rel error ${err}`);
  };
  linearCheck('linear', fa.linear(x, weight, bias).data);
  const packed = fa.packLinear(weight, bias);
  linearCheck('forward', packed.forward(x).data);
  linearCheck('forwardAsync', (await packed.forwardAsync(x)).data);
  const stride = N + 3;
  const wide = new Float32Array(2 + M * stride).fill(7);
  await packed.forwardAsync(x, { out: wide, outStride: stride, outOffset: 2 });
  const rows = new Float32Array(M * N);
  let untouched = wide[0] === 7 && wide[1] === 7;
  for (let r = 0; r < M; r++) {
    rows.set(wide.subarray(2 + r * stride, 2 + r * stride + N), r * N);
    for (let c = N; c < stride && 2 + r * stride + c < wide.length; c++) untouched &&= wide[2 + r * stride + c] === 7;
  }
  linearCheck('forwardAsync into a wider buffer', rows);
  checks++;
  if (!untouched) fail(`${what} forwardAsync into a wider buffer [${M}, ${K}, ${N}]: wrote outside its columns`);
  return packed;
}

async function main() {
  const addon = nativeAddon();
  const isas = addon === null ? ['js'] : isaOption === 'all' ? addon.info().supportedIsas : [isaOption];
  const shapes = SHAPES[size];
  const variants = size === 'tiny' ? [0, 1, 2, 3, 4, 5, 6, 7] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  console.log(`exercise-api: backend ${JSON.stringify(fa.backend())}, ISAs ${isas.join(', ')}, size ${size}`);

  for (const isa of isas) {
    if (addon !== null) addon.setIsa(isa);
    for (const threads of size === 'tiny' ? [2] : [1, 2]) {
      fa.setThreads(threads);
      for (const [s, dims] of shapes.entries()) {
        for (const variant of variants) {
          const call = makeCall(s * 100 + variant, dims, variant);
          const want = expected(call);
          const what = `${isa} threads=${threads} shape ${JSON.stringify(dims)} variant ${variant}`;
          check(`attention ${what}`, fa.attention(call.q, call.k, call.v, call.options), want);
          check(`attentionAsync ${what}`, await fa.attentionAsync(call.q, call.k, call.v, call.options), want);
          const plan = fa.explain(call.q, call.k, call.v, call.options);
          checks++;
          if (!(plan.threads >= 1 && plan.workItems >= 1)) fail(`explain ${what}: ${JSON.stringify(plan)}`);
        }
      }
      for (const [s, dims] of LINEAR_SHAPES[size].entries()) await exerciseLinear(`${isa} threads=${threads}`, dims, 500 + s);
    }
  }
  // Weights packed under one ISA stay valid under every other one.
  if (addon !== null && isas.length > 1) {
    addon.setIsa(isas[0]);
    const packedFirst = await exerciseLinear(`packed under ${isas[0]}`, [13, 20, 70], 900);
    for (const isa of isas.slice(1)) {
      addon.setIsa(isa);
      const x = { data: uniforms(13 * 20, 900), shape: [13, 20] };
      const want = fa.packLinear({ data: uniforms(70 * 20, 901), shape: [70, 20] }, { data: uniforms(70, 902), shape: [70] }).forward(x).data;
      checks++;
      if (relFrobenius(packedFirst.forward(x).data, want) !== 0) fail(`weights packed under ${isas[0]}, run under ${isa}: results differ`);
    }
  }

  // Async calls in flight together, with setThreads in between.
  const calls = [];
  for (let i = 0; i < (size === 'tiny' ? 8 : 64); i++) calls.push(makeCall(1000 + i, shapes[i % shapes.length], i));
  const wants = calls.map(expected);
  let settled = false;
  const pending = Promise.all(calls.map((c) => fa.attentionAsync(c.q, c.k, c.v, c.options))).finally(() => {
    settled = true;
  });
  for (let n = 1; !settled; n = (n % 3) + 1) {
    fa.setThreads(n);
    await new Promise((resolve) => setImmediate(resolve));
  }
  (await pending).forEach((got, i) => check(`concurrent attentionAsync ${i}`, got, wants[i]));
  fa.setThreads(2);

  // Bad arguments: thrown by the TypeScript checks, before any native code.
  const good = makeCall(1, shapes[0], 0);
  const detached = new Float32Array(good.q.data.length);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  expectArgumentError('detached q', () => fa.attention({ data: detached, shape: good.q.shape }, good.k, good.v));
  expectArgumentError('NaN scale', () => fa.attention(good.q, good.k, good.v, { scale: NaN }));
  expectArgumentError('huge dims', () => fa.attention({ data: good.q.data, shape: [2 ** 31, 2 ** 31, 2, 2] }, good.k, good.v));
  expectArgumentError('short k', () => fa.explain(good.q, { data: good.k.data.subarray(1), shape: good.k.shape }, good.v));
  expectArgumentError('setThreads(0)', () => fa.setThreads(0));
  expectArgumentError('linear in-feature mismatch', () => fa.linear({ data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(8), shape: [2, 4] }));
  expectArgumentError('forward outStride < outFeatures', () =>
    fa.packLinear({ data: new Float32Array(8), shape: [2, 4] }).forward({ data: new Float32Array(8), shape: [2, 4] }, { out: new Float32Array(8), outStride: 1 }),
  );
  checks++;
  try {
    await fa.attentionAsync(good.q, good.k, { data: new Float64Array(good.v.data.length), shape: good.v.shape });
    fail('attentionAsync with a Float64Array resolved');
  } catch (err) {
    if (!(err instanceof TypeError)) fail(`attentionAsync with a Float64Array: ${err}`);
  }

  console.log(`exercise-api: ${checks} checks, ${failures} failures`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
