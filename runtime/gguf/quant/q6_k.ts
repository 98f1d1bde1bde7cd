/**
 * Q6_K (ggml type 14): super-blocks of 256 stored as
 * block_q6_K { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d } (210 bytes): 16 sub-blocks of 16 with an
 * int8 scale each; value = d * scales[s] * (q - 32), q 6 bits (low 4 in ql, high 2 in qh).
 * Port of ggml-quants.c quantize_row_q6_K_ref (make_qx_quants, rmse_type 1, no importance matrix) and
 * dequantize_row_q6_K.
 */
import { GROUP_MAX_EPS, checkRow, fr, fromF16, getU16, nearestInt, putU16, toF16, QK_K } from './util';

/** Bytes per Q6_K super-block. */
export const Q6_K_BLOCK_BYTES = 210;

const TENTH = fr(0.1);

/**
 * ggml make_qx_quants on x[xo .. xo+n) with rmse_type 1 and no quant weights (w = x^2): symmetric levels
 * L - nmax in [-nmax, nmax - 1], trying inverse scales -(nmax + 0.1 * is) / max for is in -9..9.
 * Writes L[lo .. lo+n) (0 .. 2 nmax - 1); returns the scale (0 for an all-zero group).
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
    L[lo + i] = l + nmax;
    const w = fr(v * v);
    sumlx = fr(sumlx + fr(fr(w * v) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * v))));
      const w = fr(v * v);
      sumlx = fr(sumlx + fr(fr(w * v) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]))));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Quantize x (length multiple of 256) into `out` at byte `off`, as quantize_row_q6_K_ref.
 * Throws when the length is not a multiple of 256 or `out` is too short.
 */
export function quantizeRowQ6_K(x: Float32Array, out: Uint8Array, off = 0): void {
  const nb = x.length / QK_K;
  checkRow('quantizeRowQ6_K', x.length, QK_K, off + nb * Q6_K_BLOCK_BYTES, out.length);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = off + i * Q6_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) { maxAbsScale = abs; maxScale = scale; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + Q6_K_BLOCK_BYTES);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const dBits = toF16(fr(1 / iscale));
    putU16(out, o + 208, dBits);
    const sc = o + 192;
    for (let ib = 0; ib < 16; ib++) out[sc + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]))) & 0xff;
    const dAll = fromF16(dBits);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * ((out[sc + j] << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xb + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l], b = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}

/** Dequantize `n` elements (multiple of 256) of Q6_K data starting at byte `off` of `src` into `out`. */
export function dequantizeRowQ6_K(src: Uint8Array, n: number, out: Float32Array, off = 0): void {
  const nb = n / QK_K;
  checkRow('dequantizeRowQ6_K', n, QK_K, off + nb * Q6_K_BLOCK_BYTES, src.length);
  for (let i = 0; i < nb; i++) {
    const o = off + i * Q6_K_BLOCK_BYTES;
    const d = fromF16(getU16(src, o + 208));
    let y = i * QK_K;
    let ql = o, qh = o + 128, sc = o + 192;
    for (let n0 = 0; n0 < QK_K; n0 += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        const s = (k: number) => (src[sc + is + k] << 24) >> 24;
        out[y + l] = fr(fr(d * s(0)) * q1);
        out[y + l + 32] = fr(fr(d * s(2)) * q2);
        out[y + l + 64] = fr(fr(d * s(4)) * q3);
        out[y + l + 96] = fr(fr(d * s(6)) * q4);
      }
    }
  }
}
