/**
 * Q4_K (ggml type 12): super-blocks of 256 elements stored as
 * block_q4_K { f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] } (144 bytes): 8 sub-blocks of 32 with 6-bit
 * scale and 6-bit min each (packed as get_scale_min_k4 reads them); value = d * sc * q - dmin * m.
 * qs: for each 64-element chunk c (0..3), 32 bytes whose low nibbles are elements 64c..64c+31 and high
 * nibbles elements 64c+32..64c+63. Port of ggml-quants.c quantize_row_q4_K_ref (make_qkx2_quants, no
 * importance matrix: what llama-quantize writes without --imatrix) and dequantize_row_q4_K.
 */
import { checkRow, fr, fromF16, getU16, nearestInt, putU16, toF16, QK_K } from './util';

/** Bytes per Q4_K super-block. */
export const Q4_K_BLOCK_BYTES = 144;

const RDELTA = fr(0.1);

/**
 * ggml make_qkx2_quants on x[xo .. xo+n): fits x ~ scale * L - min with L in [0, nmax], searching
 * nstep + 1 candidate inverse scales (rmin + rdelta * is + nmax) / (max - min) by weighted error.
 * Writes L[lo .. lo+n), minOut[0] = the_min (>= 0, to subtract); returns scale. Float32 arithmetic throughout.
 */
export function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, minOut: Float32Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    minOut[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(fr(iscale * fr(x[xo + i] - min)));
    const q = Math.max(0, Math.min(nmax, l));
    L[lo + i] = q;
    let diff = fr(fr(fr(scale * q) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i] * diff));
  }
  if (nstep < 1) { minOut[0] = -min; return scale; }
  for (let is = 0; is <= nstep; is++) {
    // `min` is the best fit so far (ggml updates it inside this loop), so max - min changes too
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
      Laux[i] = l;
      const wl = fr(weights[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) { thisMin = 0; thisScale = fr(sumXL / sumL2); }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/** ggml get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at q[o..]. */
export function getScaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

/**
 * Quantize x (length multiple of 256) into `out` at byte `off`, as quantize_row_q4_K_ref.
 * Throws when the length is not a multiple of 256 or `out` is too short.
 */
export function quantizeRowQ4_K(x: Float32Array, out: Uint8Array, off = 0): void {
  const nb = x.length / QK_K;
  checkRow('quantizeRowQ4_K', x.length, QK_K, off + nb * Q4_K_BLOCK_BYTES, out.length);
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const minOut = new Float32Array(1);
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = off + i * Q4_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const xo = xb + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[xo + l]));
      scales[j] = makeQkx2Quants(32, 15, x, xo, weights, L, 32 * j, Laux, minOut, -1, RDELTA, 20, false);
      mins[j] = minOut[0];
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const sc = o + 4; // scales[12]
    for (let k = 0; k < 12; k++) out[sc + k] = 0;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[sc + j - 4] |= (ls >> 4) << 6;
        out[sc + j] |= (lm >> 4) << 6;
      }
    }
    const dBits = toF16(fr(maxScale / 63));
    const dminBits = toF16(fr(maxMin / 63));
    putU16(out, o, dBits);
    putU16(out, o + 2, dminBits);
    const dAll = fromF16(dBits);
    const dminAll = fromF16(dminBits);
    for (let j = 0; j < 8; j++) {
      const [s, m] = getScaleMinK4(j, out, sc);
      const d = fr(dAll * s);
      if (!d) continue; // keeps make_qkx2_quants' L for this sub-block, as ggml does
      const dm = fr(dminAll * m);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt(fr(fr(x[xb + 32 * j + ii] + dm) / d));
        L[32 * j + ii] = Math.max(0, Math.min(15, l));
      }
    }
    const q = o + 16;
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) out[q + j / 2 + l] = L[j + l] | (L[j + l + 32] << 4);
    }
  }
}

/** Dequantize `n` elements (multiple of 256) of Q4_K data starting at byte `off` of `src` into `out`. */
export function dequantizeRowQ4_K(src: Uint8Array, n: number, out: Float32Array, off = 0): void {
  const nb = n / QK_K;
  checkRow('dequantizeRowQ4_K', n, QK_K, off + nb * Q4_K_BLOCK_BYTES, src.length);
  for (let i = 0; i < nb; i++) {
    const o = off + i * Q4_K_BLOCK_BYTES;
    const d = fromF16(getU16(src, o));
    const min = fromF16(getU16(src, o + 2));
    let y = i * QK_K;
    let q = o + 16;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
      const [s1, m1q] = getScaleMinK4(is, src, o + 4);
      const [s2, m2q] = getScaleMinK4(is + 1, src, o + 4);
      const d1 = fr(d * s1), m1 = fr(min * m1q);
      const d2 = fr(d * s2), m2 = fr(min * m2q);
      for (let l = 0; l < 32; l++) out[y++] = fr(fr(d1 * (src[q + l] & 0xf)) - m1);
      for (let l = 0; l < 32; l++) out[y++] = fr(fr(d2 * (src[q + l] >> 4)) - m2);
    }
  }
}
