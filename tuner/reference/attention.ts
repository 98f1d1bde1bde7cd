/**
 * Float64 CPU reference of the `attention` op (../../generator/ops.ts), causal and GQA.
 *
 * Layouts: Q f32-valued [queries][heads][D]; K, V [kvHeads][kvStride][D] (only rows < kvLength are read;
 * pass f16-rounded values to model an f16 cache); result [queries][heads][D] in float64.
 * Query row i (absolute position queryPos0 + i) with causal sees KV rows j <= queryPos0 + i (and j <
 * kvLength); query head h reads KV head floor(h / (heads / kvHeads)).
 * @throws Error if an array is shorter than its layout requires or heads % kvHeads != 0.
 */
import type { AttentionShape } from '../../generator/ops';

/** Float64 attention reference (layouts and masking as in the module doc); result [queries][heads][D]. */
export function attentionReference(
  s: AttentionShape,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
): Float64Array {
  const { D, heads, kvHeads, queries, kvLength, kvStride, queryPos0, causal, scale } = s;
  if (heads % kvHeads !== 0) throw new Error(`attentionReference: heads=${heads} not a multiple of kvHeads=${kvHeads}`);
  if (q.length < queries * heads * D) throw new Error(`attentionReference: Q has ${q.length} < ${queries * heads * D} elements`);
  const kvNeed = ((kvHeads - 1) * kvStride + kvLength) * D;
  if (k.length < kvNeed || v.length < kvNeed) throw new Error(`attentionReference: K/V shorter than ${kvNeed} elements`);
  const r = heads / kvHeads;
  const out = new Float64Array(queries * heads * D);
  const sc = new Float64Array(kvLength);
  for (let i = 0; i < queries; i++) {
    const end = causal ? Math.min(kvLength, queryPos0 + i + 1) : kvLength;
    for (let h = 0; h < heads; h++) {
      const qo = (i * heads + h) * D;
      const kvBase = Math.floor(h / r) * kvStride;
      let mx = -Infinity;
      for (let j = 0; j < end; j++) {
        const ko = (kvBase + j) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        sc[j] = dot * scale;
        if (sc[j] > mx) mx = sc[j];
      }
      let sum = 0;
      for (let j = 0; j < end; j++) {
        sc[j] = Math.exp(sc[j] - mx);
        sum += sc[j];
      }
      for (let j = 0; j < end; j++) {
        const w = sc[j] / sum;
        const vo = (kvBase + j) * D;
        for (let d = 0; d < D; d++) out[qo + d] += w * v[vo + d];
      }
    }
  }
  return out;
}
