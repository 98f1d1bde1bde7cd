/**
 * Q4_0 (ggml type 2): blocks of 32 elements stored as block_q4_0 { f16 d; uint8 qs[16] } (18 bytes).
 * qs[j] low nibble = element j, high nibble = element j + 16; value = (q - 8) * d.
 * Port of ggml-quants.c quantize_row_q4_0_ref / dequantize_row_q4_0.
 */
import { checkRow, fr, fromF16, getU16, putU16, toF16 } from './util';

/** Elements per Q4_0 block. */
export const QK4_0 = 32;
/** Bytes per Q4_0 block. */
export const Q4_0_BLOCK_BYTES = 18;

/**
 * Quantize x (length multiple of 32) into `out` at byte `off`, as quantize_row_q4_0_ref: `max` = the signed
 * value of largest magnitude (first one on ties), d = max / -8, q = min(15, (int8)(x * (1/d) + 8.5)) (truncation).
 * Throws when the length is not a multiple of 32 or `out` is too short.
 */
export function quantizeRowQ4_0(x: Float32Array, out: Uint8Array, off = 0): void {
  const nb = x.length / QK4_0;
  checkRow('quantizeRowQ4_0', x.length, QK4_0, off + nb * Q4_0_BLOCK_BYTES, out.length);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK4_0;
    const o = off + i * Q4_0_BLOCK_BYTES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = x[xo + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putU16(out, o, toF16(d));
    for (let j = 0; j < 16; j++) {
      const x0 = fr(x[xo + j] * id);
      const x1 = fr(x[xo + 16 + j] * id);
      const xi0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const xi1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[o + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** Dequantize `n` elements (multiple of 32) of Q4_0 data starting at byte `off` of `src` into `out`. */
export function dequantizeRowQ4_0(src: Uint8Array, n: number, out: Float32Array, off = 0): void {
  const nb = n / QK4_0;
  checkRow('dequantizeRowQ4_0', n, QK4_0, off + nb * Q4_0_BLOCK_BYTES, src.length);
  for (let i = 0; i < nb; i++) {
    const o = off + i * Q4_0_BLOCK_BYTES;
    const d = fromF16(getU16(src, o));
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[i * QK4_0 + j] = fr(((q & 0x0f) - 8) * d);
      out[i * QK4_0 + j + 16] = fr(((q >> 4) - 8) * d);
    }
  }
}
