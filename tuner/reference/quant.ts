/**
 * Float64 reference dequantizers of ggml's Q8_0 and Q4_0 blocks (layouts in generator/ops.ts QUANT_BLOCKS),
 * for checking the quantized matmul instances: the kernel and this reference read the same bytes.
 * - Q8_0 block (34 bytes): f16 d, then 32 int8 q; value i = q[i] * d.
 * - Q4_0 block (18 bytes): f16 d, then 16 bytes; byte j holds element j (low nibble) and element j + 16
 *   (high nibble); value = (nibble - 8) * d.
 * - Q4_K super-block (144 bytes, 256 values): f16 d, f16 dmin, 12 bytes of packed 6-bit scales/mins
 *   (ggml get_scale_min_k4), 128 bytes qs; chunk c (0..3) = bytes 16+32c.. whose low nibbles are elements
 *   64c..64c+31 and high nibbles 64c+32..64c+63; value = d*sc[j]*q - dmin*m[j], j = element / 32.
 * - Q6_K super-block (210 bytes, 256 values): ql[128], qh[64], int8 scales[16], f16 d; as ggml
 *   dequantize_row_q6_K, value = d * scales[s] * (q - 32), q = 4 low bits from ql | 2 high bits from qh.
 * Blocks are packed back to back (a matrix is rows * cols/block blocks, row-major), little-endian.
 */
import { type QuantType, QUANT_BLOCKS } from '../../generator/ops';
import { f16BitsToF32 } from './f16';

/**
 * Dequantize `elems` values of `type` from `bytes` (starting at byte 0).
 * @throws Error if elems is not a whole number of blocks or the bytes are too few.
 */
export function dequantize(type: QuantType, bytes: Uint8Array, elems: number): Float64Array {
  const { elems: qk, bytes: bb } = QUANT_BLOCKS[type];
  if (elems % qk) throw new Error(`dequantize ${type}: ${elems} is not a multiple of ${qk}`);
  const blocks = elems / qk;
  if (bytes.length < blocks * bb) throw new Error(`dequantize ${type}: ${bytes.length} bytes < ${blocks} blocks * ${bb}`);
  const out = new Float64Array(elems);
  for (let b = 0; b < blocks; b++) {
    const o = b * bb;
    const d = f16BitsToF32(bytes[o] | (bytes[o + 1] << 8));
    const e = b * qk;
    if (type === 'q4_k') {
      dequantQ4K(bytes, o, d, f16BitsToF32(bytes[o + 2] | (bytes[o + 3] << 8)), out, e);
    } else if (type === 'q6_k') {
      dequantQ6K(bytes, o, f16BitsToF32(bytes[o + 208] | (bytes[o + 209] << 8)), out, e);
    } else if (type === 'q8_0') {
      for (let i = 0; i < 32; i++) out[e + i] = ((bytes[o + 2 + i] << 24) >> 24) * d;
    } else {
      for (let j = 0; j < 16; j++) {
        const v = bytes[o + 2 + j];
        out[e + j] = ((v & 0xf) - 8) * d;
        out[e + j + 16] = ((v >> 4) - 8) * d;
      }
    }
  }
  return out;
}

/** ggml get_scale_min_k4: 6-bit scale and min of sub-block j (0..7) from the 12 bytes at q[o..]. */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

/** One Q4_K super-block at byte o into out[e .. e+256) (ggml dequantize_row_q4_K, float64). */
function dequantQ4K(src: Uint8Array, o: number, d: number, dmin: number, out: Float64Array, e: number): void {
  for (let c = 0; c < 4; c++) {
    const [s1, m1] = scaleMinK4(2 * c, src, o + 4);
    const [s2, m2] = scaleMinK4(2 * c + 1, src, o + 4);
    const q = o + 16 + 32 * c;
    for (let l = 0; l < 32; l++) {
      out[e + 64 * c + l] = d * s1 * (src[q + l] & 0xf) - dmin * m1;
      out[e + 64 * c + 32 + l] = d * s2 * (src[q + l] >> 4) - dmin * m2;
    }
  }
}

/** One Q6_K super-block at byte o into out[e .. e+256) (ggml dequantize_row_q6_K, float64). */
function dequantQ6K(src: Uint8Array, o: number, d: number, out: Float64Array, e: number): void {
  for (let h = 0; h < 2; h++) {
    const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h, y = e + 128 * h;
    const s = (k: number): number => (src[sc + k] << 24) >> 24;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4, hb = src[qh + l];
      out[y + l] = d * s(is) * (((src[ql + l] & 0xf) | ((hb & 3) << 4)) - 32);
      out[y + l + 32] = d * s(is + 2) * (((src[ql + l + 32] & 0xf) | (((hb >> 2) & 3) << 4)) - 32);
      out[y + l + 64] = d * s(is + 4) * (((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32);
      out[y + l + 96] = d * s(is + 6) * (((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32);
    }
  }
}

/** Dequantize Q8_0 (module doc). */
export const dequantizeQ8_0 = (bytes: Uint8Array, elems: number): Float64Array => dequantize('q8_0', bytes, elems);
/** Dequantize Q4_0 (module doc). */
export const dequantizeQ4_0 = (bytes: Uint8Array, elems: number): Float64Array => dequantize('q4_0', bytes, elems);
