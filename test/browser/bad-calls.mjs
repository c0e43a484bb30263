// Bad calls that must fail alike in a browser and on Node: scripts/browser-check.js runs
// them against the Node entry, the page (checks.mjs) against the browser entry, and the
// two lists of { error, message } must be equal. Plain ESM, served to the page as is.

const t = (shape) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });

/**
 * [label, call] pairs over the package `fa`; a call may return a promise (then it must reject).
 * @param {any} fa
 * @returns {Array<[string, () => unknown]>}
 */
export function badCalls(fa) {
  const q = t([1, 2, 4, 8]), k = t([1, 2, 5, 8]), v = t([1, 2, 5, 8]);
  return [
    ['attention: a Float32Array for q', () => fa.attention(new Float32Array(4), k, v)],
    ['attention: k.shape[3] != q.shape[3]', () => fa.attention(q, t([1, 2, 5, 4]), v)],
    ['attention: a misspelt option', () => fa.attention(q, k, v, { casual: true })],
    ['attention: a mask of the wrong shape', () => fa.attention(q, k, v, { mask: t([3, 5]) })],
    ['attention: a scale of NaN', () => fa.attention(q, k, v, { scale: Number.NaN })],
    ['attention: Hkv that does not divide H', () => fa.attention(t([1, 3, 4, 8]), k, v)],
    ['attentionAsync: a signal that is not an AbortSignal', () => fa.attentionAsync(q, k, v, { signal: 'stop' })],
    ['explain: an unknown layout', () => fa.explain(q, k, v, { layout: 'bshd' })],
    ['KvCache: batch 0', () => new fa.KvCache({ batch: 0, numKvHeads: 2, headDim: 8, maxLength: 16 })],
    ['KvCache.append: more positions than maxLength', () => new fa.KvCache({ batch: 1, numKvHeads: 2, headDim: 8, maxLength: 4 }).append(k, v)],
    ['MultiHeadAttention: numKvHeads that does not divide numHeads', () => new fa.MultiHeadAttention({ dModel: 24, numHeads: 4, numKvHeads: 3 })],
    ['linear: weight columns != x columns', () => fa.linear(t([2, 8]), t([3, 7]))],
    ['setThreads: 0', () => fa.setThreads(0)],
    ['init: a number for wasmBase', () => fa.init({ wasmBase: 42 })],
  ];
}

/**
 * What each bad call threw (or resolved to): [label, { error, message }] in order.
 * @param {any} fa
 */
export async function badCallOutcomes(fa) {
  const outcomes = [];
  for (const [label, call] of badCalls(fa)) {
    try {
      await call();
      outcomes.push([label, { error: null, message: 'no error' }]);
    } catch (err) {
      outcomes.push([label, { error: err?.constructor?.name ?? typeof err, message: String(err?.message ?? err) }]);
    }
  }
  return outcomes;
}
