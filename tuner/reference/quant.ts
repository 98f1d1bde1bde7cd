/**
 * Float64 reference dequantizers of ggml's Q8_0 and Q4_0 blocks (layouts in generator/ops.ts QUANT_BLOCKS),
 * for checking the quantized matmul instances: the kernel and this reference read the same bytes.
 * - Q8_0 block (34 bytes): f16 d, then 32 int8 q; value i = q[i] * d.
 * - Q4_0 block (18 bytes): f16 d, then 16 bytes; byte j holds element j (low nibble) and element j + 16
 *   (high nibble); value = (nibble - 8) * d.
 * Blocks are packed back to back (a matrix is rows * cols/32 blocks, row-major), little-endian.
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
    if (type === 'q8_0') {
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

/** Dequantize Q8_0 (module doc). */
export const dequantizeQ8_0 = (bytes: Uint8Array, elems: number): Float64Array => dequantize('q8_0', bytes, elems);
/** Dequantize Q4_0 (module doc). */
export const dequantizeQ4_0 = (bytes: Uint8Array, elems: number): Float64Array => dequantize('q4_0', bytes, elems);
