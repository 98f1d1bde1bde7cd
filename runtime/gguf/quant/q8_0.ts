/**
 * Q8_0 (ggml type 8): blocks of 32 elements stored as block_q8_0 { f16 d; int8 qs[32] } (34 bytes),
 * value = qs[j] * d. Port of ggml-quants.c quantize_row_q8_0_ref / dequantize_row_q8_0.
 */
import { checkRow, fr, fromF16, getU16, putU16, roundf, toF16 } from './util';

/** Elements per Q8_0 block. */
export const QK8_0 = 32;
/** Bytes per Q8_0 block. */
export const Q8_0_BLOCK_BYTES = 34;

/**
 * Quantize `n` = x.length floats (multiple of 32) into `out` at byte offset `off` (n / 32 * 34 bytes), as
 * quantize_row_q8_0_ref: d = amax / 127 (float32, then stored as f16), qs = roundf(x * (1 / d)) with the
 * unrounded d. Throws when n is not a multiple of 32 or `out` is too short.
 */
export function quantizeRowQ8_0(x: Float32Array, out: Uint8Array, off = 0): void {
  const nb = x.length / QK8_0;
  checkRow('quantizeRowQ8_0', x.length, QK8_0, off + nb * Q8_0_BLOCK_BYTES, out.length);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK8_0;
    const o = off + i * Q8_0_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putU16(out, o, toF16(d));
    for (let j = 0; j < QK8_0; j++) out[o + 2 + j] = roundf(fr(x[xo + j] * id)) & 0xff;
  }
}

/** Dequantize `n` elements (multiple of 32) of Q8_0 data starting at byte `off` of `src` into `out` (from index 0). */
export function dequantizeRowQ8_0(src: Uint8Array, n: number, out: Float32Array, off = 0): void {
  const nb = n / QK8_0;
  checkRow('dequantizeRowQ8_0', n, QK8_0, off + nb * Q8_0_BLOCK_BYTES, src.length);
  for (let i = 0; i < nb; i++) {
    const o = off + i * Q8_0_BLOCK_BYTES;
    const d = fromF16(getU16(src, o));
    for (let j = 0; j < QK8_0; j++) out[i * QK8_0 + j] = fr(((src[o + 2 + j] << 24) >> 24) * d);
  }
}
