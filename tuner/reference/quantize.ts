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
 * Q4_K / Q6_K (256-value super-blocks) get a simple valid quantizer instead (not ggml's search for the
 * best scales; any valid blocks serve validation, whose reference dequantizes the same bytes):
 * - Q4_K: per 32-value sub-block j, scale (max - min) / 15 and offset -min (0 when min > 0) coded in
 *   6 bits against f16 d = max scale / 63 and dmin = max offset / 63; q = round((x + dmin*m) / (d*sc)).
 * - Q6_K: per 16-value sub-block, scale max|x| / 31 coded as int8 against f16 d = max scale / 127;
 *   q = round(x / (d*sc)) + 32 in [0, 63].
 */
import { type QuantType, QUANT_BLOCKS } from '../../generator/ops';
import { f16BitsToF32, f32ToF16Bits } from './f16';

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
  if (type === 'q4_k' || type === 'q6_k') {
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw new Error(`quantize ${type}: element ${i} is ${values[i]}`);
    for (let b = 0; b < blocks; b++) (type === 'q4_k' ? quantizeQ4KBlock : quantizeQ6KBlock)(values, b * qk, out, b * bb);
    return out;
  }
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

/** f16 bits of d and its value as the kernels read it. */
function f16Scale(d: number): { bits: number; value: number } {
  const bits = f32ToF16Bits(d);
  return { bits, value: f16BitsToF32(bits) };
}

/** One Q4_K super-block of values[e .. e+256) into out[o .. o+144) (module doc). */
function quantizeQ4KBlock(values: ArrayLike<number>, e: number, out: Uint8Array, o: number): void {
  const scale = new Array<number>(8).fill(0);
  const offset = new Array<number>(8).fill(0);
  for (let j = 0; j < 8; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, values[e + 32 * j + l]);
      hi = Math.max(hi, values[e + 32 * j + l]);
    }
    offset[j] = Math.max(0, -lo);
    scale[j] = (hi + offset[j]) / 15;
  }
  const d = f16Scale(Math.max(...scale) / 63);
  const dmin = f16Scale(Math.max(...offset) / 63);
  const sc = scale.map((s) => (d.value ? Math.min(63, Math.round(s / d.value)) : 0));
  const mn = offset.map((m) => (dmin.value ? Math.min(63, Math.round(m / dmin.value)) : 0));
  out[o] = d.bits & 0xff;
  out[o + 1] = d.bits >> 8;
  out[o + 2] = dmin.bits & 0xff;
  out[o + 3] = dmin.bits >> 8;
  // 6-bit scales / mins as ggml's get_scale_min_k4 reads them
  for (let j = 0; j < 4; j++) {
    out[o + 4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    out[o + 8 + j] = mn[j] | ((mn[j + 4] >> 4) << 6);
    out[o + 12 + j] = (sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4);
  }
  for (let j = 0; j < 8; j++) {
    const step = d.value * sc[j];
    const min = dmin.value * mn[j];
    for (let l = 0; l < 32; l++) {
      const q = step ? Math.max(0, Math.min(15, Math.round((values[e + 32 * j + l] + min) / step))) : 0;
      const byte = o + 16 + 32 * (j >> 1) + l;
      out[byte] |= j & 1 ? q << 4 : q;
    }
  }
}

/** One Q6_K super-block of values[e .. e+256) into out[o .. o+210) (module doc). */
function quantizeQ6KBlock(values: ArrayLike<number>, e: number, out: Uint8Array, o: number): void {
  const scale = new Array<number>(16).fill(0);
  for (let s = 0; s < 16; s++) for (let l = 0; l < 16; l++) scale[s] = Math.max(scale[s], Math.abs(values[e + 16 * s + l]) / 31);
  const d = f16Scale(Math.max(...scale) / 127);
  const sc = scale.map((s) => (d.value ? Math.min(127, Math.round(s / d.value)) : 0));
  for (let i = 0; i < 256; i++) {
    const step = d.value * sc[i >> 4];
    const q = step ? Math.max(0, Math.min(63, Math.round(values[e + i] / step) + 32)) : 32;
    const h = i >> 7;
    const r = (i >> 5) & 3;
    const l = i & 31;
    out[o + 64 * h + 32 * (r & 1) + l] |= (q & 0xf) << (4 * (r >> 1));
    out[o + 128 + 32 * h + l] |= (q >> 4) << (2 * r);
  }
  for (let s = 0; s < 16; s++) out[o + 192 + s] = sc[s] & 0xff;
  out[o + 208] = d.bits & 0xff;
  out[o + 209] = d.bits >> 8;
}
