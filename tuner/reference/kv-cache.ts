/**
 * Host side of the q8_0 K/V cache layout (generator/ops.ts kvCacheBytes): int8 quants [rows][D] from byte 0,
 * then f16 scales [rows][kvQ8ScalesPerRow(D)]; each 32-value block quantized exactly as ggml's q8_0
 * (./quantize.ts: d = max|x| / 127, q = round(x / d) half away from zero, d stored as f16).
 * Used to feed attention kernels valid caches (tuner/problems.ts) and to read back caches the kernels wrote
 * (rope_kv tests).
 */
import { kvCacheBytes, kvQ8ScalesPerRow } from '../../generator/ops';
import { f16BitsToF32 } from './f16';
import { quantize } from './quantize';

/** f16 quiet NaN: the scale of rows the op contract says are never read, so reading one poisons the output. */
const F16_NAN = 0x7e00;

/**
 * Quantize rows x D values (row-major f32) into a q8_0 cache.
 * @param validRow rows for which it returns false (never read by the kernels) get NaN scales and NaN values
 *   instead of being quantized (their contents may be non-finite).
 * @returns the cache bytes (kvCacheBytes('q8_0', rows, D)) and the values they dequantize to (f32, rows x D).
 * @throws RangeError when D is not a multiple of 32 or values is not rows * D long; Error for a non-finite
 *   value in a valid row (quantize).
 */
export function kvQ8FromValues(values: ArrayLike<number>, rows: number, D: number, validRow: (r: number) => boolean = () => true): { bytes: Uint8Array; values: Float32Array } {
  if (values.length !== rows * D) throw new RangeError(`kvQ8FromValues: ${values.length} values for ${rows} rows of D = ${D}`);
  const bytes = new Uint8Array(kvCacheBytes('q8_0', rows, D)); // throws for D % 32
  const scales = new DataView(bytes.buffer, rows * D);
  const spr = kvQ8ScalesPerRow(D);
  const blocks = D / 32;
  const out = new Float32Array(rows * D);
  const row = new Float32Array(D);
  for (let r = 0; r < rows; r++) {
    if (!validRow(r)) {
      for (let b = 0; b < blocks; b++) scales.setUint16(2 * (r * spr + b), F16_NAN, true);
      out.fill(NaN, r * D, (r + 1) * D);
      continue;
    }
    for (let i = 0; i < D; i++) row[i] = values[r * D + i];
    const q = quantize('q8_0', row); // blocks of [f16 d][32 x int8]
    for (let b = 0; b < blocks; b++) {
      const blk = q.subarray(34 * b, 34 * (b + 1));
      const dBits = blk[0] | (blk[1] << 8);
      scales.setUint16(2 * (r * spr + b), dBits, true);
      const d = f16BitsToF32(dBits);
      for (let i = 0; i < 32; i++) {
        const qi = (blk[2 + i] << 24) >> 24;
        bytes[r * D + 32 * b + i] = blk[2 + i];
        out[r * D + 32 * b + i] = qi * d;
      }
    }
  }
  return { bytes, values: out };
}

/**
 * The values of a q8_0 cache of rows x D (f32, row-major; q * d per element).
 * @throws RangeError when D is not a multiple of 32 or the buffer is shorter than kvCacheBytes('q8_0', rows, D).
 */
export function kvQ8Dequantize(bytes: Uint8Array, rows: number, D: number): Float32Array {
  const need = kvCacheBytes('q8_0', rows, D);
  if (bytes.byteLength < need) throw new RangeError(`kvQ8Dequantize: ${bytes.byteLength} bytes; ${rows} rows of D = ${D} need ${need}`);
  const scales = new DataView(bytes.buffer, bytes.byteOffset + rows * D);
  const spr = kvQ8ScalesPerRow(D);
  const out = new Float32Array(rows * D);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < D / 32; b++) {
      const d = f16BitsToF32(scales.getUint16(2 * (r * spr + b), true));
      for (let i = 0; i < 32; i++) {
        const e = r * D + 32 * b + i;
        out[e] = ((bytes[e] << 24) >> 24) * d;
      }
    }
  }
  return out;
}
