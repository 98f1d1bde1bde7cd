/**
 * Host side of the quantized K/V cache layout (generator/ops.ts kvCacheBytes): the quants of every row from byte 0
 * (kvQuantRowBytes per row), then f16 scales [rows][kvScalesPerRow(D)]; each 32-value block quantized exactly as
 * ggml's q8_0 / q4_0 (./quantize.ts, which follows quantize_row_q8_0_ref / quantize_row_q4_0_ref), d stored as f16.
 * Used to feed attention kernels valid caches (tuner/problems.ts) and to read back caches the kernels wrote
 * (rope_kv tests).
 */
import { type KvQuantType, QUANT_BLOCKS, kvCacheBytes, kvQuantRowBytes, kvScalesPerRow } from '../../generator/ops';
import { dequantize } from './quant';
import { quantize } from './quantize';

/** f16 quiet NaN: the scale of rows the op contract says are never read, so reading one poisons the output. */
const F16_NAN = 0x7e00;

/**
 * Quantize rows x D values (row-major) into a `type` cache.
 * @param validRow rows for which it returns false (never read by the kernels) get NaN scales and NaN values
 *   instead of being quantized (their contents may be non-finite).
 * @returns the cache bytes (kvCacheBytes(type, rows, D)) and the values they dequantize to (f32, rows x D).
 * @throws RangeError when D is not a multiple of 32 or values is not rows * D long; Error for a non-finite
 *   value in a valid row (quantize).
 */
export function kvQuantize(type: KvQuantType, values: ArrayLike<number>, rows: number, D: number, validRow: (r: number) => boolean = () => true): { bytes: Uint8Array; values: Float32Array } {
  if (values.length !== rows * D) throw new RangeError(`kvQuantize: ${values.length} values for ${rows} rows of D = ${D}`);
  const bytes = new Uint8Array(kvCacheBytes(type, rows, D)); // throws for D % 32
  const rowBytes = kvQuantRowBytes(type, D);
  const blockQuant = rowBytes / (D / 32); // quant bytes per block: 32 (q8_0) or 16 (q4_0)
  const blockBytes = QUANT_BLOCKS[type].bytes; // ggml block: f16 d, then the quants
  const scales = new DataView(bytes.buffer, rows * rowBytes);
  const spr = kvScalesPerRow(D);
  const out = new Float32Array(rows * D);
  const row = new Float32Array(D);
  for (let r = 0; r < rows; r++) {
    if (!validRow(r)) {
      for (let b = 0; b < D / 32; b++) scales.setUint16(2 * (r * spr + b), F16_NAN, true);
      out.fill(NaN, r * D, (r + 1) * D);
      continue;
    }
    for (let i = 0; i < D; i++) row[i] = values[r * D + i];
    const blocks = quantize(type, row);
    for (let b = 0; b < D / 32; b++) {
      const blk = blocks.subarray(blockBytes * b, blockBytes * (b + 1));
      scales.setUint16(2 * (r * spr + b), blk[0] | (blk[1] << 8), true);
      bytes.set(blk.subarray(2), r * rowBytes + b * blockQuant);
    }
    out.set(dequantize(type, blocks, D), r * D);
  }
  return { bytes, values: out };
}

/**
 * The values of a `type` cache of rows x D (f32, row-major).
 * @throws RangeError when D is not a multiple of 32 or the buffer is shorter than kvCacheBytes(type, rows, D).
 */
export function kvDequantize(type: KvQuantType, bytes: Uint8Array, rows: number, D: number): Float32Array {
  const need = kvCacheBytes(type, rows, D);
  if (bytes.byteLength < need) throw new RangeError(`kvDequantize: ${bytes.byteLength} bytes; ${rows} rows of D = ${D} in ${type} need ${need}`);
  const rowBytes = kvQuantRowBytes(type, D);
  const blockQuant = rowBytes / (D / 32);
  const blockBytes = QUANT_BLOCKS[type].bytes;
  const scales = new DataView(bytes.buffer, bytes.byteOffset + rows * rowBytes);
  const spr = kvScalesPerRow(D);
  const out = new Float32Array(rows * D);
  const blocks = new Uint8Array((D / 32) * blockBytes); // one row as ggml blocks: f16 d, then the quants
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < D / 32; b++) {
      const d = scales.getUint16(2 * (r * spr + b), true);
      blocks[b * blockBytes] = d & 0xff;
      blocks[b * blockBytes + 1] = d >> 8;
      blocks.set(bytes.subarray(r * rowBytes + b * blockQuant, r * rowBytes + (b + 1) * blockQuant), b * blockBytes + 2);
    }
    out.set(dequantize(type, blocks, D), r * D);
  }
  return out;
}
