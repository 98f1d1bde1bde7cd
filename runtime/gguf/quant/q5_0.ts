/**
 * Q5_0 (ggml type 6): blocks of 32 stored as block_q5_0 { f16 d; uint8 qh[4]; uint8 qs[16] } (22 bytes).
 * Low 4 bits as in Q4_0 (element j low nibble, j + 16 high nibble), 5th bit of element j in bit j of the
 * little-endian u32 qh; value = (q - 16) * d. Port of quantize_row_q5_0_ref / dequantize_row_q5_0.
 * Used as llama.cpp's fallback for Q4_K tensors whose rows are not a multiple of 256.
 */
import { checkRow, fr, fromF16, getU16, putU16, toF16 } from './util';

/** Elements per Q5_0 block. */
export const QK5_0 = 32;
/** Bytes per Q5_0 block. */
export const Q5_0_BLOCK_BYTES = 22;

/** Quantize x (length multiple of 32) into `out` at byte `off`, as quantize_row_q5_0_ref (d = max / -16). */
export function quantizeRowQ5_0(x: Float32Array, out: Uint8Array, off = 0): void {
  const nb = x.length / QK5_0;
  checkRow('quantizeRowQ5_0', x.length, QK5_0, off + nb * Q5_0_BLOCK_BYTES, out.length);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK5_0;
    const o = off + i * Q5_0_BLOCK_BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK5_0; j++) {
      const v = x[xo + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -16);
    const id = d ? fr(1 / d) : 0;
    putU16(out, o, toF16(d));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = Math.min(31, Math.trunc(fr(fr(x[xo + j] * id) + 16.5)));
      const xi1 = Math.min(31, Math.trunc(fr(fr(x[xo + 16 + j] * id) + 16.5)));
      out[o + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << j;
      qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
    }
    out[o + 2] = qh & 0xff; out[o + 3] = (qh >>> 8) & 0xff; out[o + 4] = (qh >>> 16) & 0xff; out[o + 5] = (qh >>> 24) & 0xff;
  }
}

/** Dequantize `n` elements (multiple of 32) of Q5_0 data starting at byte `off` of `src` into `out`. */
export function dequantizeRowQ5_0(src: Uint8Array, n: number, out: Float32Array, off = 0): void {
  const nb = n / QK5_0;
  checkRow('dequantizeRowQ5_0', n, QK5_0, off + nb * Q5_0_BLOCK_BYTES, src.length);
  for (let i = 0; i < nb; i++) {
    const o = off + i * Q5_0_BLOCK_BYTES;
    const d = fromF16(getU16(src, o));
    const qh = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      const q = src[o + 6 + j];
      out[i * QK5_0 + j] = fr((((q & 0x0f) | xh0) - 16) * d);
      out[i * QK5_0 + j + 16] = fr((((q >> 4) | xh1) - 16) * d);
    }
  }
}
