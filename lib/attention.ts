/**
 * The public entry points. Both resolve and check every argument first, then
 * run the backend chosen once by backend.ts.
 */
import { nativeAddon } from './backend';
import { attention_forward } from './js/attention';
import type { NativeAttentionArgs } from './native';
import { resolveAttention, type ResolvedAttention } from './options';
import type { AttentionOptions, Tensor } from './types';

/** The addon's argument object: exactly the fields the binding reads. */
function toNativeArgs(r: ResolvedAttention): NativeAttentionArgs {
  return {
    q: r.q,
    k: r.k,
    v: r.v,
    out: r.out,
    mask: r.mask,
    B: r.B,
    H: r.H,
    Hkv: r.Hkv,
    Lq: r.Lq,
    Lk: r.Lk,
    D: r.D,
    Dv: r.Dv,
    maskStrideB: r.maskStrideB,
    maskStrideH: r.maskStrideH,
    maskStrideQ: r.maskStrideQ,
    scale: r.scale,
    causal: r.causal,
  };
}

/**
 * out = softmax(q·kᵀ·scale + mask) · v, computed without materialising the
 * Lq×Lk score matrix. q [B,H,Lq,D], k [B,Hkv,Lk,D], v [B,Hkv,Lk,Dv] (or all
 * rank 3 without B); returns [B,H,Lq,Dv] (rank 3 when q is).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor {
  const r = resolveAttention(q, k, v, options);
  const addon = nativeAddon();
  if (addon !== null) addon.attention(toNativeArgs(r));
  else attention_forward(r);
  return { data: r.out, shape: r.outShape };
}

/**
 * Like {@link attention}, off the event loop with the native backend. Bad
 * arguments reject the promise. The inputs must not change until it settles.
 */
export async function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<Tensor> {
  // Inside an async function, so a throw here becomes a rejection.
  const r = resolveAttention(q, k, v, options);
  const addon = nativeAddon();
  if (addon !== null) {
    await addon.attentionAsync(toNativeArgs(r));
  } else {
    // Yield to the event loop once, so the JS kernel never runs before attentionAsync returns.
    await new Promise<void>((resolve) => setImmediate(resolve));
    attention_forward(r);
  }
  return { data: r.out, shape: r.outShape };
}
