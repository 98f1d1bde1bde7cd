/**
 * Host quantizers to ggml's Q8_0 and Q4_0 blocks (layouts in generator/ops.ts QUANT_BLOCKS; the
 * inverse is ./quant.ts), so the tuner can feed quantized matmul instances valid random weights.
 * They follow ggml's reference quantizers (quantize_row_q8_0_ref / quantize_row_q4_0_ref) per
 * 32-element block:
 * - Q8_0: d = max|x| / 127, q[i] = round(x[i] / d) (half away from zero, clamped to [-127, 127]).
 * - Q4_0: m = the element of largest magnitude (sign kept), d = m / -8,
 *   q[i] = clamp(round(x[i] / d) + 8, 0, 15) with round half up (ggml: (int8)(x/d + 8.5), min 15);
 *   byte j = q[j] | q[j + 16] << 4.
 * The scale is stored as f16 (./f16.ts, round to nearest even); the quants are computed with the
 * unrounded scale, in f32 arithmetic (Math.fround), as ggml does, so the bytes equal ggml's (and
 * runtime/gguf/quant's port). An all-zero block gets d = 0 and quants 0 (Q8_0) or 8 (Q4_0).
 * Values must be finite. Output is packed blocks back to back, little-endian.
 */
import { type QuantType, QUANT_BLOCKS } from '../../generator/ops';
import { f32ToF16Bits } from './f16';

const fr = Math.fround;
/** Round half away from zero (C roundf). */
const roundAway = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/**
 * Quantize `values` (length a multiple of 32) to `type` blocks (module doc).
 * @throws Error when the length is not whole blocks or a value is not finite.
 */
export function quantize(type: QuantType, values: ArrayLike<number>): Uint8Array {
  const { elems: qk, bytes: bb } = QUANT_BLOCKS[type];
  if (values.length % qk) throw new Error(`quantize ${type}: ${values.length} is not a multiple of ${qk}`);
  const blocks = values.length / qk;
  const out = new Uint8Array(blocks * bb);
  for (let b = 0; b < blocks; b++) {
    const e = b * qk;
    const o = b * bb;
    let amax = 0;
    let max = 0;
    for (let i = 0; i < qk; i++) {
      const x = values[e + i];
      if (!Number.isFinite(x)) throw new Error(`quantize ${type}: element ${e + i} is ${x}`);
      if (Math.abs(x) > amax) {
        amax = Math.abs(x);
        max = x;
      }
    }
    const d = fr(type === 'q8_0' ? amax / 127 : max / -8);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[o] = h & 0xff;
    out[o + 1] = h >> 8;
    if (type === 'q8_0') {
      for (let i = 0; i < qk; i++) out[o + 2 + i] = Math.max(-127, Math.min(127, roundAway(fr(values[e + i] * id)))) & 0xff;
    } else {
      const q = (x: number) => Math.max(0, Math.min(15, Math.floor(fr(fr(x * id) + 8.5))));
      for (let j = 0; j < 16; j++) out[o + 2 + j] = q(values[e + j]) | (q(values[e + j + 16]) << 4);
    }
  }
  return out;
}

/** Quantize to Q8_0 (module doc). */
export const quantizeQ8_0 = (values: ArrayLike<number>): Uint8Array => quantize('q8_0', values);
/** Quantize to Q4_0 (module doc). */
export const quantizeQ4_0 = (values: ArrayLike<number>): Uint8Array => quantize('q4_0', values);
