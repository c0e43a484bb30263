// The installed package under another JavaScript runtime (scripts/runtimes-check.sh runs it
// with Bun, Deno and Node): the expected backend runs (native: loaded from the prebuild),
// and attention, attentionAsync (on the calling thread and, on wasm, on its worker),
// MultiHeadAttention and one KvCache decode step agree with the float64 oracle. Plain JS
// without node:test, so every runtime runs it alike; prints TAP lines and "# pass N" /
// "# fail N". In a checkout, `node test/runtimes/smoke.mjs` tests this package (it imports
// itself by name).
//   smoke.mjs --backend wasm          expect that backend instead of native (with
//                                     FUSED_ATTENTION_BACKEND=wasm, or a failed native load)
//   smoke.mjs --reason <text>         backend().reason must contain <text> (a permission the
//                                     runtime denied the native loader)
import process from 'node:process';
import * as fa from 'fused-attention';
import { referenceAttention } from '../oracle/attention.mjs';
import { referenceLinear } from '../oracle/linear.mjs';
import { randomTensor as tensor } from '../oracle/inputs.mjs';
import { randn } from '../oracle/prng.mjs';
import { checkList, expectClose as expectCloseWithin } from '../oracle/checks.mjs';

const TOLERANCE = 1e-5;
// Arguments, not environment variables: Deno without --allow-env could not read those.
const argument = (flag) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] : null);
const expectBackend = argument('--backend') ?? 'native';
const expectReason = argument('--reason');
const runtime = globalThis.Deno ? `Deno ${Deno.version.deno}` : globalThis.Bun ? `Bun ${Bun.version}` : `Node ${process.version}`;

const { checks, check } = checkList();
const expectClose = (what, actual, expected) => `relative error ${expectCloseWithin(what, actual, expected, TOLERANCE).toExponential(1)}`;

check(`backend() is ${expectBackend}${expectReason ? `, and its reason says: ${expectReason}` : ''}`, () => {
  const info = fa.backend();
  if (info.name !== expectBackend || (expectReason !== null && !info.reason?.includes(expectReason))) {
    throw new Error(`backend() is ${JSON.stringify(info)}`);
  }
  return `${info.isa}, ${info.threads} thread(s)${info.reason ? `: ${info.reason}` : ''}`;
});

check('attention: GQA 4/2 heads, causal, L = 77, D = 64', () => {
  const q = tensor([2, 4, 77, 64], 1), k = tensor([2, 2, 77, 64], 2), v = tensor([2, 2, 77, 64], 3);
  return expectClose('attention', fa.attention(q, k, v, { causal: true }).data, referenceAttention(q, k, v, { causal: true }));
});

check('attentionAsync: Lq = 33, Lk = 1200 (split keys), D = 16, Dv = 24', async () => {
  const q = tensor([1, 2, 33, 16], 4), k = tensor([1, 2, 1200, 16], 5), v = tensor([1, 2, 1200, 24], 6);
  const out = await fa.attentionAsync(q, k, v);
  return expectClose('attentionAsync', out.data, referenceAttention(q, k, v));
});

check('attentionAsync: B = 1, H = 4, Lq = 256, Lk = 512, D = 64 (134 MFLOP: the wasm backend runs it on its worker)', async () => {
  const q = tensor([1, 4, 256, 64], 17), k = tensor([1, 4, 512, 64], 18), v = tensor([1, 4, 512, 64], 19);
  const out = await fa.attentionAsync(q, k, v, { causal: true });
  return expectClose('attentionAsync', out.data, referenceAttention(q, k, v, { causal: true }));
});

check('MultiHeadAttention.forward: self attention, causal, GQA 4/2', () => {
  const dModel = 24, H = 4, Hkv = 2, D = 6, B = 2, L = 9;
  const w = (o, i, seed) => randn(o * i, seed).map((x) => x / Math.sqrt(i));
  const weights = { wq: w(H * D, dModel, 7), wk: w(Hkv * D, dModel, 8), wv: w(Hkv * D, dModel, 9), wo: w(dModel, H * D, 10), bq: randn(H * D, 11), bo: randn(dModel, 12) };
  const mha = new fa.MultiHeadAttention({ dModel, numHeads: H, numKvHeads: Hkv, weights });
  const x = tensor([B, L, dModel], 13);
  const project = (wt, bias, heads) => Float32Array.from(referenceLinear(x.data, B * L, dModel, wt, heads * D, bias));
  const q = project(weights.wq, weights.bq, H), k = project(weights.wk, null, Hkv), v = project(weights.wv, null, Hkv);
  const heads = referenceAttention({ data: q, shape: [B, L, H, D] }, { data: k, shape: [B, L, Hkv, D] }, { data: v, shape: [B, L, Hkv, D] }, { layout: 'blhd', causal: true });
  return expectClose('MultiHeadAttention', mha.forward(x, { causal: true }).data, referenceLinear(heads, B * L, H * D, weights.wo, dModel, weights.bo));
});

check('KvCache: prefill 20 positions, append 1, decode 1 query', () => {
  const B = 1, H = 4, Hkv = 2, D = 32, L = 21;
  const k = tensor([B, Hkv, L, D], 14), v = tensor([B, Hkv, L, D], 15), q = tensor([B, H, 1, D], 16);
  const positions = (x, t0, t1) => {
    const data = new Float32Array(B * Hkv * (t1 - t0) * D);
    for (let h = 0; h < B * Hkv; h++) data.set(x.data.subarray((h * L + t0) * D, (h * L + t1) * D), h * (t1 - t0) * D);
    return { data, shape: [B, Hkv, t1 - t0, D] };
  };
  const cache = new fa.KvCache({ batch: B, numKvHeads: Hkv, headDim: D, maxLength: 64 });
  cache.append(positions(k, 0, L - 1), positions(v, 0, L - 1));
  cache.append(positions(k, L - 1, L), positions(v, L - 1, L));
  return expectClose('KvCache decode', fa.attention(q, cache).data, referenceAttention(q, k, v));
});

console.log(`# ${runtime} (${process.platform}-${process.arch})`);
let pass = 0, fail = 0;
for (const [index, { name, run }] of checks.entries()) {
  try {
    const note = await run();
    pass++;
    console.log(`ok ${index + 1} - ${name}${note ? ` # ${note}` : ''}`);
  } catch (err) {
    fail++;
    console.log(`not ok ${index + 1} - ${name}`);
    for (const line of String(err?.stack ?? err).split('\n')) console.log(`  # ${line}`);
  }
}
console.log(`1..${checks.length}`);
console.log(`# pass ${pass}`);
console.log(`# fail ${fail}`);
// No process.exit(): a runtime whose event loop the addon keeps alive shows up as a timeout.
process.exitCode = fail === 0 ? 0 : 1;
